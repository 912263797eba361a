package retrieval

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/moegate/moegate/internal/vec"
)

// HNSW parameters. Defaults were tuned with 'gateway bench retrieval' on
// 100k clustered 384-dimensional vectors.
type HNSWOptions struct {
	M              int // links per node above layer 0 (layer 0 has 2M); default 16
	EfConstruction int // candidate list size while inserting; default 200
	EfSearch       int // minimum candidate list size while searching; default 64
}

func (o HNSWOptions) withDefaults() HNSWOptions {
	if o.M <= 0 {
		o.M = 16
	}
	if o.EfConstruction <= 0 {
		o.EfConstruction = 200
	}
	if o.EfSearch <= 0 {
		o.EfSearch = 64
	}
	return o
}

// exactBelow is the graph size up to which Search scans every node.
const exactBelow = 1024

const (
	pageBits = 12
	pageSize = 1 << pageBits
	// Pages are found through a directory of chunks of chunkSize pages,
	// made as the graph grows: a flat table of every page a graph may
	// have was 2 MB of pointers per empty index, which the garbage
	// collector scanned on every cycle.
	chunkBits = 9
	chunkSize = 1 << chunkBits
	maxPages  = 1 << 18 // a billion nodes
)

// hnsw is a hierarchical navigable small world graph (Malkov & Yashunin)
// over unit vectors, ordered by cosine distance 1 - a·b.
//
// Adds may run concurrently with each other and with searches: nodes live
// in fixed pages published atomically, so a node's address never changes,
// and each node's links are guarded by its own mutex.
type hnsw struct {
	dim  int
	opts HNSWOptions
	mult float64 // level generation factor 1/ln(M)

	pages [maxPages / chunkSize]atomic.Pointer[[chunkSize]atomic.Pointer[page]]
	size  atomic.Uint32 // nodes allocated

	mu       sync.RWMutex // guards entry, maxLevel, rng and page allocation
	entry    uint32
	maxLevel int
	hasEntry bool
	rng      *rand.Rand

	deleted atomic.Int64

	// sinceRepair counts Adds since the last Repair.
	sinceRepair atomic.Int64

	visitedPool sync.Pool
}

type page struct {
	vecs  []float32 // pageSize*dim
	nodes [pageSize]node
}

type node struct {
	mu      sync.Mutex
	level   int32
	deleted atomic.Bool
	links   [][]uint32 // per layer
}

func newHNSW(dim int, opts HNSWOptions) *hnsw {
	opts = opts.withDefaults()
	return &hnsw{
		dim:  dim,
		opts: opts,
		mult: 1 / math.Log(float64(opts.M)),
		rng:  rand.New(rand.NewPCG(0x6d6f65, 0x67617465)),
	}
}

// page returns the page of node id, which must have been allocated.
func (h *hnsw) page(id uint32) *page {
	pi := id >> pageBits
	return h.pages[pi>>chunkBits].Load()[pi&(chunkSize-1)].Load()
}

func (h *hnsw) node(id uint32) *node {
	return &h.page(id).nodes[id&(pageSize-1)]
}

func (h *hnsw) vec(id uint32) []float32 {
	p := h.page(id)
	off := int(id&(pageSize-1)) * h.dim
	return p.vecs[off : off+h.dim : off+h.dim]
}

// Len is the number of nodes, deleted ones included.
func (h *hnsw) Len() int { return int(h.size.Load()) }

// Live is the number of nodes not deleted.
func (h *hnsw) Live() int { return h.Len() - int(h.deleted.Load()) }

// alloc reserves the next id, copies v (already normalised) into place and
// draws the node's level. It works under the lock so that size only ever
// counts initialised nodes.
func (h *hnsw) alloc(v []float32) (uint32, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.size.Load()
	pi := id >> pageBits
	chunk := h.pages[pi>>chunkBits].Load()
	if chunk == nil {
		chunk = new([chunkSize]atomic.Pointer[page])
		h.pages[pi>>chunkBits].Store(chunk)
	}
	if chunk[pi&(chunkSize-1)].Load() == nil {
		chunk[pi&(chunkSize-1)].Store(&page{vecs: make([]float32, pageSize*h.dim)})
	}
	level := int(-math.Log(1-h.rng.Float64()) * h.mult)
	copy(h.vec(id), v)
	n := h.node(id)
	n.level = int32(level)
	n.links = make([][]uint32, level+1)
	for l := range n.links {
		n.links[l] = make([]uint32, 0, h.maxLinks(l)+1)
	}
	h.size.Store(id + 1)
	return id, level
}

