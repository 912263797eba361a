package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Pool is a fixed set of persistent worker goroutines that run the chunks
// of parallel loops. The calling goroutine works too, so a Pool of n
// threads runs n-1 workers. It is safe for concurrent use; concurrent For
// calls share the workers, and each caller always makes progress on its own
// loop, so nothing deadlocks when the workers are busy.
type Pool struct {
	threads int
	work    chan *job
	jobs    sync.Pool // of *job, recycled so that For does not allocate
	once    sync.Once
	closed  atomic.Bool
	wg      sync.WaitGroup
}

// job is one For call. Its items are claimed a chunk at a time with a
// compare-and-swap on next, each chunk a share of what is left (guided
// self-scheduling): large chunks first, few claims, then smaller and
// smaller ones, so the threads run out of work together instead of one
// waiting for the other's last big chunk. A worker that receives the job
// late finds less or nothing left. refs counts the caller and the workers
// the job was sent to: a worker may take it from the queue after the call
// has returned, so the job is recycled only by whoever drops the last
// reference.
type job struct {
	fn      func(lo, hi int)
	n       int64
	share   int64 // a claim takes 1/share of the items left, at least one
	next    atomic.Int64
	pending atomic.Int64 // items not yet finished
	refs    atomic.Int32
}

// NewPool starts a pool with the given number of threads (the caller of
// For counts as one); threads <= 0 means runtime.NumCPU().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	p := &Pool{threads: threads, work: make(chan *job, 4*threads)}
	for range threads - 1 {
		p.wg.Add(1)
		go p.worker()
	}
	return p
}

// Threads is the number of goroutines a For call may use.
func (p *Pool) Threads() int {
	if p == nil {
		return 1
	}
	return p.threads
}

func (p *Pool) worker() {
	defer p.wg.Done()
	for {
		j, ok := p.next()
		if !ok {
			return
		}
		j.run()
		p.release(j)
	}
}

// spinPolls is how many times an idle worker polls the queue before it
// blocks (some microseconds). Decoding a token makes a parallel loop every
// few tens of microseconds, and waking a blocked worker through the
// scheduler costs about as much as a small loop itself.
const spinPolls = 2000

// next takes the next job from the queue, polling briefly before blocking.
func (p *Pool) next() (*job, bool) {
	for range spinPolls {
		select {
		case j, ok := <-p.work:
			return j, ok
		default:
		}
	}
	j, ok := <-p.work
	return j, ok
}

func (j *job) run() {
	for {
		lo := j.next.Load()
		if lo >= j.n {
			return
		}
		hi := min(j.n, lo+max(1, (j.n-lo)/j.share))
		if !j.next.CompareAndSwap(lo, hi) {
			continue
		}
		j.fn(int(lo), int(hi))
		j.pending.Add(lo - hi)
	}
}

// sharesPerThread sets the chunk sizes: each claim takes
// 1/(threads·sharesPerThread) of the items left. With two threads the
// first chunk is a quarter of the loop, and a loop of n items takes about
// 4·ln(n) claims, the last ones single items.
const sharesPerThread = 2

// For splits [0, n) into contiguous chunks, runs fn on each across the
// workers and the calling goroutine, and returns when all are done. A nil
// or closed Pool runs fn(0, n) on the caller.
func (p *Pool) For(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if p == nil || p.threads == 1 || n == 1 || p.closed.Load() {
		fn(0, n)
		return
	}
	j, _ := p.jobs.Get().(*job)
	if j == nil {
		j = new(job)
	}
	j.fn, j.n, j.share = fn, int64(n), int64(p.threads*sharesPerThread)
	j.next.Store(0)
	j.refs.Store(1)
	j.pending.Store(int64(n))
	p.invite(j, min(n-1, p.threads-1))
	j.run()
	j.wait()
	p.release(j)
}

// wait returns when every item of j is finished. By then the caller has
// run out of items to claim, so at most one small chunk per worker is left
// and the wait is short: it polls, yielding now and then, rather than sleeping
// in the scheduler, whose wake-up costs as much as a small loop.
func (j *job) wait() {
	for i := 0; j.pending.Load() > 0; i++ {
		if i%64 == 63 {
			runtime.Gosched()
		}
	}
}

// release drops a reference to j and recycles it after the last one.
func (p *Pool) release(j *job) {
	if j.refs.Add(-1) == 0 {
		j.fn = nil
		p.jobs.Put(j)
	}
}

// invite offers j to up to k workers without blocking; if the queue is full
// the workers are busy and the caller does the work itself.
func (p *Pool) invite(j *job, k int) {
	defer func() {
		if recover() != nil { // send on a channel closed by a concurrent Close
			j.refs.Add(-1)
		}
	}()
	for range k {
		j.refs.Add(1)
		select {
		case p.work <- j:
		default:
			j.refs.Add(-1)
			return
		}
	}
}

// Close stops the workers once queued work is done. For calls made after
// Close run on the caller.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.work)
		p.wg.Wait()
	})
}
