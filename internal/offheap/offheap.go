// Package offheap copies data that never changes and holds no pointers
// into memory outside the Go heap, kept for the life of the process.
//
// The garbage collector lets the heap grow to twice what is live before it
// collects (GOGC=100), so a table that stays for good costs twice its size
// in resident memory on the heap, and once here: the collector neither
// scans memory it did not allocate nor counts it toward its goal.
package offheap

import "unsafe"

// Plain is the element types Clone copies: numbers, which hold no
// pointers the collector would have to see.
type Plain interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Clone returns a read-only copy of s outside the Go heap, never freed:
// for data built once per process. Writing to the copy faults. Where the
// system gives no such memory, the copy is an ordinary clone.
func Clone[T Plain](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	size := len(s) * int(unsafe.Sizeof(s[0]))
	b, ok := mapFrozen(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), size))
	if !ok {
		return append([]T(nil), s...)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(s))
}

// CloneString is Clone for a string.
func CloneString(s string) string {
	if s == "" {
		return ""
	}
	b, ok := mapFrozen(unsafe.Slice(unsafe.StringData(s), len(s)))
	if !ok {
		return string([]byte(s))
	}
	return unsafe.String(&b[0], len(b))
}
