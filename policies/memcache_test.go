package policies

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/moegate/moegate/internal/vec"
)

func randomUnit(rng *rand.Rand, dim int) []float32 { return randomSparse(rng, dim, dim) }

// randomSparse returns a random unit vector with nnz non-zero coordinates.
func randomSparse(rng *rand.Rand, dim, nnz int) []float32 {
	v := make([]float32, dim)
	for _, i := range rng.Perm(dim)[:nnz] {
		v[i] = float32(rng.NormFloat64())
	}
	return unit(v)
}

// nearVec returns a unit vector at cosine about cos from v.
func nearVec(rng *rand.Rand, v []float32, cos float64) []float32 {
	// The noise lives on v's support, so a sparse v stays sparse.
	noise := make([]float32, len(v))
	for i, x := range v {
		if x != 0 {
			noise[i] = float32(rng.NormFloat64())
		}
	}
	noise = unit(noise)
	// Make the noise orthogonal to v, then mix.
	d := dot(noise, v)
	for i := range noise {
		noise[i] -= float32(d) * v[i]
	}
	noise = unit(noise)
	s := math.Sqrt(1 - cos*cos)
	out := make([]float32, len(v))
	for i := range v {
		out[i] = float32(cos)*v[i] + float32(s)*noise[i]
	}
	return out
}

// TestMemoryCacheIndexedScope fills one scope past the scan size, so it is
// searched through its hash tables, and checks that near duplicates are
// still found and unrelated queries are not.
func TestMemoryCacheIndexedScope(t *testing.T) {
	tests := []struct {
		name    string
		dim     int
		nnz     int
		sim     float64
		minRate float64
	}{
		{"dense 2048 at 0.99", 2048, 2048, 0.99, 0.97},
		{"dense 2048 at 0.97", 2048, 2048, 0.97, 0.90},
		{"dense 384 at 0.99", 384, 384, 0.99, 0.97},
		{"sparse 2048 (local embedder) at 0.99", 2048, 150, 0.99, 0.97},
		{"sparse 2048 at 0.97", 2048, 150, 0.97, 0.90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.dim)))
			c := NewMemoryCache(CacheOptions{Threshold: 0.95})
			var stored [][]float32
			for i := range 256 {
				v := randomSparse(rng, tt.dim, tt.nnz)
				stored = append(stored, v)
				mustPut(t, c, "s", fmt.Sprint("k", i), v, testEntry(fmt.Sprint(i)))
			}
			found := 0
			for i, v := range stored {
				e, hit, ok := mustGet(t, c, "s", "q", nearVec(rng, v, tt.sim))
				if ok && e.Content == fmt.Sprint(i) && hit.Kind == HitSemantic {
					found++
				}
			}
			if rate := float64(found) / float64(len(stored)); rate < tt.minRate {
				t.Errorf("found %d of %d near duplicates (%.2f), want at least %.2f", found, len(stored), rate, tt.minRate)
			}
			for range 100 {
				if e, hit, ok := mustGet(t, c, "s", "q", randomSparse(rng, tt.dim, tt.nnz)); ok {
					t.Fatalf("unrelated query hit %q at %v", e.Content, hit.Similarity)
				}
			}
		})
	}
}

func TestMemoryCacheMaxBytes(t *testing.T) {
	const limit = 64 << 10
	c := NewMemoryCache(CacheOptions{MaxBytes: limit})
	rng := rand.New(rand.NewPCG(2, 3))
	big := string(make([]byte, 2000))
	for i := range 200 {
		mustPut(t, c, fmt.Sprint("scope", i%7), fmt.Sprint("k", i), randomUnit(rng, 64), testEntry(big))
		if b := c.Bytes(); b > limit {
			t.Fatalf("after %d puts the cache holds %d bytes, limit %d", i+1, b, limit)
		}
	}
	checkMemoryCache(t, c)
	if c.Len() < 10 || c.Bytes() < limit/2 {
		t.Errorf("cache holds %d entries, %d bytes: evicted far more than needed", c.Len(), c.Bytes())
	}
	// The newest entry is kept, the oldest is gone.
	if _, _, ok := mustGet(t, c, "scope3", "k199", nil); !ok {
		t.Error("newest entry evicted")
	}
	if _, _, ok := mustGet(t, c, "scope0", "k0", nil); ok {
		t.Error("oldest entry kept past the byte limit")
	}
	// An answer larger than an eighth of the cache is not stored.
	mustPut(t, c, "s", "huge", nil, testEntry(string(make([]byte, limit/4))))
	if _, _, ok := mustGet(t, c, "s", "huge", nil); ok {
		t.Error("an answer of a quarter of the cache was stored")
	}
}

