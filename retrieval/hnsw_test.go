package retrieval

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// buildHNSW inserts data with one goroutine per worker and returns the
// graph and, for each node id, the index in data of its vector.
func buildHNSW(dim int, opts HNSWOptions, data [][]float32, workers int) (*hnsw, []int) {
	h := newHNSW(dim, opts)
	index := make([]int, len(data))
	var wg sync.WaitGroup
	var next int
	var mu sync.Mutex
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(data) {
					return
				}
				id := h.Add(data[i])
				index[id] = i
			}
		})
	}
	wg.Wait()
	h.Repair()
	return h, index
}

func recall(h *hnsw, index []int, data, queries [][]float32, k, ef int) float64 {
	hits := 0
	for _, q := range queries {
		want := map[int]bool{}
		for _, c := range exactTopK(data, q, k) {
			want[int(c.id)] = true
		}
		for _, c := range h.Search(q, k, ef, nil) {
			if want[index[c.id]] {
				hits++
			}
		}
	}
	return float64(hits) / float64(k*len(queries))
}

func TestHNSWRecall(t *testing.T) {
	tests := []struct {
		n, dim, workers int
	}{
		{1, 16, 1},
		{50, 16, 1},
		{3000, 64, 1},
		{3000, 64, 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("n=%d,dim=%d,workers=%d", tt.n, tt.dim, tt.workers), func(t *testing.T) {
			g := NewSynthetic(tt.dim, 20, 0, 1)
			data, queries := g.NextN(tt.n), g.NextN(100)
			h, index := buildHNSW(tt.dim, HNSWOptions{}, data, tt.workers)
			if h.Len() != tt.n {
				t.Fatalf("Len = %d, want %d", h.Len(), tt.n)
			}
			k := min(10, tt.n)
			if r := recall(h, index, data, queries, k, 64); r < 0.95 {
				t.Errorf("recall@%d = %.3f, want >= 0.95", k, r)
			}
		})
	}
}

func TestHNSWDeleteAndFilter(t *testing.T) {
	g := NewSynthetic(32, 10, 0, 2)
	data := g.NextN(2000)
	h, _ := buildHNSW(32, HNSWOptions{}, data, 1)
	q := data[7]
	if got := h.Search(q, 1, 0, nil); len(got) != 1 || got[0].id != 7 {
		t.Fatalf("nearest to a stored vector = %v, want id 7", got)
	}
	h.Delete(7)
	for _, c := range h.Search(q, 50, 0, nil) {
		if c.id == 7 {
			t.Fatal("deleted node returned")
		}
	}
	if h.Live() != 1999 {
		t.Errorf("Live = %d, want 1999", h.Live())
	}
	// A filter admitting 1% of the nodes still finds all of them that are
	// nearest, by walking through the rejected ones.
	accept := func(id uint32) bool { return id%100 == 3 }
	var allowed [][]float32
	var ids []uint32
	for i, v := range data {
		if accept(uint32(i)) {
			allowed, ids = append(allowed, v), append(ids, uint32(i))
		}
	}
	got := h.Search(q, 5, 0, accept)
	want := exactTopK(allowed, q, 5)
	if len(got) != 5 {
		t.Fatalf("filtered search returned %d, want 5", len(got))
	}
	for i := range want {
		if got[i].id != ids[want[i].id] {
			t.Errorf("filtered result %d = %d, want %d", i, got[i].id, ids[want[i].id])
		}
	}
}