func (h *hnsw) maxLinks(level int) int {
	if level == 0 {
		return 2 * h.opts.M
	}
	return h.opts.M
}

// Add inserts the unit vector v and returns its id.
func (h *hnsw) Add(v []float32) uint32 {
	id, level := h.alloc(v)
	h.sinceRepair.Add(1)

	h.mu.RLock()
	ep, maxLevel, ok := h.entry, h.maxLevel, h.hasEntry
	h.mu.RUnlock()
	if !ok || level > maxLevel {
		// A new top layer: take the write lock so two new tops don't race,
		// and re-read the entry point under it.
		h.mu.Lock()
		defer h.mu.Unlock()
		ep, maxLevel, ok = h.entry, h.maxLevel, h.hasEntry
		if !ok {
			h.entry, h.maxLevel, h.hasEntry = id, level, true
			return id
		}
		if level > maxLevel {
			defer func() { h.entry, h.maxLevel = id, level }()
		}
	}

	s := h.getSearcher()
	defer h.visitedPool.Put(s)

	cur := ep
	curDist := 1 - vec.Dot(v, h.vec(cur))
	for l := maxLevel; l > level; l-- {
		cur, curDist = h.greedy(v, cur, curDist, l)
	}
	eps := []candidate{{curDist, cur}}
	for l := min(level, maxLevel); l >= 0; l-- {
		w := h.searchLayer(s, v, eps, h.opts.EfConstruction, l, nil)
		neighbors := h.selectNeighbors(w, h.opts.M)
		// Other inserters may have linked to this node already (it is
		// reachable from its upper layers): link() merges rather than
		// overwrites, or their nodes could be cut off from the graph.
		for _, c := range neighbors {
			h.link(id, c.id, c.dist, l)
		}
		for _, c := range neighbors {
			h.link(c.id, id, c.dist, l)
		}
		eps = w
	}
	return id
}

// link adds a link from node a to b at layer l, pruning a's links with the
// neighbour heuristic when they overflow.
func (h *hnsw) link(a, b uint32, dist float32, l int) {
	n := h.node(a)
	n.mu.Lock()
	defer n.mu.Unlock()
	if int(n.level) < l {
		return
	}
	links := n.links[l]
	for _, x := range links {
		if x == b {
			return
		}
	}
	maxL := h.maxLinks(l)
	if len(links) < maxL {
		n.links[l] = append(links, b)
		return
	}
	av := h.vec(a)
	cands := make([]candidate, 0, len(links)+1)
	cands = append(cands, candidate{dist, b})
	for _, x := range links {
		cands = append(cands, candidate{1 - vec.Dot(av, h.vec(x)), x})
	}
	sortCandidates(cands)
	kept := h.selectNeighbors(cands, maxL)
	links = links[:0]
	for _, c := range kept {
		links = append(links, c.id)
	}
	n.links[l] = links
}

// selectNeighbors is the HNSW heuristic (algorithm 4): walking candidates
// from nearest, keep one only if it is nearer to the query than to every
// neighbour kept so far, so links spread in different directions instead
// of piling into one cluster; then top up with the nearest discarded ones.
// cands must be sorted nearest first.
func (h *hnsw) selectNeighbors(cands []candidate, m int) []candidate {
	if len(cands) <= m {
		return cands
	}
	kept := make([]candidate, 0, m)
	var dropped []candidate
	for _, c := range cands {
		if len(kept) >= m {
			break
		}
		cv := h.vec(c.id)
		good := true
		for _, k := range kept {
			if 1-vec.Dot(cv, h.vec(k.id)) < c.dist {
				good = false
				break
			}
		}
		if good {
			kept = append(kept, c)
		} else {
			dropped = append(dropped, c)
		}
	}
	for _, c := range dropped {
		if len(kept) >= m {
			break
		}
		kept = append(kept, c)
	}
	return kept
}

// greedy walks layer l from cur towards q, one best neighbour at a time.
func (h *hnsw) greedy(q []float32, cur uint32, curDist float32, l int) (uint32, float32) {
	var buf [64]uint32
	for changed := true; changed; {
		changed = false
		nbrs := h.links(cur, l, buf[:0])
		for _, x := range nbrs {
			if d := 1 - vec.Dot(q, h.vec(x)); d < curDist {
				cur, curDist, changed = x, d, true
			}
		}
	}
	return cur, curDist
}

