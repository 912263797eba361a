//go:build unix

package offheap

import "golang.org/x/sys/unix"

// mapFrozen copies b into a private anonymous mapping, made read-only.
// Mappings are page-aligned, so any element type is aligned in one.
func mapFrozen(b []byte) ([]byte, bool) {
	m, err := unix.Mmap(-1, 0, len(b), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, false
	}
	copy(m, b)
	if err := unix.Mprotect(m, unix.PROT_READ); err != nil {
		_ = unix.Munmap(m)
		return nil, false
	}
	return m, true
}
