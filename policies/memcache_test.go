package policies

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
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
// and when it moves from one to the other midway.
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
			b = b[:len(b)-1]
		} else {
			b = append(slices.Clone(b), lshRef{sig: [lshTables]uint32{uint32(step)}})
		}
		want[h] = b
		for _, tb := range []*lshTable{&small, &large, &moved} {
			tb.set(h, slices.Clone(b))
		}
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
// more, which an entry would otherwise hold for its whole life).
func TestMemoryCacheCopiesAnswer(t *testing.T) {
	c := NewMemoryCache(CacheOptions{})
	buf := make([]byte, 4096)
	n := copy(buf, "the answer")
	if err := c.Put(context.Background(), "s", "e", nil, testEntry(unsafe.String(&buf[0], n))); err != nil {
		t.Fatal(err)
	}
	me := c.shard("s").items["s\x00e"]
	if me == nil || me.e.Content != "the answer" {
		t.Fatalf("entry not stored: %+v", me)
	}
	if unsafe.StringData(me.e.Content) == &buf[0] {
		t.Fatal("the entry shares the caller's buffer")
	}
}
