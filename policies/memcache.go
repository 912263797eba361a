package policies

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
//
// The entries are kept where the garbage collector has little to trace:
// a shard's bookkeeping is slices of pointer-free structs and maps of
// integers, and each entry's strings are one byte slice (its vector, while
// a semantic candidate, one more). A cache of 10,000 entries as linked
// objects was 70,000 objects to visit on every collection.
type MemoryCache struct {
	opts   CacheOptions
	now    func() time.Time
	seed   maphash.Seed
	shards [cacheShards]memShard
	// hashMask is ANDed into every key hash: all ones, except in tests,
	// which clear bits to make different keys collide.
	hashMask uint64

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
	// and vector: slot, map slots, index references.
	entryOverhead = 256
)

type memShard struct {
	mu    sync.Mutex
	slots []slot // an entry each, or free (listed in free)
	// blobs[i] is slot i's key and answer (see encodeEntry), never
	// changed once stored; vecs[i] its vector while it is a semantic
	// candidate (see packVec). Both are nil for a free slot.
	blobs [][]byte
	vecs  [][]float32
	free  []int32
	lru   lruList          // most recently used first
	items map[uint64]int32 // slot by key hash: at most one entry per hash
	// scopeIDs finds a scope's index in scopes by the scope key's hash.
	scopeIDs   map[uint64]int32
	scopes     []scopeIndex
	freeScopes []int32
}

// slot is one stored entry's bookkeeping, free of pointers so that the
// collector does not scan the slice of them.
type slot struct {
	prev, next int32  // in the shard's LRU list, -1 at the ends
	gen        uint32 // counts the entries the slot has held: a ref from an earlier one is stale
	scope      int32  // index in the shard's scopes while a semantic candidate, else -1
	keyLen     int32  // blob[:keyLen] is scopeKey + "\x00" + exactKey
	size       int32
	hash       uint64 // of the key
	used       int64  // unix nanoseconds of the last store or hit
	expires    int64  // unix nanoseconds
	// The vector (vecs[i]) and its hash-table signature.
	dim  int32
	nnz  int32 // non-zero coordinates of a sparse vector, 0 for a dense one
	wide bool  // a sparse vector's indexes take 32 bits (more than 65,536 dimensions)
	sig  packedSig
}

// ref names the entry a slot holds: a slot freed and used again has
// another generation.
type ref struct {
	slot int32
	gen  uint32
}

// lruList is a doubly linked list of slots threaded through their prev
// and next.
type lruList struct {
	front, back int32
	n           int
}

func (l *lruList) Len() int { return l.n }

func (l *lruList) pushFront(slots []slot, i int32) {
	slots[i].prev, slots[i].next = -1, l.front
	if l.front >= 0 {
		slots[l.front].prev = i
	} else {
		l.back = i
	}
	l.front = i
	l.n++
}

func (l *lruList) remove(slots []slot, i int32) {
	e := &slots[i]
	if e.prev >= 0 {
		slots[e.prev].next = e.next
	} else {
		l.front = e.next
	}
	if e.next >= 0 {
		slots[e.next].prev = e.prev
	} else {
		l.back = e.prev
	}
	e.prev, e.next = -1, -1
	l.n--
}

func (l *lruList) moveToFront(slots []slot, i int32) {
	if l.front != i {
		l.remove(slots, i)
		l.pushFront(slots, i)
	}
}

// scopeIndex holds one scope's semantic candidates.
type scopeIndex struct {
	key    string // the scope key: scopes whose keys share a hash are told apart
	hash   uint64
	order  []ref // indexed vectors, oldest first
	tables [lshTables]lshTable
}

// lshTable is one hash table's buckets (a bucket's hash has lshBits
// bits), kept side by side in bkt. A small scope finds them through a
// map; once the scope is searched through its tables (scanBelow vectors)
// through a slot per hash, since the 33 buckets a lookup probes were map
// lookups costing more than the rest of it.
type lshTable struct {
	m    map[uint32]uint16 // small: 1 + the index in bkt of each hash's bucket
	slot []uint16          // large: the same by hash, 0: none
	bkt  []lshBucket
	free []uint16 // indexes of free buckets
}

// lshBucket holds the newest bucketCap references of a hash, oldest first.
type lshBucket struct {
	refs [bucketCap]lshRef
	n    uint8
}

