package gguf

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PageOut unmaps from the process the pages wholly inside b, a slice of
// the file's mapping (MADV_DONTNEED; the file's read-only shared mapping
// keeps its contents, and the page cache keeps the pages): a caller that
// copied them elsewhere (a repacked matrix) keeps its resident memory at
// one copy. Reading b again faults the pages back in, so it stays valid.
// It does nothing when b is not inside the mapping.
func (f *File) PageOut(b []byte) {
	if len(b) == 0 || len(f.data) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if start < base || start+uintptr(len(b)) > base+uintptr(len(f.data)) {
		return
	}
	page := uintptr(os.Getpagesize())
	lo := (start - base + page - 1) &^ (page - 1)
	hi := (start - base + uintptr(len(b))) &^ (page - 1)
	if lo >= hi {
		return
	}
	// Advice only: an error leaves the pages resident, which is correct.
	_ = unix.Madvise(f.data[lo:hi], unix.MADV_DONTNEED)
}
