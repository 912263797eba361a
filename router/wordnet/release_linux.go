package wordnet

import (
	"os"
	"syscall"
	"unsafe"
)

// release drops from the process's resident memory the pages of s, data
// embedded in the binary's read-only segment and read once: a later read
// would fault them back in from the binary. Only pages wholly inside s
// are dropped.
func release(s string) {
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	first, end := (start+page-1)&^(page-1), (start+uintptr(len(s)))&^(page-1)
	if end <= first {
		return
	}
	_ = syscall.Madvise(b[first-start:end-start], syscall.MADV_DONTNEED)
}