// links copies node id's links at layer l into buf.
func (h *hnsw) links(id uint32, l int, buf []uint32) []uint32 {
	n := h.node(id)
	n.mu.Lock()
	if int(n.level) >= l {
		buf = append(buf, n.links[l]...)
	}
	n.mu.Unlock()
	return buf
}

type candidate struct {
	dist float32
	id   uint32
}

// searcher holds the per-search scratch space, pooled: a visited set by
// epoch (no clearing between searches) and the two heaps.
type searcher struct {
	visited []uint32
	epoch   uint32
	cand    minHeap
	res     maxHeap
	buf     []uint32
	ptrs    []*float32 // vectors of buf's unvisited nodes
	dots    []float32
}

func (h *hnsw) getSearcher() *searcher {
	s, _ := h.visitedPool.Get().(*searcher)
	if s == nil {
		s = &searcher{}
	}
	n := h.Len()
	if len(s.visited) < n {
		s.visited = make([]uint32, n+n/4+pageSize)
		s.epoch = 0
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.visited)
		s.epoch = 1
	}
	return s
}

// searchLayer is the beam search of the HNSW paper at layer l from the
// entry points eps, keeping the ef nearest nodes that accept allows
// (nil: all). Nodes rejected by accept are still walked through, so a
// filter never disconnects the graph. The result is sorted nearest first.
func (h *hnsw) searchLayer(s *searcher, q []float32, eps []candidate, ef, l int, accept func(uint32) bool) []candidate {
	s.cand = s.cand[:0]
	s.res = s.res[:0]
	limit := uint32(len(s.visited))
	for _, e := range eps {
		s.visited[e.id] = s.epoch
		s.cand.push(e)
		if accept == nil || accept(e.id) {
			s.res.push(e)
		}
	}
	for len(s.res) > ef {
		s.res.pop()
	}
	for len(s.cand) > 0 {
		c := s.cand.pop()
		if len(s.res) >= ef && c.dist > s.res[0].dist {
			break
		}
		s.buf = h.links(c.id, l, s.buf[:0])
		fresh := s.buf[:0]
		s.ptrs = s.ptrs[:0]
		for _, x := range s.buf {
			if x >= limit || s.visited[x] == s.epoch {
				continue
			}
			s.visited[x] = s.epoch
			fresh = append(fresh, x)
			s.ptrs = append(s.ptrs, &h.vec(x)[0])
		}
		if cap(s.dots) < len(fresh) {
			s.dots = make([]float32, len(fresh))
		}
		dots := s.dots[:len(fresh)]
		vec.DotBatch(q, s.ptrs, dots)
		for i, x := range fresh {
			d := 1 - dots[i]
			if len(s.res) < ef || d < s.res[0].dist {
				s.cand.push(candidate{d, x})
				if accept == nil || accept(x) {
					s.res.push(candidate{d, x})
					if len(s.res) > ef {
						s.res.pop()
					}
				}
			}
		}
	}
	out := make([]candidate, len(s.res))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = s.res.pop()
	}
	return out
}

// Search returns up to k nearest live nodes to the unit vector q that
// accept allows (nil: all), nearest first.
func (h *hnsw) Search(q []float32, k, ef int, accept func(uint32) bool) []candidate {
	if k <= 0 {
		return nil
	}
	h.mu.RLock()
	ep, maxLevel, ok := h.entry, h.maxLevel, h.hasEntry
	h.mu.RUnlock()
	if !ok {
		return nil
	}
	ef = max(ef, k, h.opts.EfSearch)
	live := func(id uint32) bool {
		return !h.node(id).deleted.Load() && (accept == nil || accept(id))
	}
	if n := h.Len(); n <= exactBelow {
		// A scan is as fast as the graph here, and exact.
		all := make([]uint32, n)
		for i := range all {
			all[i] = uint32(i)
		}
		return h.Scan(q, k, [][]uint32{all}, accept)
	}
	s := h.getSearcher()
	defer h.visitedPool.Put(s)
	cur, curDist := ep, 1-vec.Dot(q, h.vec(ep))
	for l := maxLevel; l > 0; l-- {
		cur, curDist = h.greedy(q, cur, curDist, l)
	}
	filter := live
	if accept == nil && h.deleted.Load() == 0 {
		filter = nil
	}
	res := h.searchLayer(s, q, []candidate{{curDist, cur}}, ef, 0, filter)
	if len(res) > k {
		res = res[:k]
	}
	return res
}

