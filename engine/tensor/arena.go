package tensor

// Arena allocates the long-lived buffers of a model's repacked weights
// (Matrix.PackIn) from large chunks that start on a huge-page boundary
// and that the kernel is asked to back with huge pages where it can
// (transparent huge pages in "madvise" or "always" mode; elsewhere they
// are plain memory). Decoding streams these buffers from memory once per
// token; on 4 KiB pages each page costs a TLB miss and restarts the
// hardware prefetcher, and one core read them 10-20% slower (Q8_0 packed
// kernel and a plain read loop over cold 8 MB slices, page sizes
// interleaved). The zero Arena is ready to use; a nil *Arena allocates
// each buffer with make. An Arena must not be used by two goroutines at
// once.
type Arena struct {
	free  []byte // the current chunk's unused part
	chunk int    // chunk size, 0: arenaChunk (tests take smaller ones)
}

const (
	hugePage   = 2 << 20
	arenaChunk = 64 << 20
)

// Alloc returns n zeroed bytes starting on a 64-byte boundary.
func (a *Arena) Alloc(n int) []byte {
	if a == nil {
		return make([]byte, n)
	}
	step := (n + 63) &^ 63
	if len(a.free) < step {
		size := a.chunk
		if size == 0 {
			size = arenaChunk
		}
		size = max(size, (step+hugePage-1)&^(hugePage-1))
		buf := make([]byte, size+hugePage)
		off := (hugePage - int(addr(buf)%hugePage)) % hugePage
		chunk := buf[off : off+size : off+size]
		// Before the first write: the pages are then faulted in huge.
		// Memory the Go runtime zeroed (touched) first stays in small
		// pages until the kernel's background collapsing gets to it;
		// collapsing it at once (MADV_COLLAPSE) cost a second of system
		// time per load even where every page was huge already.
		adviseHuge(chunk)
		a.free = chunk
	}
	b := a.free[:n:n]
	a.free = a.free[step:]
	return b
}
