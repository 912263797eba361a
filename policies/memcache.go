package policies

import (
	"context"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moegate/moegate/internal/vec"
)

// MemoryCache is an in-process Cache, bounded by MaxEntries and MaxBytes
// (least recently used entries go first) with entries expiring after TTL.
//
// It is split into shards by scope key, each with its own lock, so
// concurrent requests rarely wait for each other. Exact lookups are one
// map access. Semantic lookups have a bounded cost: a scope holding few
// vectors is scanned; a larger one is searched through locality-sensitive
// hashing (random hyperplanes, several tables, probing the neighbouring
// buckets), which compares the query with a handful of stored vectors
// instead of all of them.
type MemoryCache struct {
	opts   CacheOptions
	now    func() time.Time
	seed   maphash.Seed
	shards [cacheShards]memShard

	entries atomic.Int64
	bytes   atomic.Int64
	hand    atomic.Uint32 // the shard to evict from next

	planes planeSets
}

const (
	cacheShards = 32
	// scanBelow is the number of vectors a scope holds before it is
	// searched through its hash tables rather than scanned.
	scanBelow = 32
	lshTables = 3
	lshBits   = 10
	// bucketCap bounds each bucket (newest kept), so a lookup compares
	// at most lshTables*(lshBits+1)*bucketCap vectors.
	bucketCap = 4
	// entryOverhead approximates what an entry costs beyond its strings
	// and vector: list element, map slots, struct fields.
	entryOverhead = 256
)

type memShard struct {
	mu     sync.Mutex
	lru    lruList              // most recently used first
	items  map[string]*memEntry // by scopeKey + "\x00" + exactKey
	scopes map[string]*scopeIndex
}

// memEntry is one stored answer. Most entries of a busy cache are found
// by exact key only (a scope keeps its newest MaxPerScope vectors), so
// what only semantic candidates need lives apart, in ix.
type memEntry struct {
	prev, next *memEntry // in the shard's LRU list
	key        string    // scopeKey + "\x00" + exactKey
	ix         *indexed  // nil: not semantically findable
	e          Entry
	used       int64 // unix nanoseconds of the last store or hit
	expires    int64 // unix nanoseconds
	size       int32
	scopeLen   int32 // key[:scopeLen] is the scope key
}

func (me *memEntry) scope() string { return me.key[:me.scopeLen] }

// indexed is a semantic candidate's vector and its hash-table signature.
type indexed struct {
	vec    cacheVec // unit length
	hashes [lshTables]uint32
	sk     sketch
}

// lruList is a doubly linked list threaded through its entries (a
// container/list element was 48 bytes and one more object per entry for
// the garbage collector to trace).
type lruList struct {
	front, back *memEntry
	n           int
}

func (l *lruList) Len() int { return l.n }

func (l *lruList) pushFront(e *memEntry) {
	e.prev, e.next = nil, l.front
	if l.front != nil {
		l.front.prev = e
	} else {
		l.back = e
	}
	l.front = e
	l.n++
}

func (l *lruList) remove(e *memEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.front = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.back = e.prev
	}
	e.prev, e.next = nil, nil
	l.n--
}

func (l *lruList) moveToFront(e *memEntry) {
	if l.front != e {
		l.remove(e)
		l.pushFront(e)
	}
}

// scopeIndex holds one scope's semantic candidates.
type scopeIndex struct {
	order  []*memEntry // indexed vectors, oldest first
	tables [lshTables]lshTable
}

// lshTable is one hash table's buckets (a bucket's hash has lshBits
// bits). A small scope's are in a map; once the scope is searched through
// its tables (scanBelow vectors) they move to a slot per hash, since the
// 33 buckets a lookup probes were map lookups costing more than the rest
// of it.
type lshTable struct {
	m    map[uint32][]lshRef
	slot []uint16   // large: 1 + the index in bkt of each hash's bucket, 0: none
	bkt  [][]lshRef // large: the buckets, nil when free
	free []uint16   // large: indexes of free buckets
}

func (t *lshTable) get(h uint32) []lshRef {
	if t.slot == nil {
		return t.m[h]
	}
	if i := t.slot[h]; i != 0 {
		return t.bkt[i-1]
	}
	return nil
}

