package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestLayerNorm checks LayerNorm against the formula in float64, and the
// kernel in use (assembly for multiples of 16 where the CPU has AVX-512)
// against layerNormGo bit for bit, in place and not.
func TestLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 7))
	for _, n := range []int{1, 20, 48, 384} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			x, w, b := randVec(r, n), randVec(r, n), randVec(r, n)
			for i := range x {
				x[i] = x[i]*3 + 5 // a mean far from 0
			}
			const eps = 1e-5
			got := make([]float32, n)
			LayerNorm(got, x, w, b, eps)
			var mean, v float64
			for _, f := range x {
				mean += float64(f)
			}
			mean /= float64(n)
			for _, f := range x {
				v += (float64(f) - mean) * (float64(f) - mean)
			}
			v /= float64(n)
			for i, f := range x {
				want := (float64(f)-mean)/math.Sqrt(v+eps)*float64(w[i]) + float64(b[i])
				if math.Abs(float64(got[i])-want) > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("element %d: %v, float64 %v", i, got[i], want)
				}
			}
			twin := make([]float32, n)
			layerNormGo(twin, x, w, b, eps)
			LayerNorm(x, x, w, b, eps) // in place
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(twin[i]) || math.Float32bits(x[i]) != math.Float32bits(twin[i]) {
					t.Fatalf("element %d: %v (in place %v), Go twin %v", i, got[i], x[i], twin[i])
				}
			}
		})
	}
}
