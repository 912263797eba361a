//go:build unix

package offheap

import "syscall"

// mapFrozen copies b into a private anonymous mapping, made read-only.
// Mappings are page-aligned, so any element type is aligned in one.
func mapFrozen(b []byte) ([]byte, bool) {
	m, err := syscall.Mmap(-1, 0, len(b), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, false
	}
	copy(m, b)
	if err := syscall.Mprotect(m, syscall.PROT_READ); err != nil {
		_ = syscall.Munmap(m)
		return nil, false
	}
	return m, true
}
