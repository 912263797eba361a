package tensor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// adviseHuge and collapseHuge are advice only: an error (no transparent
// huge pages, an old kernel) leaves small pages, which are correct.
func adviseHuge(b []byte)   { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
func collapseHuge(b []byte) { _ = unix.Madvise(b, unix.MADV_COLLAPSE) }
