package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddScaledRows holds AddScaledRows (the assembly where the CPU has
// it) to the scalar loop it stands for, bit for bit, for row widths
// around the 8- and 16-column blocks, and checks that it leaves acc past
// the columns alone.
func TestAddScaledRows(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 2, 7, 8, 9, 11, 15, 16, 17, 31, 33, 151} {
		const nrows = 50
		w := make([]float32, nrows*n)
		for i := range w {
			w[i] = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(20)-10))
		}
		for _, m := range []int{0, 1, 3, 40, 300} {
			rows, vals := make([]int32, m), make([]float32, m)
			for k := range rows {
				rows[k], vals[k] = int32(r.IntN(nrows)), float32(r.NormFloat64())
			}
			want := make([]float32, n+1)
			got := make([]float32, n+1)
			for c := range want {
				want[c] = float32(r.NormFloat64())
				got[c] = want[c]
			}
			for k, row := range rows {
				for c := range n {
					want[c] = want[c] + float32(w[int(row)*n+c]*vals[k])
				}
			}
			AddScaledRows(got[:n], w, rows, vals)
			for c := range got {
				if math.Float32bits(got[c]) != math.Float32bits(want[c]) {
					t.Fatalf("n=%d m=%d: column %d is %v, want %v", n, m, c, got[c], want[c])
				}
			}
		}
	}
}

func TestAddScaledRowsBounds(t *testing.T) {
	for _, rows := range [][]int32{{2}, {0, 1, 2}, {-1}, {1, -1}, {math.MaxInt32}, {math.MinInt32}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("rows %v of a 2-row matrix did not panic", rows)
				}
			}()
			AddScaledRows(make([]float32, 4), make([]float32, 8), rows, make([]float32, len(rows)))
		}()
	}
}

func BenchmarkAddScaledRows(b *testing.B) {
	const n, nrows, m = 11, 4000, 300
	w := make([]float32, n*nrows)
	for i := range w {
		w[i] = float32(i%13) - 6
	}
	rows, vals := make([]int32, m), make([]float32, m)
	for k := range rows {
		rows[k], vals[k] = int32(k*13%nrows), float32(k)/m
	}
	acc := make([]float32, n)
	for b.Loop() {
		AddScaledRows(acc, w, rows, vals)
	}
}

// TestAddScaled holds AddScaled to the scalar loop, bit for bit, at
// lengths around its 8- and 16-element steps.
func TestAddScaled(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for n := range 70 {
		x, got, want := make([]float32, n), make([]float32, n+1), make([]float32, n+1)
		for i := range x {
			x[i] = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(20)-10))
		}
		for i := range got {
			got[i] = float32(r.NormFloat64())
			want[i] = got[i]
		}
		a := float32(r.NormFloat64())
		for i := range x {
			want[i] = want[i] + float32(x[i]*a)
		}
		AddScaled(got[:n], x, a)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: element %d is %v, want %v", n, i, got[i], want[i])
			}
		}
	}
}
