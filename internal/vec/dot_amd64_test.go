//go:build amd64 && !purego

package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDotAVX2MatchesGeneric holds the pure Go inner product (the purego
// build's, every non-amd64 machine's) to the assembly's bits, at lengths
// around the 32- and 8-element steps, one by one and batched.
func TestDotAVX2MatchesGeneric(t *testing.T) {
	if !useAVX2 {
		t.Skip("CPU lacks AVX2/FMA: the assembly is not used here")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for n := 8; n <= 300; n++ {
		a, b := make([]float32, n), make([]float32, n)
		for trial := range 4 {
			for i := range a {
				a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64()*math.Ldexp(1, trial*4-6))
			}
			want := dotGeneric(a, b)
			if got := dotAVX2(&a[0], &b[0], n); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("n=%d trial %d: assembly %v, Go %v", n, trial, got, want)
			}
			var out [1]float32
			dotBatchAVX2(&a[0], []*float32{&b[0]}, n, &out[0])
			if math.Float32bits(out[0]) != math.Float32bits(want) {
				t.Fatalf("n=%d trial %d: batch assembly %v, Go %v", n, trial, out[0], want)
			}
		}
	}
}