// Scan is exact search over the given lists of node ids (which may
// overlap), for live nodes that accept allows (nil: all).
func (h *hnsw) Scan(q []float32, k int, lists [][]uint32, accept func(uint32) bool) []candidate {
	if k <= 0 {
		return nil
	}
	var seen map[uint32]bool
	if len(lists) > 1 {
		seen = map[uint32]bool{}
	}
	var res maxHeap
	for _, l := range lists {
		for _, id := range l {
			if seen != nil {
				if seen[id] {
					continue
				}
				seen[id] = true
			}
			if h.node(id).deleted.Load() || (accept != nil && !accept(id)) {
				continue
			}
			d := 1 - vec.Dot(q, h.vec(id))
			if len(res) < k {
				res.push(candidate{d, id})
			} else if d < res[0].dist {
				res.pop()
				res.push(candidate{d, id})
			}
		}
	}
	out := make([]candidate, len(res))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = res.pop()
	}
	return out
}

// Repair makes every live node reachable from the entry point at layer 0
// again and returns how many it had to reconnect. Pruning links with the
// heuristic can drop the last link into a tight group of nodes (say, the
// chunks of one document, all much nearer each other than anything else),
// leaving an island no search reaches. Repair walks the graph from the
// entry point and links each unreached node from the nearest reached one;
// it is O(nodes·links), so callers run it after bulk builds and every so
// many Adds. It must not run concurrently with Add.
func (h *hnsw) Repair() int {
	h.sinceRepair.Store(0)
	h.mu.RLock()
	ep, ok := h.entry, h.hasEntry
	h.mu.RUnlock()
	n := h.Len()
	if !ok || n <= 1 {
		return 0
	}
	reached := make([]bool, n)
	var stack []uint32
	var buf []uint32
	walk := func(from uint32) {
		if reached[from] {
			return
		}
		reached[from] = true
		stack = append(stack[:0], from)
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			buf = h.links(x, 0, buf[:0])
			for _, y := range buf {
				if int(y) < n && !reached[y] {
					reached[y] = true
					stack = append(stack, y)
				}
			}
		}
	}
	walk(ep)
	fixed := 0
	for id := range uint32(n) {
		if reached[id] || h.node(id).deleted.Load() {
			continue
		}
		// The nearest reached node: search from the entry point, which
		// only ever visits reached nodes.
		q := h.vec(id)
		s := h.getSearcher()
		cur, curDist := ep, 1-vec.Dot(q, h.vec(ep))
		h.mu.RLock()
		maxLevel := h.maxLevel
		h.mu.RUnlock()
		for l := maxLevel; l > 0; l-- {
			cur, curDist = h.greedy(q, cur, curDist, l)
		}
		res := h.searchLayer(s, q, []candidate{{curDist, cur}}, h.opts.M, 0, nil)
		h.visitedPool.Put(s)
		from := ep
		for _, c := range res {
			if reached[c.id] && c.id != id {
				from = c.id
				break
			}
		}
		// Append without pruning: the list may exceed its maximum until
		// the next link() to it prunes it.
		f := h.node(from)
		f.mu.Lock()
		f.links[0] = append(f.links[0], id)
		f.mu.Unlock()
		fixed++
		walk(id)
	}
	return fixed
}

// SinceRepair is the number of Adds since the last Repair.
func (h *hnsw) SinceRepair() int { return int(h.sinceRepair.Load()) }

// Delete marks id deleted: it stays in the graph as a waypoint but is never
// returned. Compaction (rebuilding the graph) drops it for good.
func (h *hnsw) Delete(id uint32) {
	if !h.node(id).deleted.Swap(true) {
		h.deleted.Add(1)
	}
}

// IsDeleted reports whether id was deleted.
func (h *hnsw) IsDeleted(id uint32) bool { return h.node(id).deleted.Load() }

func sortCandidates(c []candidate) {
	// Insertion sort: lists are at most 2M+1 long.
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j].dist < c[j-1].dist; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
}

// minHeap pops the nearest candidate first.
type minHeap []candidate

func (h *minHeap) push(c candidate) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].dist <= a[i].dist {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *minHeap) pop() candidate {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a[l].dist < a[m].dist {
			m = l
		}
		if r < n && a[r].dist < a[m].dist {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// maxHeap pops the farthest candidate first; a[0] is the worst kept.
type maxHeap []candidate

func (h *maxHeap) push(c candidate) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].dist >= a[i].dist {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *maxHeap) pop() candidate {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a[l].dist > a[m].dist {
			m = l
		}
		if r < n && a[r].dist > a[m].dist {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}