// TestMemoryCacheConcurrent runs lookups and stores from many goroutines
// over many scopes (run with -race) and checks the bounds hold.
func TestMemoryCacheConcurrent(t *testing.T) {
	c := NewMemoryCache(CacheOptions{MaxEntries: 500})
	var wg sync.WaitGroup
	var lost atomic.Int32
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 400 {
				scope := fmt.Sprint("s", rng.IntN(20))
				v := randomUnit(rng, 32)
				if err := c.Put(context.Background(), scope, fmt.Sprint(g, "-", i), NewVector(v), testEntry("x")); err != nil {
					t.Error(err)
					return
				}
				_, _, ok, err := c.Get(context.Background(), scope, fmt.Sprint(g, "-", i), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					lost.Add(1)
				}
				_, _, _, _ = c.Get(context.Background(), scope, "other", NewVector(v))
			}
		}()
	}
	wg.Wait()
	// Eviction approximates LRU across shards: an entry just stored may
	// rarely lose to another goroutine's store, but not routinely.
	if n := lost.Load(); n > 3200/50 {
		t.Errorf("%d of 3200 entries gone right after being stored", n)
	}
	if n := c.Len(); n > 500 {
		t.Errorf("Len = %d past MaxEntries 500", n)
	}
	var n int
	for i := range c.shards {
		n += c.shards[i].lru.Len()
	}
	if n != c.Len() {
		t.Errorf("shards hold %d entries, counter says %d", n, c.Len())
	}
	checkMemoryCache(t, c)
}

// BenchmarkMemoryCacheMiss is the common case: a query with no similar
// entry in a full scope of 2,048-dimension vectors.
func BenchmarkMemoryCacheMiss(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := NewMemoryCache(CacheOptions{})
	for i := range 256 {
		_ = c.Put(context.Background(), "s", fmt.Sprint("k", i), NewVector(randomUnit(rng, 2048)), testEntry("x"))
	}
	qs := make([][]float32, 64)
	for i := range qs {
		qs[i] = randomUnit(rng, 2048)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, ok, _ := c.Get(context.Background(), "s", "q", NewVector(qs[i%len(qs)])); ok {
			b.Fatal("hit")
		}
	}
}

// BenchmarkMemoryCacheMissSparse is the same with the local embedder's
// sparse vectors (150 non-zero of 2,048).
func BenchmarkMemoryCacheMissSparse(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := NewMemoryCache(CacheOptions{})
	for i := range 256 {
		_ = c.Put(context.Background(), "s", fmt.Sprint("k", i), NewVector(randomSparse(rng, 2048, 150)), testEntry("x"))
	}
	qs := make([][]float32, 64)
	for i := range qs {
		qs[i] = randomSparse(rng, 2048, 150)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, ok, _ := c.Get(context.Background(), "s", "q", NewVector(qs[i%len(qs)])); ok {
			b.Fatal("hit")
		}
	}
}

// unit returns v scaled to length 1, or nil if v is empty, zero or not
// finite.
func unit(v []float32) []float32 {
	out := slices.Clone(v)
	if !vec.Normalize(out) {
		return nil
	}
	return out
}

// dot returns the dot product of two vectors of the same length.
func dot(a, b []float32) float64 { return float64(vec.Dot(a, b)) }

