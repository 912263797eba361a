//go:build !unix

package offheap

// mapFrozen has no memory outside the heap to give here.
func mapFrozen([]byte) ([]byte, bool) { return nil, false }
