package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestExpf(t *testing.T) {
	var worst float64
	for x := float32(-87); x <= 88.5; x += 0.000731 {
		want := math.Exp(float64(x))
		got := float64(Expf(x))
		rel := math.Abs(got-want) / want
		worst = max(worst, rel)
		if rel > 3e-7 {
			t.Fatalf("Expf(%g) = %g, want %g (rel err %.3g)", x, got, want, rel)
		}
	}
	t.Logf("worst relative error %.3g", worst)
	for _, tc := range []struct{ x, want float32 }{
		{0, 1}, {-100, 0}, {100, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0},
	} {
		if got := Expf(tc.x); got != tc.want {
			t.Errorf("Expf(%g) = %g, want %g", tc.x, got, tc.want)
		}
	}
	if nan := float32(math.NaN()); Expf(nan) == Expf(nan) {
		t.Error("Expf(NaN) is not NaN")
	}
}

func BenchmarkExpf(b *testing.B) {
	var s float32
	for i := 0; b.Loop(); i++ {
		s += Expf(float32(i%64) * -0.25)
	}
	_ = s
}

func BenchmarkMathExp(b *testing.B) {
	var s float32
	for i := 0; b.Loop(); i++ {
		s += float32(math.Exp(float64(float32(i%64) * -0.25)))
	}
	_ = s
}

// TestSwiGLU checks SwiGLU (eight at a time with AVX2 where the CPU has
// it) against the scalar loop bit for bit: random values over the range
// where the exponential saturates and beyond, values at the ends of the
// kernel's range (-87 and 88 for e^-g, where 2^n stops being normal
// just beyond), zeros, infinities and NaNs mixed into the eights (which
// then take the scalar loop), and lengths with a tail after the eights.
func TestSwiGLU(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	special := []float32{0, float32(math.Copysign(0, -1)), 87, -88, 87.0001, -88.0001, 87.5, -88.5, -88.9, 100, -100,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -1e-30}
	// Hand-built: each special value across a whole eight, and next to
	// ordinary values; the ends of the kernel's range and just beyond.
	edges := append(special, -87.99, -88.01, -88.3, -88.72, 86.99, 87.01, 87.33, 87.34)
	for _, v := range edges {
		for _, g := range [][]float32{{v, v, v, v, v, v, v, v}, {v, 1, -1, 2, 0.5, -3, 4, 10, v}} {
			checkSwiGLU(t, fmt.Sprintf("hand-built %v", g), g, nil)
		}
	}
	for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 64, 1000} {
		for trial := range 20 {
			g, u := make([]float32, n), make([]float32, n)
			for i := range g {
				switch {
				case trial%4 == 3 && r.IntN(16) == 0:
					g[i] = special[r.IntN(len(special))]
				case trial%4 == 2:
					g[i] = float32(r.Float64()*200 - 100) // beyond the range, some eights
				default:
					g[i] = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(8)-2))
				}
				u[i] = float32(r.NormFloat64())
			}
			checkSwiGLU(t, fmt.Sprintf("n=%d trial %d", n, trial), g, u)
		}
	}
}

// checkSwiGLU runs SwiGLU and the scalar loop on g and u (u of ones if
// nil) and fails on any difference in the bits (any NaN equals any NaN).
func checkSwiGLU(t *testing.T, name string, g, u []float32) {
	t.Helper()
	if u == nil {
		u = make([]float32, len(g))
		for i := range u {
			u[i] = 1
		}
	}
	want := append([]float32(nil), g...)
	swigluGo(want, u)
	got := append([]float32(nil), g...)
	SwiGLU(got, u)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("%s: element %d (g %v): %v, want %v", name, i, g[i], got[i], want[i])
		}
	}
}

// BenchmarkSwiGLU is the gated activation of a 1024-wide expert, one
// token.
func BenchmarkSwiGLU(b *testing.B) {
	r := rand.New(rand.NewPCG(53, 54))
	g, u := randVec(r, 1024), randVec(r, 1024)
	x := append([]float32(nil), g...)
	for b.Loop() {
		copy(g, x)
		SwiGLU(g, u)
	}
}
