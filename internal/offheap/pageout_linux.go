package offheap

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PageOut drops from the process's resident memory the pages wholly
// inside b, which must be file-backed memory that is never written (a
// read-only file mapping, data embedded in the binary): the page cache
// keeps them, and reading b again faults them back in, so b stays valid.
// It is advice only: an error leaves the pages resident, which is correct.
func PageOut(b []byte) {
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	first, end := (start+page-1)&^(page-1), (start+uintptr(len(b)))&^(page-1)
	if len(b) == 0 || end <= first {
		return
	}
	_ = unix.Madvise(b[first-start:end-start], unix.MADV_DONTNEED)
}
