package tensor

import (
	"math"
	"testing"
)

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

// TestGELUVector holds GELU (the assembly where the CPU has it, then the
// scalar tail) to gelu bit for bit, on lengths with and without a tail.
func TestGELUVector(t *testing.T) {
	for _, n := range []int{5, 16, 400001} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i-n/2) / float32(n) * 40 // [-20, 20]
		}
		y := append([]float32(nil), x...)
		GELU(y)
		for i, v := range x {
			if want := gelu(v); math.Float32bits(y[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: GELU(%g) = %g, gelu %g", n, v, y[i], want)
			}
		}
	}
}

func BenchmarkGELU(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i-2048) / 512
	}
	y := make([]float32, len(x))
	for b.Loop() {
		copy(y, x)
		GELU(y)
	}
}