// An LSH table keeps the same buckets in its map (small scopes) and in
// its slots (large ones), through any sequence of stores and removals,
// and when it moves from one to the other midway; a full bucket keeps its
// newest references.
func TestLSHTableSlots(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var small, large, moved lshTable
	large.grow()
	want := map[uint32][]lshRef{}
	for step := range 5000 {
		if step == 2500 {
			moved.grow()
		}
		h := uint32(r.IntN(40)) << 4 // few hashes: buckets fill, empty and come back
		b := want[h]
		if len(b) > 0 && r.IntN(3) == 0 {
			gone := b[r.IntN(len(b))].slot
			b = slices.DeleteFunc(slices.Clone(b), func(x lshRef) bool { return x.slot == gone })
			for _, tb := range []*lshTable{&small, &large, &moved} {
				tb.drop(h, gone)
			}
		} else {
			x := lshRef{ref: ref{slot: int32(step)}, sig: packedSig{hashes: uint32(step)}}
			b = append(slices.Clone(b), x)
			if len(b) > bucketCap {
				b = b[1:]
			}
			for _, tb := range []*lshTable{&small, &large, &moved} {
				tb.add(h, x)
			}
		}
		want[h] = b
		for h := uint32(0); h < 1<<lshBits; h += 16 {
			for i, tb := range []*lshTable{&small, &large, &moved} {
				if got := tb.get(h); !slices.Equal(got, want[h]) {
					t.Fatalf("step %d, table %d, hash %d: %v, want %v", step, i, h, got, want[h])
				}
			}
		}
	}
	if len(large.bkt) > 40 || len(moved.bkt) > 40 {
		t.Fatalf("%d and %d buckets for 40 hashes: free buckets are not reused", len(large.bkt), len(moved.bkt))
	}
}

// An entry keeps its own copy of the answer, not the buffer the answer
// was read into (a streamed answer is a string over one of 512 bytes or
// more, which an entry would otherwise hold for its whole life), and a
// caller's copy is not the entry's.
func TestMemoryCacheCopiesAnswer(t *testing.T) {
	c := NewMemoryCache(CacheOptions{})
	buf := make([]byte, 4096)
	n := copy(buf, "the answer")
	if err := c.Put(context.Background(), "s", "e", nil, testEntry(unsafe.String(&buf[0], n))); err != nil {
		t.Fatal(err)
	}
	copy(buf, "overwrite!")
	got, _, ok := mustGet(t, c, "s", "e", nil)
	if !ok || got.Content != "the answer" {
		t.Fatalf("Get = %q, %v; want the answer as stored", got.Content, ok)
	}
	if unsafe.StringData(got.Content) == &buf[0] {
		t.Fatal("the entry shares the caller's buffer")
	}
	s := c.shardOf(c.hashString("s"))
	blob := s.blobs[s.items[c.hashBytes([]byte("s\x00e"))]]
	start := uintptr(unsafe.Pointer(unsafe.SliceData(blob)))
	if p := uintptr(unsafe.Pointer(unsafe.StringData(got.Content))); p >= start && p < start+uintptr(len(blob)) {
		t.Fatal("the entry returned shares the cache's memory")
	}
}

// Keys whose hashes collide (all of them, with hashMask 0) never get each
// other's answers: exact keys are compared, a scope's semantic candidates
// are found only under its own key, and storing one of two colliding keys
// drops the other, as an eviction would.
func TestMemoryCacheHashCollisions(t *testing.T) {
	c := NewMemoryCache(CacheOptions{Threshold: 0.95})
	c.hashMask = 0
	v := rotated(8, 1)
	mustPut(t, c, "s1", "k1", v, testEntry("s1 k1"))
	tests := []struct {
		name, scope, exact string
		vec                []float32
	}{
		{"other exact key, same scope", "s1", "k2", nil},
		{"same exact key, other scope", "s2", "k1", nil},
		{"other scope, same vector", "s2", "k2", v},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, hit, ok := mustGet(t, c, tt.scope, tt.exact, tt.vec); ok {
				t.Fatalf("got %q (%s) stored under s1/k1", e.Content, hit.Kind)
			}
		})
	}
	// s2/k2 takes the place of s1/k1 (same hash): s1 has no entries left,
	// and the s2 entry is found by its own key and vector only.
	mustPut(t, c, "s2", "k2", v, testEntry("s2 k2"))
	if c.Len() != 1 {
		t.Errorf("Len = %d with two colliding keys stored, want 1", c.Len())
	}
	for _, k := range []struct{ scope, exact, want string }{{"s2", "k2", "s2 k2"}, {"s2", "q", "s2 k2"}, {"s1", "k1", ""}, {"s1", "q", ""}} {
		if e, _, ok := mustGet(t, c, k.scope, k.exact, v); ok != (k.want != "") || e.Content != k.want {
			t.Errorf("%s/%s: got %q, %v; want %q", k.scope, k.exact, e.Content, ok, k.want)
		}
	}
	checkMemoryCache(t, c)
}