// BenchmarkHNSWEf reports recall@10 and search time for a range of
// efSearch on one graph, for tuning by hand. The graph has
// MOEGATE_TUNE_N (default 20000) 384-dimensional vectors; MOEGATE_TUNE_M,
// MOEGATE_TUNE_EFC and MOEGATE_TUNE_SPREAD set M, efConstruction and the
// data's spread:
//
//	MOEGATE_TUNE_N=100000 go test -run XXX -bench HNSWEf ./retrieval
func BenchmarkHNSWEf(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("MOEGATE_TUNE_N"))
	if n <= 0 {
		n = 20000
	}
	m, _ := strconv.Atoi(os.Getenv("MOEGATE_TUNE_M"))
	efc, _ := strconv.Atoi(os.Getenv("MOEGATE_TUNE_EFC"))
	spread, _ := strconv.ParseFloat(os.Getenv("MOEGATE_TUNE_SPREAD"), 64)
	g := NewSynthetic(384, 100, spread, 1)
	data, queries := g.NextN(n), g.NextN(300)
	start := time.Now()
	h, index := buildHNSW(384, HNSWOptions{M: m, EfConstruction: efc}, data, 2)
	b.Logf("n=%d build %v", n, time.Since(start))
	for _, ef := range []int{16, 32, 64, 96, 128, 200} {
		b.Run(fmt.Sprint("ef=", ef), func(b *testing.B) {
			h.opts.EfSearch = 1 // let ef below the default through
			r := recall(h, index, data, queries, 10, ef)
			i := 0
			for b.Loop() {
				h.Search(queries[i%len(queries)], 10, ef, nil)
				i++
			}
			b.ReportMetric(r, "recall@10")
		})
	}
}

func BenchmarkSearch(b *testing.B) {
	g := NewSynthetic(384, 100, 0, 1)
	data, queries := g.NextN(10000), g.NextN(256)
	h, _ := buildHNSW(384, HNSWOptions{}, data, 2)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		h.Search(queries[i%len(queries)], 10, 0, nil)
		i++
	}
}

// TestHNSWConcurrentReachability builds tightly clustered graphs (like the
// chunks of many documents) with concurrent inserters and checks every
// node can be found from the entry point. (Overwriting a node's links when
// linking it, instead of merging in links that concurrent inserters had
// added, used to cut off small islands; so can pruning, which Repair
// fixes.)
func TestHNSWConcurrentReachability(t *testing.T) {
	var data [][]float32
	for i := range 150 {
		data = append(data, NewSynthetic(contractDim, 5, 0, uint64(1000+i)).NextN(12)...)
	}
	for trial := range 4 {
		h, index := buildHNSW(contractDim, HNSWOptions{}, data, 4)
		if n := h.Repair(); n != 0 {
			t.Errorf("a second Repair reconnected %d nodes", n)
		}
		for id := range h.Len() {
			r := h.Search(data[index[id]], 1, 0, nil)
			if len(r) == 0 || r[0].id != uint32(id) && r[0].dist > 1e-6 {
				t.Errorf("trial %d: node %d unreachable", trial, id)
			}
		}
	}
}

func TestHNSWRepair(t *testing.T) {
	data := NewSynthetic(contractDim, 10, 0, 15).NextN(2000)
	h, index := buildHNSW(contractDim, HNSWOptions{}, data, 1)
	// Cut node 1500 off: remove every link into it.
	const victim = 1500
	for id := range uint32(h.Len()) {
		n := h.node(id)
		n.links[0] = slices.DeleteFunc(n.links[0], func(x uint32) bool { return x == victim })
	}
	q := data[index[victim]]
	if r := h.Search(q, 1, 0, nil); len(r) == 1 && r[0].id == victim {
		t.Fatal("the victim is still reachable")
	}
	if n := h.Repair(); n != 1 {
		t.Errorf("Repair reconnected %d nodes, want 1", n)
	}
	if r := h.Search(q, 1, 0, nil); len(r) != 1 || r[0].id != victim {
		t.Errorf("after Repair the victim is not found: %v", r)
	}
}

// An index holds memory for the pages it has, not for the largest graph it
// could have: an empty one is a few KB (its page table was 2 MB of
// pointers, scanned by every garbage collection).
func TestHNSWEmptySize(t *testing.T) {
	if n := unsafe.Sizeof(hnsw{}); n > 16<<10 {
		t.Fatalf("an empty index takes %d bytes", n)
	}
}
