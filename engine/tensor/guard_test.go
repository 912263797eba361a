//go:build unix

package tensor

import (
	"math/rand/v2"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDotAtMappingEnd puts each row flush against an inaccessible page, as
// the last tensor of a memory-mapped file can be, so a kernel that reads
// past its row faults instead of passing.
func TestDotAtMappingEnd(t *testing.T) {
	page := os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 4*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer unix.Munmap(mem)
	if err := unix.Mprotect(mem[3*page:], unix.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	usable := mem[:3*page]
	r := rand.New(rand.NewPCG(15, 16))
	for _, typ := range SupportedTypes() {
		for _, n := range []int{256, 512} {
			row, err := Quantize(typ, randVec(r, n))
			if err != nil {
				t.Fatal(err)
			}
			if len(row) > len(usable) {
				t.Fatalf("%v row of %d bytes does not fit", typ, len(row))
			}
			at := usable[len(usable)-len(row):]
			copy(at, row)
			x := randVec(r, n)
			if got, want := Dot(typ, at, x), Dot(typ, row, x); got != want {
				t.Errorf("%v: Dot at the mapping end %g, elsewhere %g", typ, got, want)
			}
			w := make([]float32, n)
			if err := Dequantize(typ, at, w); err != nil {
				t.Fatal(err)
			}
		}
	}
}
