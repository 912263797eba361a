package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGatherDot16 holds GatherDot16 (the kernel where there is one) to
// the Go loop's bits, at lengths around its 4- and 16-element steps and
// with indexes up to the last of raw.
func TestGatherDot16(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, dim := range []int{1, 7, 2048, 3000, 1 << 16} {
		raw := make([]float32, dim)
		for i := range raw {
			raw[i] = float32(r.NormFloat64())
		}
		for n := 0; n <= 70; n++ {
			idx, val := make([]uint16, n), make([]float32, n)
			for k := range idx {
				idx[k], val[k] = uint16(r.IntN(dim)), float32(r.NormFloat64()*0.05)
			}
			if n > 0 {
				idx[r.IntN(n)] = uint16(dim - 1) // the largest index allowed
			}
			want := GatherDot(raw, idx, val)
			if got := GatherDot16(raw, idx, val); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("dim %d n %d: %v, Go loop %v", dim, n, got, want)
			}
			if got, ok := gatherDot16(raw, idx, val); ok && math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("dim %d n %d: kernel %v, Go loop %v", dim, n, got, want)
			}
		}
	}
}

// TestGatherDot16Bounds: an index out of raw panics (the kernel declines
// without reading raw; the Go loop reports it), one at its end does not.
func TestGatherDot16Bounds(t *testing.T) {
	tests := []struct {
		name   string
		rawLen int
		n      int
		top    uint16 // the one index at or near the end, at position n/2
		panics bool
	}{
		{"last index, short", 100, 3, 99, false},
		{"last index, long", 100, 40, 99, false},
		{"one past, short", 100, 3, 100, true},
		{"one past, long", 100, 40, 100, true},
		{"far past, in the 16-wide part", 100, 33, 65535, true},
		{"far past, in the tail", 100, 35, 65535, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, idx, val := make([]float32, tc.rawLen), make([]uint16, tc.n), make([]float32, tc.n)
			for k := range idx {
				idx[k], val[k] = uint16(k%tc.rawLen), 1
			}
			if tc.name == "far past, in the tail" {
				idx[tc.n-1] = tc.top
			} else {
				idx[tc.n/2] = tc.top
			}
			if _, ok := gatherDot16(raw, idx, val); ok && tc.panics {
				t.Fatal("the kernel summed with an index out of raw")
			}
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				GatherDot16(raw, idx, val)
				return false
			}()
			if panicked != tc.panics {
				t.Fatalf("panicked %v, want %v", panicked, tc.panics)
			}
		})
	}
}