// set makes b the bucket of h (none when b is empty).
func (t *lshTable) set(h uint32, b []lshRef) {
	switch {
	case t.slot == nil && len(b) == 0:
		delete(t.m, h)
	case t.slot == nil:
		if t.m == nil {
			t.m = map[uint32][]lshRef{}
		}
		t.m[h] = b
	case t.slot[h] != 0:
		i := t.slot[h] - 1
		t.bkt[i] = b
		if len(b) == 0 {
			t.bkt[i], t.slot[h] = nil, 0
			t.free = append(t.free, i)
		}
	case len(b) > 0:
		if n := len(t.free); n > 0 {
			i := t.free[n-1]
			t.free = t.free[:n-1]
			t.bkt[i], t.slot[h] = b, i+1
		} else {
			t.bkt = append(t.bkt, b)
			t.slot[h] = uint16(len(t.bkt))
		}
	}
}

// grow moves the buckets from the map to the slots.
func (t *lshTable) grow() {
	if t.slot != nil {
		return
	}
	t.slot = make([]uint16, 1<<lshBits)
	for h, b := range t.m {
		t.set(h, b)
	}
	t.m = nil
}

// lshRef is an entry in a hash bucket with its signature beside it, so
// that a lookup skips far candidates without touching their entries (a
// cache miss each).
type lshRef struct {
	el  *memEntry
	sig [lshTables]uint32
	sk  sketch
}

// NewMemoryCache returns an empty in-process cache.
func NewMemoryCache(opts CacheOptions) *MemoryCache {
	c := &MemoryCache{opts: opts.withDefaults(), now: time.Now, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].items = map[string]*memEntry{}
		c.shards[i].scopes = map[string]*scopeIndex{}
	}
	return c
}

func (c *MemoryCache) shard(scopeKey string) *memShard {
	return &c.shards[maphash.String(c.seed, scopeKey)%cacheShards]
}

// Len returns the number of entries held, expired ones included until they
// are noticed.
func (c *MemoryCache) Len() int { return int(c.entries.Load()) }

// Bytes returns the approximate memory the entries hold.
func (c *MemoryCache) Bytes() int64 { return c.bytes.Load() }

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, scopeKey, exactKey string, q *Vector) (Entry, Hit, bool, error) {
	now := c.now()
	s := c.shard(scopeKey)
	s.mu.Lock()
	defer s.mu.Unlock()
	nowNs := now.UnixNano()
	// The key is put together on the stack: a map index by a []byte
	// converted in place does not allocate, where a concatenation longer
	// than 32 bytes does.
	var kb [160]byte
	key := append(append(append(kb[:0], scopeKey...), 0), exactKey...)
	if me, ok := s.items[string(key)]; ok {
		if nowNs < me.expires {
			s.lru.moveToFront(me)
			me.used = nowNs
			return cloneEntry(me.e), Hit{Kind: HitExact, Similarity: 1}, true, nil
		}
		c.remove(s, me)
	}
	if c.opts.Threshold > 1 {
		return Entry{}, Hit{}, false, nil
	}
	idx := s.scopes[scopeKey]
	if idx == nil {
		return Entry{}, Hit{}, false, nil
	}
	qu := q.unit()
	if qu == nil {
		return Entry{}, Hit{}, false, nil
	}
	var best *memEntry
	bestSim := c.opts.Threshold
	var expired []*memEntry
	var raw []float32 // the query's dense input, lent for the first comparison
	var done func()
	consider := func(me *memEntry) {
		if nowNs >= me.expires {
			expired = append(expired, me)
			return
		}
		if me.ix.vec.dim != qu.dim {
			return
		}
		if raw == nil {
			raw, done = q.lendRaw()
		}
		if sim := float64(q.simRaw(raw, &me.ix.vec)); sim >= bestSim {
			best, bestSim = me, sim
		}
	}
	if len(idx.order) < scanBelow {
		for _, el := range idx.order {
			consider(el)
		}
	} else {
		qh, qs := q.signature(&c.planes, qu)
		var seenBuf [16]*memEntry
		seen := seenBuf[:0]
		for t := range lshTables {
			for probe := -1; probe < lshBits; probe++ {
				h := qh[t]
				if probe >= 0 {
					h ^= 1 << probe
				}
				for _, ref := range idx.tables[t].get(h) {
					// The table hashes are a 30-bit signature of the
					// vector (94 bits with the sketch): a neighbour at
					// the threshold differs in about a tenth of them, an
					// unrelated vector in a third or more, so far
					// signatures are skipped before the entry is read;
					// the few near ones are compared once.
					if !nearSignature(&qh, qs, &ref.sig, ref.sk) || slices.Contains(seen, ref.el) {
						continue
					}
					seen = append(seen, ref.el)
					consider(ref.el)
				}
			}
		}
	}
	if done != nil {
		done()
	}
	for _, el := range expired {
		if el != best {
			c.remove(s, el)
		}
	}
	if best == nil {
		return Entry{}, Hit{}, false, nil
	}
	s.lru.moveToFront(best)
	best.used = nowNs
	return cloneEntry(best.e), Hit{Kind: HitSemantic, Similarity: min(bestSim, 1)}, true, nil
}

