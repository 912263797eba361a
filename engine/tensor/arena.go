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
	used  []byte // the current chunk's used part, from its start
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
		a.Finish()
		size := a.chunk
		if size == 0 {
			size = arenaChunk
		}
		size = max(size, (step+hugePage-1)&^(hugePage-1))
		buf := make([]byte, size+hugePage)
		off := (hugePage - int(addr(buf)%hugePage)) % hugePage
		chunk := buf[off : off+size : off+size]
		adviseHuge(chunk)
		a.free, a.used = chunk, chunk[:0]
	}
	b := a.free[:n:n]
	a.free = a.free[step:]
	a.used = a.used[:len(a.used)+step]
	return b
}

// Finish asks the kernel to move the written part of the current chunk
// to huge pages now (pages touched before the advice, e.g. zeroed by the
// Go runtime on reuse, would otherwise stay small until the kernel's
// background collapsing gets to them). Alloc calls it when it starts a
// new chunk; the owner calls it after the last Alloc.
func (a *Arena) Finish() {
	if a == nil || len(a.used) == 0 {
		return
	}
	collapseHuge(a.used[:min(cap(a.used), (len(a.used)+hugePage-1)&^(hugePage-1))])
	a.free, a.used = nil, nil
}