// Of two scopes whose keys share a hash, the first to store a vector
// holds the scope index; the other's entries are found by exact key only,
// and never semantically under the first's.
func TestMemoryCacheScopeHashCollision(t *testing.T) {
	c := NewMemoryCache(CacheOptions{Threshold: 0.95})
	c.hashMask = 1 << 63 // two hashes: half of all keys collide
	find := func(prefix string, want func(string) bool) string {
		for i := range 200 {
			if k := fmt.Sprint(prefix, i); want(k) {
				return k
			}
		}
		t.Fatalf("no key %s... found", prefix)
		return ""
	}
	s2 := find("s", func(k string) bool { return c.hashString(k) == c.hashString("s1") && k != "s1" })
	k2 := find("k", func(k string) bool { return c.hashBytes([]byte(s2+"\x00"+k)) != c.hashBytes([]byte("s1\x00k1")) })
	v := rotated(8, 1)
	mustPut(t, c, "s1", "k1", v, testEntry("s1 k1"))
	mustPut(t, c, s2, k2, v, testEntry("s2 k2"))
	for _, k := range []struct{ scope, exact, want string }{{"s1", "q", "s1 k1"}, {s2, k2, "s2 k2"}, {s2, "q", ""}} {
		if e, _, ok := mustGet(t, c, k.scope, k.exact, v); ok != (k.want != "") || e.Content != k.want {
			t.Errorf("%s/%s: got %q, %v; want %q", k.scope, k.exact, e.Content, ok, k.want)
		}
	}
	checkMemoryCache(t, c)
}

// A slot freed by an eviction and taken by a new entry answers only for
// the new one: the evicted key misses, and the evicted entry's vector is
// no candidate.
func TestMemoryCacheSlotReuse(t *testing.T) {
	c := NewMemoryCache(CacheOptions{MaxEntries: 2, Threshold: 0.99})
	axis := func(i int) []float32 { v := make([]float32, 8); v[i] = 1; return v }
	for i := range 6 {
		mustPut(t, c, "s", fmt.Sprint("k", i), axis(i), testEntry(fmt.Sprint(i)))
		checkMemoryCache(t, c)
	}
	s := c.shardOf(c.hashString("s"))
	if len(s.slots) > 3 {
		t.Errorf("%d slots for at most 2 entries and the one being stored: freed slots are not reused", len(s.slots))
	}
	for i := range 6 {
		e, _, ok := mustGet(t, c, "s", "q", axis(i))
		if want := i >= 4; ok != want || ok && e.Content != fmt.Sprint(i) {
			t.Errorf("vector %d: %q, %v; want a hit %v", i, e.Content, ok, want)
		}
		e, _, ok = mustGet(t, c, "s", fmt.Sprint("k", i), nil)
		if want := i >= 4; ok != want || ok && e.Content != fmt.Sprint(i) {
			t.Errorf("key k%d: %q, %v; want a hit %v", i, e.Content, ok, want)
		}
	}
}