// lshRef is an entry in a hash bucket with its signature beside it, so
// that a lookup skips far candidates without touching their slots.
type lshRef struct {
	ref
	sig packedSig
}

// find returns 1 + the index in bkt of h's bucket, 0 if it has none.
func (t *lshTable) find(h uint32) uint16 {
	if t.slot == nil {
		return t.m[h]
	}
	return t.slot[h]
}

func (t *lshTable) get(h uint32) []lshRef {
	if i := t.find(h); i != 0 {
		b := &t.bkt[i-1]
		return b.refs[:b.n]
	}
	return nil
}

// add appends r to h's bucket, dropping its oldest reference when full.
func (t *lshTable) add(h uint32, r lshRef) {
	i := t.find(h)
	if i == 0 {
		if n := len(t.free); n > 0 {
			i = t.free[n-1] + 1
			t.free = t.free[:n-1]
		} else {
			t.bkt = append(t.bkt, lshBucket{})
			i = uint16(len(t.bkt))
		}
		if t.slot != nil {
			t.slot[h] = i
		} else {
			if t.m == nil {
				t.m = map[uint32]uint16{}
			}
			t.m[h] = i
		}
	}
	b := &t.bkt[i-1]
	if int(b.n) == bucketCap {
		copy(b.refs[:], b.refs[1:])
		b.n--
	}
	b.refs[b.n] = r
	b.n++
}

// drop removes the references to slot from h's bucket, and the bucket
// when it is left empty.
func (t *lshTable) drop(h uint32, slot int32) {
	i := t.find(h)
	if i == 0 {
		return
	}
	b := &t.bkt[i-1]
	kept := slices.DeleteFunc(b.refs[:b.n], func(r lshRef) bool { return r.slot == slot })
	b.n = uint8(len(kept))
	if b.n > 0 {
		return
	}
	*b = lshBucket{}
	t.free = append(t.free, i-1)
	if t.slot != nil {
		t.slot[h] = 0
	} else {
		delete(t.m, h)
	}
}

// grow moves the bucket indexes from the map to the slots.
func (t *lshTable) grow() {
	if t.slot != nil {
		return
	}
	t.slot = make([]uint16, 1<<lshBits)
	for h, i := range t.m {
		t.slot[h] = i
	}
	t.m = nil
}

// NewMemoryCache returns an empty in-process cache.
func NewMemoryCache(opts CacheOptions) *MemoryCache {
	c := &MemoryCache{opts: opts.withDefaults(), now: time.Now, seed: maphash.MakeSeed(), hashMask: math.MaxUint64}
	for i := range c.shards {
		s := &c.shards[i]
		s.lru = lruList{front: -1, back: -1}
		s.items = map[uint64]int32{}
		s.scopeIDs = map[uint64]int32{}
	}
	return c
}

func (c *MemoryCache) shardOf(scopeHash uint64) *memShard {
	return &c.shards[scopeHash%cacheShards]
}

func (c *MemoryCache) hashBytes(b []byte) uint64 { return maphash.Bytes(c.seed, b) & c.hashMask }

func (c *MemoryCache) hashString(s string) uint64 { return maphash.String(c.seed, s) & c.hashMask }

// Len returns the number of entries held, expired ones included until they
// are noticed.
func (c *MemoryCache) Len() int { return int(c.entries.Load()) }

