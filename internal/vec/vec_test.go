package vec

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 100, 384, 1000} {
		a, b := make([]float32, n), make([]float32, n)
		var want float64
		for i := range a {
			a[i], b[i] = r.Float32()*2-1, r.Float32()*2-1
			want += float64(a[i]) * float64(b[i])
		}
		for name, f := range map[string]func(a, b []float32) float32{"Dot": Dot, "generic": dotGeneric} {
			if got := f(a, b); math.Abs(float64(got)-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%s n=%d: got %v, want %v", name, n, got, want)
			}
		}
	}
}

func TestDotBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, dim := range []int{1, 8, 13, 384} {
		q := make([]float32, dim)
		for i := range q {
			q[i] = r.Float32()
		}
		for _, n := range []int{0, 1, 2, 3, 40} {
			vecs := make([][]float32, n)
			ptrs := make([]*float32, n)
			for i := range vecs {
				vecs[i] = make([]float32, dim)
				for j := range vecs[i] {
					vecs[i][j] = r.Float32()*2 - 1
				}
				ptrs[i] = &vecs[i][0]
			}
			out := make([]float32, n)
			DotBatch(q, ptrs, out)
			for i := range vecs {
				if want := dotGeneric(q, vecs[i]); math.Abs(float64(out[i]-want)) > 1e-4 {
					t.Errorf("dim %d, n %d: out[%d] = %v, want %v", dim, n, i, out[i], want)
				}
			}
		}
	}
}

func TestDotCommonLength(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	b := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}
	if got := Dot(a, b); got != 45 {
		t.Errorf("Dot over 9 common elements = %v, want 45", got)
	}
	if got := Dot(b, a); got != 45 {
		t.Errorf("Dot with the shorter first = %v, want 45", got)
	}
}

func TestNormalize(t *testing.T) {
	for _, tt := range []struct {
		in   []float32
		ok   bool
		want []float32
	}{
		{[]float32{3, 4}, true, []float32{0.6, 0.8}},
		{[]float32{0, 0, 0}, false, []float32{0, 0, 0}},
		{nil, false, nil},
		{[]float32{float32(math.Inf(1)), 1}, false, []float32{float32(math.Inf(1)), 1}},
		{[]float32{float32(math.NaN()), 1}, false, nil},
		{[]float32{1e-30, 0}, true, []float32{1, 0}},
	} {
		v := append([]float32(nil), tt.in...)
		if ok := Normalize(v); ok != tt.ok {
			t.Errorf("Normalize(%v) = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if tt.want == nil {
			continue
		}
		for i := range v {
			if math.Abs(float64(v[i]-tt.want[i])) > 1e-6 {
				t.Errorf("Normalize(%v) = %v, want %v", tt.in, v, tt.want)
				break
			}
		}
	}
}

func BenchmarkDot384(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float32, 384), make([]float32, 384)
	for i := range x {
		x[i], y[i] = r.Float32(), r.Float32()
	}
	var s float32
	for b.Loop() {
		s += Dot(x, y)
	}
	_ = s
}

func BenchmarkDotGeneric384(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float32, 384), make([]float32, 384)
	for i := range x {
		x[i], y[i] = r.Float32(), r.Float32()
	}
	var s float32
	for b.Loop() {
		s += dotGeneric(x, y)
	}
	_ = s
}

// SignedSums (the kernel and the generic code) equals adding x·(±1) one
// coordinate at a time, bit for bit.
func TestSignedSums(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const dim = 300
	masks := make([]uint32, dim)
	for i := range masks {
		masks[i] = r.Uint32()
	}
	for _, n := range []int{0, 1, 2, 7, 150, dim} {
		idx, val := make([]int32, n), make([]float32, n)
		for k := range idx {
			idx[k], val[k] = int32(r.IntN(dim)), r.Float32()*2-1
		}
		if n > 1 {
			val[1] = 0 // a zero flips to −0 like x·(−1)
		}
		var want, start [32]float32
		for b := range start {
			start[b] = r.Float32() - 0.5
		}
		want = start
		for k, i := range idx {
			for b := range want {
				sign := float32(1)
				if masks[i]>>b&1 != 0 {
					sign = -1
				}
				want[b] += val[k] * sign
			}
		}
		for name, f := range map[string]func(*[32]float32, []uint32, []int32, []float32){"SignedSums": SignedSums, "generic": signedSumsGeneric} {
			got := start
			f(&got, masks, idx, val)
			for b := range got {
				if math.Float32bits(got[b]) != math.Float32bits(want[b]) {
					t.Fatalf("%s n=%d plane %d: got %v, want %v", name, n, b, got[b], want[b])
				}
			}
		}
	}
}

