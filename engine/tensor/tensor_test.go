package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// maxRelRMSE is the largest quantization error allowed, relative to the
// RMS of normally distributed input.
var maxRelRMSE = map[Type]float64{
	F32:  0,
	F16:  1e-3,
	BF16: 5e-3,
	Q8_0: 0.01,
	Q4_0: 0.10,
	Q4_1: 0.10,
	Q5_0: 0.055,
	Q5_1: 0.05,
	Q4_K: 0.095,
	Q5_K: 0.045,
	Q6_K: 0.025,
}

func TestQuantizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, typ := range SupportedTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			src := randVec(r, 4096)
			// Mix scales across blocks, and include an all-zero block.
			for i := range src {
				src[i] *= float32(1 + i/256)
			}
			clear(src[512:768])
			q, err := Quantize(typ, src)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := RowBytes(typ, len(src)); len(q) != want {
				t.Fatalf("Quantize gave %d bytes, want %d", len(q), want)
			}
			got := make([]float32, len(src))
			if err := Dequantize(typ, q, got); err != nil {
				t.Fatal(err)
			}
			// Error relative to the RMS of each 256-element stretch, since
			// the scale changes across the vector.
			for b := 0; b < len(src); b += 256 {
				var se, ss float64
				for i := b; i < b+256; i++ {
					d := float64(got[i] - src[i])
					se += d * d
					ss += float64(src[i]) * float64(src[i])
				}
				if ss == 0 {
					if se != 0 {
						t.Fatalf("zero block %d decoded with error %g", b/256, se)
					}
					continue
				}
				if rel := math.Sqrt(se / ss); rel > maxRelRMSE[typ] {
					t.Errorf("elements %d..%d: relative RMSE %.4g > %.4g", b, b+256, rel, maxRelRMSE[typ])
				}
			}
		})
	}
}

func TestQuantizeBadLength(t *testing.T) {
	for _, typ := range SupportedTypes() {
		if typ.BlockSize() == 1 {
			continue
		}
		if _, err := Quantize(typ, make([]float32, typ.BlockSize()+1)); err == nil {
			t.Errorf("%v: Quantize of a partial block succeeded", typ)
		}
		if err := Dequantize(typ, make([]byte, typ.BlockBytes()), make([]float32, 2*typ.BlockSize())); err == nil {
			t.Errorf("%v: Dequantize with too few bytes succeeded", typ)
		}
	}
	if _, err := RowBytes(Type(99), 32); err == nil {
		t.Error("RowBytes of an unknown type succeeded")
	}
}

func TestDotMatchesDequantize(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range SupportedTypes() {
		for _, n := range []int{256, 512, 4096} {
			t.Run(fmt.Sprintf("%v/%d", typ, n), func(t *testing.T) {
				q, err := Quantize(typ, randVec(r, n))
				if err != nil {
					t.Fatal(err)
				}
				x := randVec(r, n)
				w := make([]float32, n)
				if err := Dequantize(typ, q, w); err != nil {
					t.Fatal(err)
				}
				want := dot64(w, x)
				got := Dot(typ, q, x)
				// float32 accumulation over n terms of size ~|w||x|.
				tol := 1e-5 * math.Sqrt(float64(n)) * math.Sqrt(dot64(w, w)*dot64(x, x)/float64(n)) * 4
				if d := math.Abs(float64(got) - want); d > tol+1e-6 {
					t.Errorf("Dot = %g, dequantized dot = %g (diff %g > %g)", got, want, d, tol)
				}
			})
		}
	}
}

func naiveMatVec(t *testing.T, m *Matrix, x []float32) []float64 {
	t.Helper()
	w := make([]float32, m.Cols)
	out := make([]float64, m.Rows)
	for r := range m.Rows {
		if err := m.RowF32(r, w); err != nil {
			t.Fatal(err)
		}
		out[r] = dot64(w, x)
	}
	return out
}

func TestMatVecMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	shapes := []struct{ rows, cols int }{{1, 256}, {37, 512}, {130, 256}, {64, 768}}
	for _, threads := range []int{1, 2} {
		pool := NewPool(threads)
		defer pool.Close()
		for _, typ := range SupportedTypes() {
			for _, sh := range shapes {
				t.Run(fmt.Sprintf("%v/%dx%d/threads=%d", typ, sh.rows, sh.cols, threads), func(t *testing.T) {
					data, err := Quantize(typ, randVec(r, sh.rows*sh.cols))
					if err != nil {
						t.Fatal(err)
					}
					m, err := NewMatrix(typ, sh.rows, sh.cols, data)
					if err != nil {
						t.Fatal(err)
					}
					const n = 5
					x := randVec(r, n*sh.cols)
					tol := 1e-4 * math.Sqrt(float64(sh.cols))
					check := func(what string, got []float32, want []float64) {
						t.Helper()
						for i := range want {
							if d := math.Abs(float64(got[i]) - want[i]); d > tol*(1+math.Abs(want[i])/10) {
								t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
							}
						}
					}
					dst := make([]float32, sh.rows)
					m.MatVec(pool, dst, x[:sh.cols])
					check("MatVec", dst, naiveMatVec(t, m, x[:sh.cols]))

					dstN := make([]float32, n*sh.rows)
					m.MatMul(pool, dstN, x, n)
					for j := range n {
						check(fmt.Sprintf("MatMul vector %d", j), dstN[j*sh.rows:(j+1)*sh.rows], naiveMatVec(t, m, x[j*sh.cols:(j+1)*sh.cols]))
					}
				})
			}
		}
	}
}

func TestNewMatrixValidates(t *testing.T) {
	if _, err := NewMatrix(Q8_0, 2, 64, make([]byte, 2*2*34-1)); err == nil {
		t.Error("short data accepted")
	}
	if _, err := NewMatrix(Q8_0, 2, 60, make([]byte, 1000)); err == nil {
		t.Error("cols not a multiple of the block size accepted")
	}
	if _, err := NewMatrix(Q8_0, 2, 64, make([]byte, 2*2*34)); err != nil {
		t.Error(err)
	}
}

func TestTypeTable(t *testing.T) {
	for _, typ := range SupportedTypes() {
		if !typ.Valid() || !typ.Known() {
			t.Errorf("%v: Valid %v Known %v", typ, typ.Valid(), typ.Known())
		}
		if got, err := ParseType(typ.String()); err != nil || got != typ {
			t.Errorf("ParseType(%q) = %v, %v", typ.String(), got, err)
		}
	}
	q3k := Type(11)
	if q3k.String() != "Q3_K" || !q3k.Known() || q3k.Valid() {
		t.Errorf("Q3_K: String %q Known %v Valid %v", q3k, q3k.Known(), q3k.Valid())
	}
	if n, err := RowBytes(q3k, 512); err != nil || n != 2*110 {
		t.Errorf("RowBytes(Q3_K, 512) = %d, %v", n, err)
	}
	if _, err := Quantize(q3k, make([]float32, 256)); err == nil {
		t.Error("Quantize to Q3_K succeeded")
	}
	if _, err := NewMatrix(q3k, 1, 256, make([]byte, 110)); err == nil {
		t.Error("NewMatrix of Q3_K succeeded")
	}
	if Type(99).Known() || Type(4).Known() || Type(99).String() != "Type(99)" {
		t.Error("type 99 or 4 (removed Q4_2) known")
	}
}

func TestAxpy(t *testing.T) {
	for _, n := range []int{0, 1, 8, 13, 40, 100} {
		y, x := make([]float32, n), make([]float32, n+3)
		for i := range x {
			x[i] = float32(i) - 5
		}
		for i := range y {
			y[i] = float32(2 * i)
		}
		Axpy(y, 0.5, x)
		for i, v := range y {
			if want := float32(2*i) + 0.5*(float32(i)-5); v != want {
				t.Fatalf("n=%d: y[%d] = %g, want %g", n, i, v, want)
			}
		}
	}
}

// TestDotSums checks that the kernels given the block sums of x agree with
// Dot, for every type and for lengths of one and several blocks.
func TestDotSums(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, typ := range SupportedTypes() {
		for _, n := range []int{256, 768, 4096} {
			x := randVec(r, n)
			row, err := Quantize(typ, randVec(r, n))
			if err != nil {
				t.Fatal(err)
			}
			sums := make([]float32, SumsLen(typ, n))
			BlockSums(sums, x)
			got, want := DotSums(typ, row, x, sums), Dot(typ, row, x)
			if d := math.Abs(float64(got - want)); d > 1e-5*math.Sqrt(float64(n))*(1+math.Abs(float64(want))) {
				t.Errorf("%v n=%d: DotSums %g, Dot %g", typ, n, got, want)
			}
			// The same row three times: DotRows over the middle one.
			m, err := NewMatrix(typ, 3, n, append(append(append([]byte(nil), row...), row...), row...))
			if err != nil {
				t.Fatal(err)
			}
			dst := []float32{-1, -1, -1}
			m.DotRows(dst, x, sums, 1, 2)
			if dst[0] != -1 || dst[1] != got || dst[2] != -1 {
				t.Errorf("%v n=%d: DotRows over row 1 gave %v, want [-1 %g -1]", typ, n, dst, got)
			}
		}
	}
}