// Bytes returns the approximate memory the entries hold.
func (c *MemoryCache) Bytes() int64 { return c.bytes.Load() }

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, scopeKey, exactKey string, q *Vector) (Entry, Hit, bool, error) {
	now := c.now()
	scopeHash := c.hashString(scopeKey)
	s := c.shardOf(scopeHash)
	// The key is put together on the stack: the key hash and the
	// comparison with the stored key need no string of it.
	var kb [160]byte
	key := append(append(append(kb[:0], scopeKey...), 0), exactKey...)
	keyHash := c.hashBytes(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	nowNs := now.UnixNano()
	if i, ok := s.items[keyHash]; ok && string(s.blobs[i][:s.slots[i].keyLen]) == string(key) {
		// Another key with the same hash is a miss for this one.
		if nowNs < s.slots[i].expires {
			return c.hit(s, i, nowNs, Hit{Kind: HitExact, Similarity: 1})
		}
		c.remove(s, i)
	}
	if c.opts.Threshold > 1 {
		return Entry{}, Hit{}, false, nil
	}
	id, ok := s.scopeIDs[scopeHash]
	if !ok || s.scopes[id].key != scopeKey {
		return Entry{}, Hit{}, false, nil
	}
	idx := &s.scopes[id]
	qu := q.unit()
	if qu == nil {
		return Entry{}, Hit{}, false, nil
	}
	best := int32(-1)
	bestSim := c.opts.Threshold
	var expired []int32
	var raw []float32 // the query's dense input, lent for the first comparison
	var done func()
	consider := func(r ref) {
		sl := &s.slots[r.slot]
		if sl.gen != r.gen {
			return // never expected: references go with their entries
		}
		if nowNs >= sl.expires {
			expired = append(expired, r.slot)
			return
		}
		if int(sl.dim) != qu.dim {
			return
		}
		if raw == nil {
			raw, done = q.lendRaw()
		}
		stored := s.storedVec(r.slot)
		if sim := float64(q.simRaw(raw, &stored)); sim >= bestSim {
			best, bestSim = r.slot, sim
		}
	}
	if len(idx.order) < scanBelow {
		for _, r := range idx.order {
			consider(r)
		}
	} else {
		qh, qs := q.signature(&c.planes, qu)
		qsig := packSig(qh, qs)
		var seenBuf [16]int32
		seen := seenBuf[:0]
		for t := range lshTables {
			for probe := -1; probe < lshBits; probe++ {
				h := qh[t]
				if probe >= 0 {
					h ^= 1 << probe
				}
				for _, r := range idx.tables[t].get(h) {
					// The table hashes are a 30-bit signature of the
					// vector (94 bits with the sketch): a neighbour at
					// the threshold differs in about a tenth of them, an
					// unrelated vector in a third or more, so far
					// signatures are skipped before the slot is read;
					// the few near ones are compared once.
					if !qsig.near(r.sig) || slices.Contains(seen, r.slot) {
						continue
					}
					seen = append(seen, r.slot)
					consider(r.ref)
				}
			}
		}
	}
	if done != nil {
		done()
	}
	for _, i := range expired {
		if i != best {
			c.remove(s, i)
		}
	}
	if best < 0 {
		return Entry{}, Hit{}, false, nil
	}
	return c.hit(s, best, nowNs, Hit{Kind: HitSemantic, Similarity: min(bestSim, 1)})
}

// hit marks slot i used and returns its entry. s.mu is held.
func (c *MemoryCache) hit(s *memShard, i int32, nowNs int64, h Hit) (Entry, Hit, bool, error) {
	s.lru.moveToFront(s.slots, i)
	s.slots[i].used = nowNs
	e, err := decodeEntry(s.blobs[i][s.slots[i].keyLen:])
	if err != nil {
		return Entry{}, Hit{}, false, fmt.Errorf("memory cache: %w", err)
	}
	return e, h, true, nil
}

// storedVec returns slot i's vector, over vecs[i]. s.mu is held.
func (s *memShard) storedVec(i int32) cacheVec { return unpackVec(&s.slots[i], s.vecs[i]) }

// unpackVec returns the vector packVec packed in buf, sl's.
func unpackVec(sl *slot, buf []float32) cacheVec {
	v := cacheVec{dim: int(sl.dim), val: buf}
	if n := int(sl.nnz); n > 0 {
		// The indexes follow the values in the same allocation, which is
		// 4-byte aligned like both.
		v.val = buf[:n:n]
		at := unsafe.Pointer(&buf[n])
		if sl.wide {
			v.idx = unsafe.Slice((*int32)(at), n)
		} else {
			v.idx16 = unsafe.Slice((*uint16)(at), n)
		}
	}
	return v
}

// Put implements Cache.
func (c *MemoryCache) Put(_ context.Context, scopeKey, exactKey string, v *Vector, e Entry) error {
	now := c.now()
	keyLen := len(scopeKey) + 1 + len(exactKey)
	size := entryOverhead + int64(keyLen+len(e.Content)+len(e.FinishReason)+len(e.Model))
	for _, x := range e.Experts {
		size += int64(len(x)) + 16
	}
	u := v.unit()
	if c.opts.Threshold > 1 {
		u = nil
	}
	var vecBytes int64
	if u != nil {
		vecBytes = storedVecBytes(u)
		size += vecBytes
	}
	if size > c.opts.MaxBytes/8 || keyLen > math.MaxInt32 {
		return nil // one answer may not crowd out the rest
	}
	// The entry is copied into one byte slice, so it shares nothing with
	// the caller (a streamed answer is a string over a larger buffer, which
	// an entry kept for an hour would hold whole).
	blob, err := encodeEntry(scopeKey, exactKey, e)
	if err != nil {
		return fmt.Errorf("memory cache: %w", err)
	}
	sl := slot{
		prev: -1, next: -1, scope: -1,
		keyLen:  int32(keyLen),
		size:    int32(size),
		hash:    c.hashBytes(blob[:keyLen]),
		used:    now.UnixNano(),
		expires: now.Add(c.opts.TTL).UnixNano(),
	}
	var packed []float32
	if u != nil {
		packed = packVec(u, &sl)
		sl.sig = packSig(v.signature(&c.planes, u))
	}
	scopeHash := c.hashString(scopeKey)
	s := c.shardOf(scopeHash)
	s.mu.Lock()
	if old, ok := s.items[sl.hash]; ok {
		// The same key, or another with the same hash: one of the two
		// is kept, as an eviction would.
		c.remove(s, old)
	}
	i := s.alloc()
	sl.gen = s.slots[i].gen
	s.slots[i], s.blobs[i] = sl, blob
	s.lru.pushFront(s.slots, i)
	s.items[sl.hash] = i
	if packed != nil && !c.index(s, i, scopeHash, scopeKey, packed) {
		s.slots[i].size -= int32(vecBytes) // found by exact key only
	}
	c.entries.Add(1)
	c.bytes.Add(int64(s.slots[i].size))
	s.mu.Unlock()
	c.evict(s, i)
	return nil
}

// alloc returns a free slot, the slices grown by one if none is. s.mu is
// held.
func (s *memShard) alloc() int32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		return i
	}
	s.slots = append(s.slots, slot{})
	s.blobs = append(s.blobs, nil)
	s.vecs = append(s.vecs, nil)
	return int32(len(s.slots) - 1)
}