// Normalize's vector kernels give the scalar code's result bit for bit:
// four float64 sums of squares, one per residue mod 4, then a float32
// scaling, at every length around the kernels' blocks.
func TestNormalizeExact(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for n := range 70 {
		for range 20 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(r.NormFloat64() * math.Exp(r.NormFloat64()*4))
			}
			want := append([]float32(nil), v...)
			var s [4]float64
			for i, x := range want { // the tail past the last 4 goes to the first sum
				j := i % 4
				if i >= len(want)&^3 {
					j = 0
				}
				s[j] += float64(x) * float64(x)
			}
			if sum := (s[0] + s[1]) + (s[2] + s[3]); sum != 0 {
				inv := float32(1 / math.Sqrt(sum))
				for i := range want {
					want[i] *= inv
				}
			}
			Normalize(v)
			for i := range v {
				if math.Float32bits(v[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d: coordinate %d is %v, want %v", n, i, v[i], want[i])
				}
			}
		}
	}
}

// SignedSums3 (the kernel and the generic code) equals SignedSums under
// each set of masks, bit for bit, and refuses an index beyond a set.
func TestSignedSums3(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const dim = 300
	var masks [3][]uint32
	for j := range masks {
		masks[j] = make([]uint32, dim)
		for i := range masks[j] {
			masks[j][i] = r.Uint32()
		}
	}
	for _, n := range []int{0, 1, 2, 7, 150, dim} {
		idx, val := make([]int32, n), make([]float32, n)
		for k := range idx {
			idx[k], val[k] = int32(r.IntN(dim)), r.Float32()*2-1
		}
		var start [3][32]float32
		for j := range start {
			for b := range start[j] {
				start[j][b] = r.Float32() - 0.5
			}
		}
		want := start
		for j := range want {
			SignedSums(&want[j], masks[j], idx, val)
		}
		for name, f := range map[string]func(*[3][32]float32, *[3][]uint32, []int32, []float32){"SignedSums3": SignedSums3, "generic": signedSums3Generic} {
			got := start
			f(&got, &masks, idx, val)
			for j := range got {
				for b := range got[j] {
					if math.Float32bits(got[j][b]) != math.Float32bits(want[j][b]) {
						t.Fatalf("%s n=%d set %d plane %d: got %v, want %v", name, n, j, b, got[j][b], want[j][b])
					}
				}
			}
		}
	}
	short := masks
	short[2] = short[2][:10]
	defer func() {
		if recover() == nil {
			t.Error("an index beyond the shortest set of masks did not panic")
		}
	}()
	var sums [3][32]float32
	SignedSums3(&sums, &short, []int32{3, 20}, []float32{1, 1})
}

// Scale gives v[i] *= a's bits at lengths around the kernel's 8-element
// step, with zeros of both signs, a subnormal and an infinity among them.
func TestScale(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	special := []float32{0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, float32(math.Inf(1))}
	for n := 0; n <= 40; n++ {
		for _, a := range []float32{0.37, -3, 1e-30} {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(r.NormFloat64())
				if r.IntN(5) == 0 {
					v[i] = special[r.IntN(len(special))]
				}
			}
			want := slices.Clone(v)
			for i := range want {
				want[i] *= a
			}
			Scale(v, a)
			for i := range v {
				if math.Float32bits(v[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d a=%v: v[%d] = %v, want %v", n, a, i, v[i], want[i])
				}
			}
		}
	}
}
