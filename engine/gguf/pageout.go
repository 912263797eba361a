package gguf

import (
	"unsafe"

	"github.com/moegate/moegate/internal/offheap"
)

// PageOut unmaps from the process the pages wholly inside b, a slice of
// the file's mapping (see offheap.PageOut; the file's read-only shared
// mapping keeps its contents, and the page cache keeps the pages): a
// caller that copied them elsewhere (a repacked matrix) keeps its
// resident memory at one copy. Reading b again faults the pages back in,
// so it stays valid. It does nothing when b is not inside the mapping.
func (f *File) PageOut(b []byte) {
	if len(b) == 0 || len(f.data) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if start < base || start+uintptr(len(b)) > base+uintptr(len(f.data)) {
		return
	}
	offheap.PageOut(b)
}
