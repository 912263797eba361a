//go:build amd64 && !purego

package vec

import (
	"math"
	"testing"
)

// TestGatherDot16Kernel: with AVX2 the kernel sums every input within
// raw's bounds (TestGatherDot16 then holds it to the Go loop's bits).
func TestGatherDot16Kernel(t *testing.T) {
	if !useAVX2 {
		t.Skip("CPU lacks AVX2/FMA: the assembly is not used here")
	}
	raw := []float32{1, 2, 3, 4, 5}
	for n := 1; n <= 40; n++ {
		idx, val := make([]uint16, n), make([]float32, n)
		for k := range idx {
			idx[k], val[k] = uint16(k%len(raw)), 0.5
		}
		got, ok := gatherDot16(raw, idx, val)
		if want := GatherDot(raw, idx, val); !ok || math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("n %d: kernel %v (ok %v), Go loop %v", n, got, ok, want)
		}
	}
}