// Put implements Cache.
func (c *MemoryCache) Put(_ context.Context, scopeKey, exactKey string, v *Vector, e Entry) error {
	now := c.now()
	me := &memEntry{
		used:     now.UnixNano(),
		key:      scopeKey + "\x00" + exactKey,
		scopeLen: int32(len(scopeKey)),
		e:        cloneEntry(e),
		expires:  now.Add(c.opts.TTL).UnixNano(),
	}
	// The answer is copied: it may be a string over a larger buffer (a
	// streamed answer's is 512 bytes or more), which an entry kept for
	// an hour would hold whole.
	me.e.Content = strings.Clone(e.Content)
	size := entryOverhead + int64(len(me.key)+len(e.Content)+len(e.FinishReason)+len(e.Model))
	for _, x := range e.Experts {
		size += int64(len(x)) + 16
	}
	var ix *indexed
	if u := v.unit(); u != nil && c.opts.Threshold <= 1 {
		// The coordinates are immutable and shared; the Vector (with the
		// dense input) is not kept.
		ix = &indexed{vec: u.compact()}
		size += ix.vec.bytes()
	}
	if size > c.opts.MaxBytes/8 || len(scopeKey) > math.MaxInt32 {
		return nil // one answer may not crowd out the rest
	}
	me.size = int32(size)
	if ix != nil {
		ix.hashes, ix.sk = v.signature(&c.planes, v.unit())
		me.ix = ix
	}
	s := c.shard(scopeKey)
	s.mu.Lock()
	if old, ok := s.items[me.key]; ok {
		c.remove(s, old)
	}
	s.lru.pushFront(me)
	s.items[me.key] = me
	c.entries.Add(1)
	c.bytes.Add(size)
	if me.ix != nil {
		c.index(s, me)
	}
	s.mu.Unlock()
	c.evict(me)
	return nil
}

// evict drops least recently used entries until the cache is within its
// bounds. Like Redis's approximated LRU it samples: of the tails of a few
// shards (each the least recently used of its shard) the oldest goes, so
// one shard lock is held at a time and a lightly used shard's newest
// entry is not sacrificed for a busy shard's old ones. The entry just
// stored is never the one dropped.
func (c *MemoryCache) evict(just *memEntry) {
	const samples = 4
	misses := 0
	for c.entries.Load() > int64(c.opts.MaxEntries) || c.bytes.Load() > c.opts.MaxBytes {
		var victim *memShard
		oldest := int64(math.MaxInt64)
		for range samples {
			s := &c.shards[c.hand.Add(1)%cacheShards]
			s.mu.Lock()
			if t := s.lru.back; t != nil && t != just {
				if u := t.used; u < oldest {
					victim, oldest = s, u
				}
			}
			s.mu.Unlock()
		}
		if victim == nil {
			if misses++; misses > cacheShards {
				return // nothing but the new entry is left
			}
			continue
		}
		misses = 0
		victim.mu.Lock()
		if t := victim.lru.back; t != nil && t != just {
			c.remove(victim, t)
		}
		victim.mu.Unlock()
	}
}

// index makes me a semantic candidate of its scope. s.mu is held.
func (c *MemoryCache) index(s *memShard, me *memEntry) {
	idx := s.scopes[me.scope()]
	if idx == nil {
		idx = &scopeIndex{}
		s.scopes[me.scope()] = idx
	}
	idx.order = append(idx.order, me)
	for t := range lshTables {
		tb := &idx.tables[t]
		if len(idx.order) >= scanBelow {
			tb.grow()
		}
		b := append(tb.get(me.ix.hashes[t]), lshRef{el: me, sig: me.ix.hashes, sk: me.ix.sk})
		if len(b) > bucketCap {
			b = slices.Delete(b, 0, 1)
		}
		tb.set(me.ix.hashes[t], b)
	}
	if len(idx.order) > c.opts.MaxPerScope {
		// The oldest vector stops being a candidate; its entry stays
		// reachable by exact key.
		old := idx.order[0]
		c.unindex(s, old)
		c.bytes.Add(-old.ix.vec.bytes())
		old.size -= int32(old.ix.vec.bytes())
		old.ix = nil
	}
}

