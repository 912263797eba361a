package retrieval

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/moegate/moegate/internal/vec"
)

func openTestEmbedded(t *testing.T, dir string, dim int) *Embedded {
	t.Helper()
	e, err := OpenEmbedded(dir, dim, EmbeddedOptions{})
	if err != nil {
		t.Fatalf("OpenEmbedded: %v", err)
	}
	return e
}

func TestEmbeddedContract(t *testing.T) {
	runStoreContract(t, func(t *testing.T) Store {
		e := openTestEmbedded(t, t.TempDir(), contractDim)
		t.Cleanup(func() { e.Close() })
		return e
	})
}

// TestEmbeddedReopen checks that documents survive Close and reopen, both
// from the log alone and from a snapshot plus log.
func TestEmbeddedReopen(t *testing.T) {
	ctx := context.Background()
	for _, snapshotBytes := range []int64{1 << 30, 1} {
		dir := t.TempDir()
		g := NewSynthetic(contractDim, 3, 0, 8)
		e, err := OpenEmbedded(dir, contractDim, EmbeddedOptions{SnapshotBytes: snapshotBytes})
		if err != nil {
			t.Fatal(err)
		}
		keep := testChunks(g, "keep", 5)
		mustUpsert(t, e, Document{ID: "keep", Title: "Keep", DataOwner: "o", Tags: []string{"t"}}, keep)
		mustUpsert(t, e, Document{ID: "gone"}, testChunks(g, "gone", 5))
		mustUpsert(t, e, Document{ID: "swap"}, testChunks(g, "old", 5))
		swapped := testChunks(g, "new", 2)
		mustUpsert(t, e, Document{ID: "swap"}, swapped)
		if err := e.DeleteDocument(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		// Drop the store without Close, as a crash would: release the lock
		// only.
		e.lock.Close()
		e.wal.Close()

		e = openTestEmbedded(t, dir, contractDim)
		wantCount(t, e, 2, 7)
		d, err := e.Document(ctx, "keep")
		if err != nil || d.Title != "Keep" || d.DataOwner != "o" || d.Chunks != 5 {
			t.Errorf("after reopen Document(keep) = %+v, %v", d, err)
		}
		for _, c := range append(keep, swapped...) {
			hits, err := e.Search(ctx, c.Embedding, 1, Filter{})
			if err != nil || len(hits) != 1 || hits[0].Chunk.Text != c.Text {
				t.Errorf("snapshotBytes=%d: %q not found after reopen: %v %v", snapshotBytes, c.Text, hits, err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		// Close wrote a snapshot; a third open reads it.
		e = openTestEmbedded(t, dir, contractDim)
		wantCount(t, e, 2, 7)
		e.Close()
	}
}

func TestEmbeddedDimensionAndLock(t *testing.T) {
	dir := t.TempDir()
	e := openTestEmbedded(t, dir, 8)
	if _, err := OpenEmbedded(dir, 8, EmbeddedOptions{}); err == nil {
		t.Error("a second open of the same directory succeeded")
	}
	e.Close()
	if _, err := OpenEmbedded(dir, 9, EmbeddedOptions{}); !errors.Is(err, ErrDimension) {
		t.Errorf("reopening with another dimension: error %v, want ErrDimension", err)
	}
}

// TestEmbeddedCompaction checks that re-upserting over and over rebuilds
// the graph without the dead nodes once they outweigh the live ones.
func TestEmbeddedCompaction(t *testing.T) {
	ctx := context.Background()
	g := NewSynthetic(contractDim, 3, 0, 9)
	e, err := OpenEmbedded(t.TempDir(), contractDim, EmbeddedOptions{SnapshotBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var last []Chunk
	for range 30 {
		last = testChunks(g, "d", 100)
		mustUpsert(t, e, Document{ID: "d"}, last)
	}
	wantCount(t, e, 1, 100)
	if n := e.idx.Len(); n > 1500 {
		t.Errorf("graph holds %d nodes for 100 live chunks: never compacted", n)
	}
	for _, c := range last[:10] {
		hits, err := e.Search(ctx, c.Embedding, 1, Filter{})
		if err != nil || len(hits) != 1 || hits[0].Chunk.Text != c.Text {
			t.Errorf("%q not found after compaction: %v %v", c.Text, hits, err)
		}
	}
}

// openBenchStore returns an embedded store of n 384-dimensional chunks in
// documents of 100, a tenth of them owned by "rare".
func openBenchStore(b *testing.B, n int) (*Embedded, [][]float32) {
	g := NewSynthetic(384, 100, 0, 1)
	e, err := OpenEmbedded(b.TempDir(), 384, EmbeddedOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	for d := 0; d*100 < n; d++ {
		owner := "common"
		if d%10 == 0 {
			owner = "rare"
		}
		if err := e.Upsert(context.Background(), Document{ID: fmt.Sprint(d), DataOwner: owner}, testChunks(g, "b", 100)); err != nil {
			b.Fatal(err)
		}
	}
	return e, g.NextN(256)
}

func BenchmarkEmbeddedSearch(b *testing.B) {
	e, queries := openBenchStore(b, 10000)
	for _, bm := range []struct {
		name string
		f    Filter
	}{
		{"nofilter", Filter{}},
		{"exclude10pct", Filter{ExcludeDataOwners: []string{"rare"}}},
		{"only10pct", Filter{OnlyDataOwners: []string{"rare"}}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := e.Search(context.Background(), queries[i%len(queries)], 10, bm.f); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkEmbeddedUpsert measures a durable (fsynced) upsert of a
// 10-chunk document into a store of 10k chunks.
func BenchmarkEmbeddedUpsert(b *testing.B) {
	g := NewSynthetic(384, 100, 0, 2)
	e, err := OpenEmbedded(b.TempDir(), 384, EmbeddedOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for d := range 100 {
		mustUpsertB(b, e, Document{ID: fmt.Sprint("base", d)}, testChunks(g, "b", 100))
	}
	i := 0
	for b.Loop() {
		mustUpsertB(b, e, Document{ID: fmt.Sprint(i % 50)}, testChunks(g, "u", 10))
		i++
	}
}

func mustUpsertB(b *testing.B, s Store, doc Document, chunks []Chunk) {
	if err := s.Upsert(context.Background(), doc, chunks); err != nil {
		b.Fatal(err)
	}
}

// TestEmbeddedFilteredRecall checks filtered searches on a store large
// enough to use the graph (and, for selective filters, the postings scan)
// against brute force over the chunks the filter allows.
func TestEmbeddedFilteredRecall(t *testing.T) {
	ctx := context.Background()
	g := NewSynthetic(32, 30, 0, 19)
	e := openTestEmbedded(t, t.TempDir(), 32)
	defer e.Close()
	type stored struct {
		owner string
		tags  []string
		vec   []float32
	}
	all := map[string]stored{}
	for d := range 80 {
		owner := fmt.Sprint("o", d%4)
		tags := []string{fmt.Sprint("t", d%5)}
		cs := testChunks(g, fmt.Sprint(d), 100)
		mustUpsert(t, e, Document{ID: fmt.Sprint(d), DataOwner: owner, Tags: tags}, cs)
		for _, c := range cs {
			all[fmt.Sprintf("%d#%d", d, c.Seq)] = stored{owner, tags, c.Embedding}
		}
	}
	for _, f := range []Filter{
		{ExcludeDataOwners: []string{"o0"}},    // graph, 75% allowed
		{OnlyDataOwners: []string{"o1", "o2"}}, // graph, 50%
		{OnlyDataOwners: []string{"o3"}},       // postings scan, 25%
		{Tags: []string{"t1"}},                 // postings scan, 20%
		{Tags: []string{"t1", "t2"}},           // two postings lists, 40%
	} {
		m := compile(f)
		hits, total := 0, 0
		for range 20 {
			q := g.Next()
			var want []candidate
			var ids []string
			for id, s := range all {
				if m.match(s.owner, s.tags) {
					ids = append(ids, id)
					want = append(want, candidate{1 - vec.Dot(q, s.vec), uint32(len(ids) - 1)})
				}
			}
			slices.SortFunc(want, func(a, b candidate) int { return cmp.Compare(a.dist, b.dist) })
			exact := map[string]bool{}
			for _, c := range want[:10] {
				exact[ids[c.id]] = true
			}
			got, err := e.Search(ctx, q, 10, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range got {
				if !m.match(h.Chunk.DataOwner, h.Chunk.Tags) {
					t.Errorf("filter %+v: hit %s violates it", f, h.Chunk.ID)
				}
				if exact[h.Chunk.ID] {
					hits++
				}
			}
			total += 10
		}
		if r := float64(hits) / float64(total); r < 0.95 {
			t.Errorf("filter %+v: recall@10 = %.3f, want >= 0.95", f, r)
		}
	}
}

// TestEmbeddedConcurrentUse runs upserts, deletes and searches at once;
// with -race it checks the locking.
func TestEmbeddedConcurrentUse(t *testing.T) {
	ctx := context.Background()
	e, err := OpenEmbedded(t.TempDir(), contractDim, EmbeddedOptions{NoSync: true, SnapshotBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			g := NewSynthetic(contractDim, 5, 0, uint64(20+w))
			for i := range 60 {
				id := fmt.Sprint(w, "-", i%20)
				if err := e.Upsert(ctx, Document{ID: id, DataOwner: fmt.Sprint(w)}, testChunks(g, id, 30)); err != nil {
					t.Error(err)
					return
				}
				if i%7 == 6 {
					e.DeleteDocument(ctx, id)
				}
			}
		})
		wg.Go(func() {
			g := NewSynthetic(contractDim, 5, 0, uint64(30+w))
			for range 300 {
				hits, err := e.Search(ctx, g.Next(), 5, Filter{OnlyDataOwners: []string{fmt.Sprint(w)}})
				if err != nil {
					t.Error(err)
					return
				}
				for _, h := range hits {
					if h.Chunk.DataOwner != fmt.Sprint(w) {
						t.Errorf("hit owned by %q", h.Chunk.DataOwner)
					}
				}
			}
		})
	}
	wg.Wait()
	docs, chunks, _ := e.Count(ctx)
	if chunks != docs*30 {
		t.Errorf("%d documents but %d chunks", docs, chunks)
	}
}
