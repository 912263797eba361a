package model

import (
	"math"
	"testing"
)

func TestExpf(t *testing.T) {
	var worst float64
	for x := float32(-87); x <= 88.5; x += 0.000731 {
		want := math.Exp(float64(x))
		got := float64(expf(x))
		rel := math.Abs(got-want) / want
		worst = max(worst, rel)
		if rel > 3e-7 {
			t.Fatalf("expf(%g) = %g, want %g (rel err %.3g)", x, got, want, rel)
		}
	}
	t.Logf("worst relative error %.3g", worst)
	for _, tc := range []struct{ x, want float32 }{
		{0, 1}, {-100, 0}, {100, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0},
	} {
		if got := expf(tc.x); got != tc.want {
			t.Errorf("expf(%g) = %g, want %g", tc.x, got, tc.want)
		}
	}
	if nan := float32(math.NaN()); expf(nan) == expf(nan) {
		t.Error("expf(NaN) is not NaN")
	}
}

func BenchmarkExpf(b *testing.B) {
	var s float32
	for i := 0; b.Loop(); i++ {
		s += expf(float32(i%64) * -0.25)
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

// TestGELU checks gelu (and its tanh) against the float64 formula over the
// range activations take, and at the saturated ends.
func TestGELU(t *testing.T) {
	worst := 0.0
	for i := -200000; i <= 200000; i++ {
		x := float32(i) / 10000 // [-20, 20]
		xd := float64(x)
		want := 0.5 * xd * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(xd+0.044715*xd*xd*xd)))
		got := float64(gelu(x))
		err := math.Abs(got-want) / max(1, math.Abs(want))
		worst = max(worst, err)
		if err > 1e-6 {
			t.Fatalf("gelu(%g) = %g, want %g", x, got, want)
		}
		if d := math.Abs(float64(tanhf(x)) - math.Tanh(xd)); d > 1e-6 {
			t.Fatalf("tanhf(%g) = %g, want %g", x, tanhf(x), math.Tanh(xd))
		}
	}
	t.Logf("worst relative error %.3g", worst)
}

func BenchmarkGELU(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i-2048) / 512
	}
	y := make([]float32, len(x))
	for b.Loop() {
		copy(y, x)
		geluVec(y)
	}
}