// unindex removes me from its scope's index. s.mu is held.
func (c *MemoryCache) unindex(s *memShard, me *memEntry) {
	idx := s.scopes[me.scope()]
	if idx == nil {
		return
	}
	if len(idx.order) > 0 && idx.order[0] == me {
		// The oldest, dropped as each new vector comes in once the scope
		// is full: popped, not searched for and the rest moved down.
		idx.order[0] = nil
		idx.order = idx.order[1:]
	} else {
		idx.order = slices.DeleteFunc(idx.order, func(x *memEntry) bool { return x == me })
	}
	for t := range lshTables {
		tb := &idx.tables[t]
		h := me.ix.hashes[t]
		tb.set(h, slices.DeleteFunc(tb.get(h), func(r lshRef) bool { return r.el == me }))
	}
	if len(idx.order) == 0 {
		delete(s.scopes, me.scope())
	}
}

// remove drops me from every index. s.mu is held.
func (c *MemoryCache) remove(s *memShard, me *memEntry) {
	s.lru.remove(me)
	delete(s.items, me.key)
	c.entries.Add(-1)
	c.bytes.Add(-int64(me.size))
	if me.ix != nil {
		c.unindex(s, me)
	}
}

// hyperplanes are the random hyperplanes of the hash tables for one
// dimension, as dense ±1 normals. A dense vector is hashed with
// lshTables*lshBits SIMD dot products; a sparse one (the local embedder's
// hashed features) through its non-zero coordinates only.
type hyperplanes struct {
	normals []*float32 // lshTables*lshBits vectors of dim
	// signs are the same, coordinate-major: bit b of signs[i] is set when
	// normal b is −1 at coordinate i (8 KB for 2,048 dimensions, where
	// rows of floats took 240 KB, a cache miss per coordinate).
	signs []uint32
	// sketchSigns are 64 more planes, 32 per slice, as signs: a sparse
	// vector's sketch.
	sketchSigns [2][]uint32
	dim         int
}

const planes = lshTables * lshBits

// planeSets are the hyperplanes of each dimension, made on first use.
type planeSets struct {
	mu  sync.Mutex
	set map[int]*hyperplanes
}

func (p *planeSets) get(dim int) *hyperplanes {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := p.set[dim]; ok {
		return h
	}
	if p.set == nil {
		p.set = map[int]*hyperplanes{}
	}
	h := &hyperplanes{dim: dim, signs: make([]uint32, dim)}
	flat := make([]float32, planes*dim)
	x := uint64(dim)*0x9E3779B97F4A7C15 + 1
	var z uint64
	for i := range flat {
		// splitmix64, 64 signs per draw: deterministic, so every
		// replica hashes alike.
		if i%64 == 0 {
			x += 0x9E3779B97F4A7C15
			z = x
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
			z = (z ^ (z >> 27)) * 0x94D049BB133111EB
			z ^= z >> 31
		}
		flat[i] = float32(int64(z>>(i%64)&1)*2 - 1)
	}
	for b := range planes {
		h.normals = append(h.normals, &flat[b*dim])
		for i := range dim {
			if flat[b*dim+i] < 0 {
				h.signs[i] |= 1 << b
			}
		}
	}
	for t := range h.sketchSigns {
		h.sketchSigns[t] = make([]uint32, dim)
		for i := range dim {
			x += 0x9E3779B97F4A7C15
			z = x
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
			z = (z ^ (z >> 27)) * 0x94D049BB133111EB
			h.sketchSigns[t][i] = uint32(z ^ z>>31)
		}
	}
	p.set[dim] = h
	return h
}

// hash returns the bucket in each table of the dense vector v.
func (h *hyperplanes) hash(v []float32) [lshTables]uint32 {
	var sums [planes]float32
	nnz := 0
	for _, x := range v {
		if x != 0 {
			nnz++
		}
	}
	if nnz*sparseRatio > len(v) {
		vec.DotBatch(v, h.normals, sums[:])
		return buckets(&sums)
	}
	idx, val := make([]int32, 0, nnz), make([]float32, 0, nnz)
	for i, x := range v {
		if x != 0 {
			idx, val = append(idx, int32(i)), append(val, x)
		}
	}
	return h.sparseBuckets(idx, val)
}