// evict drops least recently used entries until the cache is within its
// bounds. Like Redis's approximated LRU it samples: of the tails of a few
// shards (each the least recently used of its shard) the oldest goes, so
// one shard lock is held at a time and a lightly used shard's newest
// entry is not sacrificed for a busy shard's old ones. The entry just
// stored (slot just of shard in) is never the one dropped.
func (c *MemoryCache) evict(in *memShard, just int32) {
	const samples = 4
	isJust := func(s *memShard, i int32) bool { return s == in && i == just }
	misses := 0
	for c.entries.Load() > int64(c.opts.MaxEntries) || c.bytes.Load() > c.opts.MaxBytes {
		var victim *memShard
		oldest := int64(math.MaxInt64)
		for range samples {
			s := &c.shards[c.hand.Add(1)%cacheShards]
			s.mu.Lock()
			if t := s.lru.back; t >= 0 && !isJust(s, t) {
				if u := s.slots[t].used; u < oldest {
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
		if t := victim.lru.back; t >= 0 && !isJust(victim, t) {
			c.remove(victim, t)
		}
		victim.mu.Unlock()
	}
}

// index makes slot i, holding the vector packed, a semantic candidate of
// its scope; false if another scope whose key has the same hash holds
// the index (the entry is then found by exact key only). s.mu is held.
func (c *MemoryCache) index(s *memShard, i int32, scopeHash uint64, scopeKey string, packed []float32) bool {
	id, ok := s.scopeIDs[scopeHash]
	switch {
	case !ok:
		id = s.newScope(scopeHash, scopeKey)
	case s.scopes[id].key != scopeKey:
		return false
	}
	sl := &s.slots[i]
	sl.scope = id
	s.vecs[i] = packed
	idx := &s.scopes[id]
	r := ref{slot: i, gen: sl.gen}
	idx.order = append(idx.order, r)
	for t := range lshTables {
		tb := &idx.tables[t]
		if len(idx.order) >= scanBelow {
			tb.grow()
		}
		tb.add(sl.sig.table(t), lshRef{ref: r, sig: sl.sig})
	}
	if len(idx.order) > c.opts.MaxPerScope {
		// The oldest vector stops being a candidate; its entry stays
		// reachable by exact key.
		old := idx.order[0].slot
		b := s.slotVecBytes(old)
		c.unindex(s, old)
		c.bytes.Add(-b)
		s.slots[old].size -= int32(b)
	}
	return true
}

// newScope returns the index in s.scopes of a new, empty scope index.
// s.mu is held.
func (s *memShard) newScope(hash uint64, key string) int32 {
	var id int32
	if n := len(s.freeScopes); n > 0 {
		id = s.freeScopes[n-1]
		s.freeScopes = s.freeScopes[:n-1]
	} else {
		s.scopes = append(s.scopes, scopeIndex{})
		id = int32(len(s.scopes) - 1)
	}
	s.scopes[id] = scopeIndex{key: key, hash: hash}
	s.scopeIDs[hash] = id
	return id
}

// unindex removes slot i from its scope's index. s.mu is held.
func (c *MemoryCache) unindex(s *memShard, i int32) {
	sl := &s.slots[i]
	id := sl.scope
	idx := &s.scopes[id]
	if len(idx.order) > 0 && idx.order[0].slot == i {
		// The oldest, dropped as each new vector comes in once the scope
		// is full: popped, not searched for and the rest moved down.
		idx.order = idx.order[1:]
	} else {
		idx.order = slices.DeleteFunc(idx.order, func(r ref) bool { return r.slot == i })
	}
	for t := range lshTables {
		idx.tables[t].drop(sl.sig.table(t), i)
	}
	sl.scope = -1
	s.vecs[i] = nil
	if len(idx.order) == 0 {
		delete(s.scopeIDs, idx.hash)
		s.scopes[id] = scopeIndex{}
		s.freeScopes = append(s.freeScopes, id)
	}
}

// remove drops slot i's entry from every index and frees the slot. s.mu
// is held.
func (c *MemoryCache) remove(s *memShard, i int32) {
	sl := &s.slots[i]
	s.lru.remove(s.slots, i)
	delete(s.items, sl.hash)
	c.entries.Add(-1)
	c.bytes.Add(-int64(sl.size))
	if sl.scope >= 0 {
		c.unindex(s, i)
	}
	s.blobs[i] = nil
	sl.gen++
	s.free = append(s.free, i)
}

// encodeEntry returns scopeKey + "\x00" + exactKey followed by e: its
// strings (each after its length), usage, experts (after 0 for none, else
// 1 + their count) and, last, its creation time, numbers as varints. The
// slice is allocated at its final size.
func encodeEntry(scopeKey, exactKey string, e Entry) ([]byte, error) {
	strs := [...]string{e.Content, e.FinishReason, e.Model}
	usage := [...]uint64{uint64(e.Usage.PromptTokens), uint64(e.Usage.CompletionTokens)}
	experts := 0
	if e.Experts != nil {
		experts = 1 + len(e.Experts)
	}
	n := len(scopeKey) + 1 + len(exactKey) + uvarintLen(uint64(experts)) + maxTimeBinary
	for _, s := range strs {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	for _, u := range usage {
		n += uvarintLen(u)
	}
	for _, x := range e.Experts {
		n += uvarintLen(uint64(len(x))) + len(x)
	}
	b := make([]byte, 0, n)
	b = append(append(append(b, scopeKey...), 0), exactKey...)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, u := range usage {
		b = binary.AppendUvarint(b, u)
	}
	b = binary.AppendUvarint(b, uint64(experts))
	for _, x := range e.Experts {
		b = binary.AppendUvarint(b, uint64(len(x)))
		b = append(b, x...)
	}
	return e.CreatedAt.AppendBinary(b)
}

// maxTimeBinary is the longest encoding of a time.Time (AppendBinary's
// version 2, with an offset in seconds).
const maxTimeBinary = 16

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// decodeEntry returns the entry encodeEntry wrote (after the key) in b.
// Its strings are one copy of b, which is not shared with the caller.
func decodeEntry(b []byte) (Entry, error) {
	r := entryReader{b: b, s: string(b)}
	var e Entry
	e.Content, e.FinishReason, e.Model = r.str(), r.str(), r.str()
	e.Usage.PromptTokens, e.Usage.CompletionTokens = int(r.uvarint()), int(r.uvarint())
	if n := int(r.uvarint()); n > 0 {
		e.Experts = make([]string, n-1)
		for k := range e.Experts {
			e.Experts[k] = r.str()
		}
	}
	if err := e.CreatedAt.UnmarshalBinary(b[r.at:]); err != nil {
		return Entry{}, fmt.Errorf("decode entry time: %w", err)
	}
	return e, nil
}

// entryReader reads what encodeEntry wrote, which is well formed: numbers
// from b, strings from s, a copy of b.
type entryReader struct {
	b  []byte
	s  string
	at int
}

func (r *entryReader) uvarint() uint64 {
	x, n := binary.Uvarint(r.b[r.at:])
	r.at += n
	return x
}

// str returns the next length-prefixed field, over s.
func (r *entryReader) str() string {
	n := int(r.uvarint())
	r.at += n
	return r.s[r.at-n : r.at]
}

// packVec returns u's coordinates in one pointer-free allocation to
// store, and sets sl's dim, nnz and wide: a dense vector's values; a
// sparse one's values followed by its indexes, two to a word where they
// fit in 16 bits (a quarter of a stored vector's bytes).
func packVec(u *cacheVec, sl *slot) []float32 {
	sl.dim = int32(u.dim)
	if u.idx == nil {
		return slices.Clone(u.val)
	}
	n := len(u.idx)
	sl.nnz, sl.wide = int32(n), u.dim > 1<<16
	words := n + (n+1)/2
	if sl.wide {
		words = 2 * n
	}
	buf := make([]float32, words)
	copy(buf, u.val)
	at := unsafe.Pointer(&buf[n])
	if sl.wide {
		copy(unsafe.Slice((*int32)(at), n), u.idx)
	} else {
		idx16 := unsafe.Slice((*uint16)(at), n)
		for k, i := range u.idx {
			idx16[k] = uint16(i)
		}
	}
	return buf
}

// storedVecBytes is what the cache counts for storing u: its values and
// indexes (16 bits each where they fit).
func storedVecBytes(u *cacheVec) int64 {
	switch {
	case u.idx == nil:
		return 4 * int64(len(u.val))
	case u.dim > 1<<16:
		return 8 * int64(len(u.idx))
	default:
		return 6 * int64(len(u.idx))
	}
}

// slotVecBytes is storedVecBytes of slot i's vector. s.mu is held.
func (s *memShard) slotVecBytes(i int32) int64 {
	sl := &s.slots[i]
	switch {
	case sl.nnz == 0:
		return 4 * int64(sl.dim)
	case sl.wide:
		return 8 * int64(sl.nnz)
	default:
		return 6 * int64(sl.nnz)
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

// packedSig is a vector's table hashes and sketch as a bucket reference
// keeps them: the hashes side by side in 30 bits, so that a reference
// (with its slot) is 24 bytes where it was 40, and a bucket of four 104.
type packedSig struct {
	hashes uint32 // table t's hash at bit t*lshBits; sketchFlag: the sketch is present
	sketch uint64
}

const sketchFlag = 1 << 31

// The hashes must leave the flag's bit free.
const _ = uint(31 - lshTables*lshBits)

func packSig(h [lshTables]uint32, sk sketch) packedSig {
	var p packedSig
	for t, x := range h {
		p.hashes |= x << (t * lshBits)
	}
	if sk.ok {
		p.hashes |= sketchFlag
		p.sketch = sk.bits
	}
	return p
}

// table returns the hash in table t.
func (p packedSig) table(t int) uint32 { return p.hashes >> (t * lshBits) & (1<<lshBits - 1) }

// near reports whether a candidate with signature c is near enough the
// query p to compare their vectors.
func (p packedSig) near(c packedSig) bool {
	d := bits.OnesCount32((p.hashes ^ c.hashes) &^ sketchFlag)
	if p.hashes&c.hashes&sketchFlag != 0 {
		return d+bits.OnesCount64(p.sketch^c.sketch) <= maxSketchDistance
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
	// 65,536 dimensions (see packVec).
	idx16 []uint16
	val   []float32
}
