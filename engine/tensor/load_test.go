package tensor

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestLoadXor(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{0, 128, 256, 128 * 37} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		if got, want := loadXor(p), loadXorGo(p); got != want {
			t.Errorf("n=%d: loadXor %#x, loadXorGo %#x", n, got, want)
		}
	}
}

// BenchmarkMemoryBandwidth reads a 1 GiB buffer, far larger than any CPU
// cache, with 1 thread and with 2 each taking a contiguous half: the bytes/s it
// reports is the bound on how fast weights can be streamed from memory
// while decoding a model that does not fit in the caches.
func BenchmarkMemoryBandwidth(b *testing.B) {
	const size = 1 << 30
	buf := make([]byte, size)
	// Distinct non-zero pages: untouched pages would all map to the one
	// shared zero page and be read from cache.
	for i := 0; i < size; i += 4096 {
		buf[i] = byte(i>>12) | 1
	}
	// One thread reads on the benchmark's own goroutine, so that its rate
	// can also be given per second of the thread's CPU time (cpu-MB/s),
	// which a busy machine deflates less than the wall-clock MB/s.
	b.Run("threads=1", func(b *testing.B) {
		b.SetBytes(size)
		var sink uint64
		defer cpuRate(b, size)()
		for b.Loop() {
			sink ^= loadXor(buf)
		}
		_ = sink
	})
	for _, threads := range []int{2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			b.SetBytes(size)
			var sink uint64
			var mu sync.Mutex
			for b.Loop() {
				var wg sync.WaitGroup
				part := size / threads
				for i := range threads {
					wg.Go(func() {
						v := loadXor(buf[i*part : (i+1)*part])
						mu.Lock()
						sink ^= v
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			_ = sink
		})
	}
}