// Entries come back as they were stored: every field, a nil or empty
// experts list, times in UTC and in another zone.
func TestMemoryCacheEntryRoundTrip(t *testing.T) {
	full := testEntry("hello, world")
	tests := []struct {
		name string
		e    Entry
	}{
		{"full", full},
		{"zero", Entry{}},
		{"empty experts", Entry{Content: "x", Experts: []string{}}},
		{"zone", Entry{Content: "x", CreatedAt: time.Date(2026, 5, 6, 7, 8, 9, 10, time.FixedZone("", 3600))}},
		{"long", Entry{Content: strings.Repeat("ü", 5000), FinishReason: "length", Experts: []string{"", "a"},
			Usage: CacheUsage{PromptTokens: 1 << 40, CompletionTokens: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeEntry("s", "k", tt.e)
			if err != nil {
				t.Fatal(err)
			}
			if extra := cap(b) - len(b); extra > maxTimeBinary-15 {
				t.Errorf("encoded in %d bytes, %d more allocated", len(b), extra)
			}
			c := NewMemoryCache(CacheOptions{})
			mustPut(t, c, "s", "k", nil, tt.e)
			got, _, ok := mustGet(t, c, "s", "k", nil)
			if !ok || !reflect.DeepEqual(got, tt.e) {
				t.Fatalf("Get = %#v, %v; want %#v", got, ok, tt.e)
			}
		})
	}
}

// A stored vector reads back as the unit vector it was made from: dense,
// sparse with 16-bit indexes (an odd and an even count) and sparse past
// 65,536 dimensions.
func TestPackVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	tests := []struct {
		name     string
		dim, nnz int
	}{
		{"dense", 64, 64},
		{"sparse odd", 2048, 151},
		{"sparse even", 2048, 150},
		{"sparse 65536", 1 << 16, 40},
		{"sparse wide", 70000, 41},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := NewVector(randomSparse(rng, tt.dim, tt.nnz)).unit()
			got := storedCopy(u)
			if !slices.Equal(got.dense(), u.dense()) {
				t.Fatal("stored vector differs from the unit vector")
			}
			if want := storedVecBytes(u); want != 4*int64(len(got.val)+len(got.idx))+2*int64(len(got.idx16)) {
				t.Fatalf("counted %d bytes for %d values, %d and %d indexes", want, len(got.val), len(got.idx), len(got.idx16))
			}
		})
	}
}

// checkMemoryCache fails t unless every shard's bookkeeping agrees: the
// LRU list, the key map, the counters, the scope indexes and the free
// slots.
func checkMemoryCache(t *testing.T, c *MemoryCache) {
	t.Helper()
	var entries, bytes int64
	for si := range c.shards {
		s := &c.shards[si]
		s.mu.Lock()
		live := map[int32]bool{}
		prev := int32(-1)
		for i := s.lru.front; i >= 0; i = s.slots[i].next {
			sl := &s.slots[i]
			if sl.prev != prev || live[i] {
				t.Fatalf("shard %d: LRU list broken at slot %d", si, i)
			}
			live[i], prev = true, i
			entries++
			bytes += int64(sl.size)
			if s.items[sl.hash] != i || s.blobs[i] == nil {
				t.Errorf("shard %d: slot %d not found by its key hash", si, i)
			}
			if (sl.scope >= 0) != (s.vecs[i] != nil) {
				t.Errorf("shard %d: slot %d in scope %d with vector %v", si, i, sl.scope, s.vecs[i] != nil)
			}
		}
		if prev != s.lru.back || len(live) != s.lru.Len() || len(live) != len(s.items) {
			t.Errorf("shard %d: %d entries listed, %d counted, %d keys", si, len(live), s.lru.Len(), len(s.items))
		}
		for _, i := range s.free {
			if live[i] || s.blobs[i] != nil || s.vecs[i] != nil {
				t.Errorf("shard %d: free slot %d holds an entry", si, i)
			}
		}
		if len(live)+len(s.free) != len(s.slots) {
			t.Errorf("shard %d: %d live and %d free of %d slots", si, len(live), len(s.free), len(s.slots))
		}
		for id, idx := range s.scopes {
			if idx.key == "" && slices.Contains(s.freeScopes, int32(id)) {
				continue
			}
			if s.scopeIDs[idx.hash] != int32(id) || len(idx.order) == 0 {
				t.Errorf("shard %d: scope %d not found by its hash or empty", si, id)
			}
			for _, r := range idx.order {
				if !live[r.slot] || s.slots[r.slot].gen != r.gen || s.slots[r.slot].scope != int32(id) {
					t.Errorf("shard %d: scope %d lists slot %d, not its entry", si, id, r.slot)
				}
			}
			for tn := range idx.tables {
				for _, b := range idx.tables[tn].bkt {
					for _, r := range b.refs[:b.n] {
						if !slices.Contains(idx.order, r.ref) {
							t.Errorf("shard %d: scope %d table %d holds slot %d, not a candidate", si, id, tn, r.slot)
						}
					}
				}
			}
		}
		s.mu.Unlock()
	}
	if entries != c.entries.Load() || bytes != c.bytes.Load() {
		t.Errorf("slots hold %d entries, %d bytes; counters say %d, %d", entries, bytes, c.entries.Load(), c.bytes.Load())
	}
}

