package policies

import (
	"math"
	"strings"
	"testing"
)

// Items round-trip densely or sparsely, and a damaged or foreign item is a
// miss, never a panic: replicas share the lists.
func TestVecItem(t *testing.T) {
	sparse := make([]float32, 2048)
	sparse[3], sparse[700], sparse[2047] = 0.6, -0.48, 0.64
	dense := make([]float32, 16)
	for i := range dense {
		dense[i] = 0.25
	}
	for _, tt := range []struct {
		name     string
		v        []float32
		wantKind byte
		maxBytes int
	}{
		{"sparse", sparse, 's', 64},
		{"dense", dense, 'd', 90},
	} {
		item := encodeVecItem("exact-key", NewVector(tt.v).unit())
		if len(item) > tt.maxBytes || item[1+len("exact-key")] != tt.wantKind {
			t.Errorf("%s: %d bytes of kind %q, want at most %d of kind %q", tt.name, len(item), item[1+len("exact-key")], tt.maxBytes, tt.wantKind)
		}
		exact, sim, ok := vecItemDot(string(item), tt.v)
		if !ok || exact != "exact-key" || math.Abs(sim-1) > 1e-6 {
			t.Errorf("%s: dot with itself = %q %g %v, want exact-key 1 true", tt.name, exact, sim, ok)
		}
		if _, _, ok := vecItemDot(string(item), tt.v[:len(tt.v)-1]); ok {
			t.Errorf("%s: read against another dimension", tt.name)
		}
		for n := range len(item) {
			vecItemDot(string(item[:n]), tt.v) // must not panic
		}
	}
	for _, bad := range []string{"", "\x05ab", "\x02abx", "\x01as\x04" + strings.Repeat("\xff", 8), "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "\x01ad\x00"} {
		if _, _, ok := vecItemDot(bad, sparse[:4]); ok {
			t.Errorf("malformed item %q read as valid", bad)
		}
	}
}

func FuzzVecItemDot(f *testing.F) {
	f.Add(string(encodeVecItem("k", NewVector([]float32{0, 1, 0, 0}).unit())), 4)
	f.Add(string(encodeVecItem("k", NewVector([]float32{0.5, 0.5, 0.5, 0.5}).unit())), 4)
	f.Fuzz(func(t *testing.T, item string, dim int) {
		if dim < 0 || dim > 64 {
			return
		}
		vecItemDot(item, make([]float32, dim))
	})
}
