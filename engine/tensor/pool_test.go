package tensor

import (
	"sync"
	"sync/atomic"
	"testing"
)

// forCovers runs p.For(n) and checks every index is visited exactly once.
func forCovers(t *testing.T, p *Pool, n int) {
	t.Helper()
	hits := make([]atomic.Int32, n)
	p.For(n, func(lo, hi int) {
		if lo < 0 || hi > n || lo >= hi {
			t.Errorf("For(%d) chunk [%d, %d)", n, lo, hi)
			return
		}
		for i := lo; i < hi; i++ {
			hits[i].Add(1)
		}
	})
	for i := range hits {
		if h := hits[i].Load(); h != 1 {
			t.Fatalf("For(%d): index %d visited %d times", n, i, h)
		}
	}
}

func TestPoolFor(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		p := NewPool(threads)
		if p.Threads() != threads {
			t.Errorf("Threads() = %d, want %d", p.Threads(), threads)
		}
		for _, n := range []int{0, 1, 2, 3, 7, 64, 1000} {
			forCovers(t, p, n)
		}
		p.Close()
		forCovers(t, p, 50) // runs on the caller after Close
		p.Close()           // idempotent
	}
	var nilPool *Pool
	forCovers(t, nilPool, 10)
	p0 := NewPool(0)
	defer p0.Close()
	if p0.Threads() < 1 {
		t.Error("NewPool(0) has no threads")
	}
}

func TestPoolConcurrentFor(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				forCovers(t, p, 97)
			}
		})
	}
	wg.Wait()
}

// A For inside a For must not deadlock even when every worker is busy.
func TestPoolNestedFor(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var total atomic.Int64
	p.For(8, func(lo, hi int) {
		for range hi - lo {
			p.For(10, func(lo, hi int) { total.Add(int64(hi - lo)) })
		}
	})
	if total.Load() != 80 {
		t.Errorf("nested For covered %d, want 80", total.Load())
	}
}