// BenchmarkMemoryCacheGC reports what a collection costs with a full
// cache (10,000 entries in 20 scopes, the local embedder's sparse
// vectors): the cache's part is the difference from an empty one.
func BenchmarkMemoryCacheGC(b *testing.B) {
	for _, entries := range []int{0, 10000} {
		b.Run(fmt.Sprint(entries, " entries"), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(13, 14))
			c := NewMemoryCache(CacheOptions{})
			for i := range entries {
				e := testEntry(fmt.Sprint("answer number ", i, " to a question that was never asked before"))
				_ = c.Put(context.Background(), fmt.Sprint("scope", i%20), fmt.Sprint("key", i), NewVector(randomSparse(rng, 2048, 150)), e)
			}
			runtime.GC()
			// The collector's CPU time, not the wall time, which waits
			// for other processes on a loaded machine.
			before := gcMarkCPU()
			for b.Loop() {
				runtime.GC()
			}
			b.ReportMetric((gcMarkCPU()-before)*1e6/float64(b.N), "mark-us/op")
			runtime.KeepAlive(c)
		})
	}
}

// gcMarkCPU returns the CPU seconds the collector has spent marking.
func gcMarkCPU() float64 {
	samples := []metrics.Sample{
		{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"},
	}
	metrics.Read(samples)
	var sum float64
	for _, s := range samples {
		sum += s.Value.Float64()
	}
	return sum
}

// A packed signature gives back each table's hash and tells near
// candidates from far ones as the hashes and sketches do unpacked: their
// differing bits counted together when both have a sketch, the hashes'
// alone otherwise.
func TestPackedSig(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	random := func(withSketch bool, from [lshTables]uint32, flips int) ([lshTables]uint32, sketch) {
		h := from
		for range flips {
			h[rng.IntN(lshTables)] ^= 1 << rng.IntN(lshBits)
		}
		return h, sketch{bits: rng.Uint64() & rng.Uint64() & rng.Uint64(), ok: withSketch} // sparse bits: some sketches are near
	}
	tests := []struct {
		name       string
		qSk, cSk   bool
		maxFlipped int
	}{
		{"both sketched", true, true, 12},
		{"query dense", false, true, 12},
		{"candidate dense", true, false, 12},
		{"both dense", false, false, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			near := 0
			for range 2000 {
				var base [lshTables]uint32
				for k := range base {
					base[k] = uint32(rng.IntN(1 << lshBits))
				}
				qh, qs := random(tt.qSk, base, 0)
				ch, cs := random(tt.cSk, base, rng.IntN(tt.maxFlipped))
				q, c := packSig(qh, qs), packSig(ch, cs)
				for k := range lshTables {
					if c.table(k) != ch[k] {
						t.Fatalf("table %d: %d, want %d", k, c.table(k), ch[k])
					}
				}
				d := hamming(&qh, &ch)
				want := d <= maxSignatureDistance
				if qs.ok && cs.ok {
					want = d+bits.OnesCount64(qs.bits^cs.bits) <= maxSketchDistance
				}
				if got := q.near(c); got != want {
					t.Fatalf("near = %v, want %v (hashes differ in %d bits)", got, want, d)
				}
				if want {
					near++
				}
			}
			if near == 0 || near == 2000 {
				t.Errorf("%d of 2000 near: the cases do not cover both answers", near)
			}
		})
	}
}