// signatureOf returns the buckets and the sketch of a stored or query
// vector. A sparse one's 94 projections are summed in one pass over its
// coordinates (three passes, one per 32 planes, were 17k instructions of a
// request); a dense one has no sketch.
func (h *hyperplanes) signatureOf(v *cacheVec) ([lshTables]uint32, sketch) {
	if v.idx == nil {
		return h.hash(v.val), sketch{}
	}
	var sums [3][32]float32
	masks := [3][]uint32{h.signs, h.sketchSigns[0], h.sketchSigns[1]}
	vec.SignedSums3(&sums, &masks, v.idx, v.val)
	return buckets((*[planes]float32)(sums[0][:planes])), sketchBits(&sums[1], &sums[2])
}

// sparseBuckets hashes the sparse vector (idx, val) through its non-zero
// coordinates: the sums of ±val, 8 planes at a time.
func (h *hyperplanes) sparseBuckets(idx []int32, val []float32) [lshTables]uint32 {
	var sums [32]float32
	vec.SignedSums(&sums, h.signs, idx, val)
	return buckets((*[planes]float32)(sums[:planes]))
}

func buckets(sums *[planes]float32) [lshTables]uint32 {
	var out [lshTables]uint32
	for t := range lshTables {
		for b := range lshBits {
			if sums[t*lshBits+b] > 0 {
				out[t] |= 1 << b
			}
		}
	}
	return out
}

// maxSignatureDistance is the most signature bits a candidate may differ
// in: at cosine 0.95 (each bit differs with probability 0.1) 9 or more of
// 30 differ with probability 0.0015.
const maxSignatureDistance = 8

// sketch is the signs of a sparse vector's projections on 64 more
// planes, compared with the table hashes before a candidate's vector is:
// 30 bits tell a neighbour at the threshold from a vector at cosine 0.5
// poorly (29% of those passed, and a query compared a few of them with
// each lookup), 94 well. Dense vectors (rare: other embedders) have none
// and are filtered by the 30 bits alone.
type sketch struct {
	bits uint64
	ok   bool
}

// sketchBits returns the sketch whose projections on the 64 sketch
// planes are lo and hi.
func sketchBits(lo, hi *[32]float32) sketch {
	var b uint64
	for i := range 32 {
		if lo[i] > 0 {
			b |= 1 << i
		}
		if hi[i] > 0 {
			b |= 1 << (32 + i)
		}
	}
	return sketch{bits: b, ok: true}
}

// maxSketchDistance is the most of the 94 bits of hashes and sketch a
// candidate may differ in: at cosine 0.95 20 or more differ with
// probability 0.0009 (the 30 bits alone: 0.002), at cosine 0.7 19 or
// fewer with 0.15 (0.66), at 0.5 with 0.004 (0.29).
const maxSketchDistance = 19

// nearSignature reports whether a candidate with hashes sig and sketch sk is near
// enough the query (qh, qs) to compare their vectors.
func nearSignature(qh *[lshTables]uint32, qs sketch, sig *[lshTables]uint32, sk sketch) bool {
	d := hamming(qh, sig)
	if qs.ok && sk.ok {
		return d+bits.OnesCount64(qs.bits^sk.bits) <= maxSketchDistance
	}
	return d <= maxSignatureDistance
}

func hamming(a, b *[lshTables]uint32) int {
	n := 0
	for t := range lshTables {
		n += bits.OnesCount32(a[t] ^ b[t])
	}
	return n
}

// sparseRatio: a vector with at most one non-zero coordinate in
// sparseRatio is stored and hashed as sparse.
const sparseRatio = 4

// cacheVec is a stored unit vector: dense, or sparse (idx not nil) when
// most coordinates are zero, as with the local embedder, which keeps it
// small and its comparisons cheap.
type cacheVec struct {
	dim int
	idx []int32
	// idx16 replaces idx in a stored copy of a sparse vector of at most
	// 65,536 dimensions (see compact).
	idx16 []uint16
	val   []float32
}

func (v *cacheVec) bytes() int64 {
	return int64(4*len(v.idx) + 2*len(v.idx16) + 4*len(v.val))
}

// compact returns the vector to store: a sparse one's indexes in 16 bits
// where they fit (a quarter of a stored vector's bytes).
func (v *cacheVec) compact() cacheVec {
	if v.idx == nil || v.dim > 1<<16 {
		return *v
	}
	out := cacheVec{dim: v.dim, val: v.val, idx16: make([]uint16, len(v.idx))}
	for k, i := range v.idx {
		out.idx16[k] = uint16(i)
	}
	return out
}
