package retrieval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"
	"time"
)

const contractDim = 16

// testChunks returns n chunks with random unit embeddings from g.
func testChunks(g *Synthetic, prefix string, n int) []Chunk {
	out := make([]Chunk, n)
	for i := range out {
		out[i] = Chunk{Seq: i, Text: fmt.Sprintf("%s chunk %d", prefix, i), Embedding: g.Next(), Meta: map[string]string{"n": fmt.Sprint(i)}}
	}
	return out
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func mustUpsert(t *testing.T, s Store, doc Document, chunks []Chunk) {
	t.Helper()
	if err := s.Upsert(context.Background(), doc, chunks); err != nil {
		t.Fatalf("Upsert(%q): %v", doc.ID, err)
	}
}

func wantCount(t *testing.T, s Store, docs, chunks int) {
	t.Helper()
	d, c, err := s.Count(context.Background())
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	if d != docs || c != chunks {
		t.Errorf("Count = %d docs, %d chunks; want %d, %d", d, c, docs, chunks)
	}
}

func hitIDs(hits []Hit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.Chunk.ID
	}
	return ids
}

// runStoreContract checks the behaviour every Store shares. open returns a
// new, empty store of dimension contractDim.
func runStoreContract(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("empty", func(t *testing.T) {
		s := open(t)
		wantCount(t, s, 0, 0)
		docs, err := s.Documents(ctx)
		if err != nil || len(docs) != 0 {
			t.Errorf("Documents = %v, %v; want none", docs, err)
		}
		hits, err := s.Search(ctx, NewSynthetic(contractDim, 1, 0, 1).Next(), 5, Filter{})
		if err != nil || len(hits) != 0 {
			t.Errorf("Search = %v, %v; want no hits", hits, err)
		}
		if _, err := s.Document(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Document(absent) error = %v, want ErrNotFound", err)
		}
		if err := s.DeleteDocument(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteDocument(absent) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("upsert, search, list", func(t *testing.T) {
		s := open(t)
		g := NewSynthetic(contractDim, 4, 0, 2)
		created := time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.UTC)
		docs := []Document{
			{ID: "b", Title: "Bee", DataOwner: "acme", Tags: []string{"x", "y"}, ContentHash: "h1", CreatedAt: created},
			{ID: "a", Title: "Ay", DataOwner: "globex", ContentHash: "h2", CreatedAt: created},
		}
		chunks := map[string][]Chunk{"b": testChunks(g, "b", 5), "a": testChunks(g, "a", 3)}
		for _, d := range docs {
			mustUpsert(t, s, d, chunks[d.ID])
		}
		wantCount(t, s, 2, 8)
		list, err := s.Documents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != "a" || list[1].ID != "b" {
			t.Fatalf("Documents = %+v, want a then b", list)
		}
		got, err := s.Document(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		want := docs[0]
		want.Chunks = 5
		if got.ID != want.ID || got.Title != want.Title || got.DataOwner != want.DataOwner || !slices.Equal(got.Tags, want.Tags) ||
			got.Chunks != want.Chunks || got.ContentHash != want.ContentHash || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("Document(b) = %+v, want %+v", got, want)
		}

		// Each chunk's own embedding finds it first, with its fields intact.
		for id, cs := range chunks {
			for _, c := range cs {
				hits, err := s.Search(ctx, c.Embedding, 3, Filter{})
				if err != nil {
					t.Fatal(err)
				}
				if len(hits) != 3 {
					t.Fatalf("Search returned %d hits, want 3", len(hits))
				}
				h := hits[0]
				if h.Chunk.DocID != id || h.Chunk.Seq != c.Seq || h.Chunk.Text != c.Text || h.Chunk.ID != fmt.Sprintf("%s#%d", id, c.Seq) {
					t.Errorf("top hit for %s#%d = %+v", id, c.Seq, h.Chunk)
				}
				if math.Abs(h.Score-1) > 1e-4 {
					t.Errorf("self score = %v, want 1", h.Score)
				}
				if h.Chunk.Meta["n"] != fmt.Sprint(c.Seq) {
					t.Errorf("meta = %v", h.Chunk.Meta)
				}
				if id == "b" && (h.Chunk.DataOwner != "acme" || !slices.Equal(h.Chunk.Tags, []string{"x", "y"})) {
					t.Errorf("chunk did not inherit owner and tags: %+v", h.Chunk)
				}
			}
		}
	})

	t.Run("scores and order match exact cosine", func(t *testing.T) {
		s := open(t)
		g := NewSynthetic(contractDim, 3, 0, 3)
		all := map[string][]float32{}
		for d := range 4 {
			id := fmt.Sprint("d", d)
			cs := testChunks(g, id, 10)
			for _, c := range cs {
				all[fmt.Sprintf("%s#%d", id, c.Seq)] = c.Embedding
			}
			mustUpsert(t, s, Document{ID: id}, cs)
		}
		q := g.Next()
		hits, err := s.Search(ctx, q, 100, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 40 {
			t.Fatalf("k larger than the store: %d hits, want all 40", len(hits))
		}
		type scored struct {
			id    string
			score float64
		}
		var exact []scored
		for id, v := range all {
			exact = append(exact, scored{id, cosine(q, v)})
		}
		sort.Slice(exact, func(i, j int) bool { return exact[i].score > exact[j].score })
		for i, h := range hits {
			if math.Abs(h.Score-exact[i].score) > 1e-4 {
				t.Errorf("hit %d: %s score %.5f, exact rank %d is %s %.5f", i, h.Chunk.ID, h.Score, i, exact[i].id, exact[i].score)
			}
			if want := cosine(q, all[h.Chunk.ID]); math.Abs(h.Score-want) > 1e-4 {
				t.Errorf("hit %s score %.5f, cosine %.5f", h.Chunk.ID, h.Score, want)
			}
		}
	})

	t.Run("re-upsert replaces chunks", func(t *testing.T) {
		s := open(t)
		g := NewSynthetic(contractDim, 2, 0, 4)
		old := testChunks(g, "old", 4)
		mustUpsert(t, s, Document{ID: "d", Title: "v1", ContentHash: "1"}, old)
		mustUpsert(t, s, Document{ID: "other"}, testChunks(g, "other", 2))
		repl := testChunks(g, "new", 2)
		mustUpsert(t, s, Document{ID: "d", Title: "v2", ContentHash: "2"}, repl)
		wantCount(t, s, 2, 4)
		d, err := s.Document(ctx, "d")
		if err != nil || d.Title != "v2" || d.ContentHash != "2" || d.Chunks != 2 {
			t.Errorf("Document(d) = %+v, %v; want v2 with 2 chunks", d, err)
		}
		for _, c := range old {
			hits, err := s.Search(ctx, c.Embedding, 10, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				if h.Chunk.DocID == "d" && h.Chunk.Text[:3] == "old" {
					t.Errorf("replaced chunk %q still found", h.Chunk.Text)
				}
			}
		}
		hits, err := s.Search(ctx, repl[1].Embedding, 1, Filter{})
		if err != nil || len(hits) != 1 || hits[0].Chunk.Text != repl[1].Text {
			t.Errorf("new chunk not found: %v, %v", hits, err)
		}
		// A document may shrink to no chunks at all.
		mustUpsert(t, s, Document{ID: "d"}, nil)
		wantCount(t, s, 2, 2)
	})

	t.Run("delete", func(t *testing.T) {
		s := open(t)
		g := NewSynthetic(contractDim, 2, 0, 5)
		gone := testChunks(g, "gone", 3)
		mustUpsert(t, s, Document{ID: "gone"}, gone)
		mustUpsert(t, s, Document{ID: "kept"}, testChunks(g, "kept", 3))
		if err := s.DeleteDocument(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		wantCount(t, s, 1, 3)
		if _, err := s.Document(ctx, "gone"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Document(deleted) error = %v, want ErrNotFound", err)
		}
		if err := s.DeleteDocument(ctx, "gone"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete error = %v, want ErrNotFound", err)
		}
		hits, err := s.Search(ctx, gone[0].Embedding, 10, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 3 {
			t.Errorf("got %d hits, want the 3 remaining", len(hits))
		}
		for _, h := range hits {
			if h.Chunk.DocID == "gone" {
				t.Errorf("deleted chunk %s returned", h.Chunk.ID)
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		s := open(t)
		g := NewSynthetic(contractDim, 3, 0, 6)
		type meta struct {
			owner string
			tags  []string
		}
		docs := map[string]meta{
			"a1": {"acme", []string{"legal"}},
			"a2": {"acme", []string{"hr", "legal"}},
			"g1": {"globex", []string{"hr"}},
			"g2": {"globex", nil},
			"i1": {"initech", []string{"finance"}},
		}
		for id, m := range docs {
			mustUpsert(t, s, Document{ID: id, DataOwner: m.owner, Tags: m.tags}, testChunks(g, id, 6))
		}
		// A chunk may override its document's owner and tags.
		mustUpsert(t, s, Document{ID: "mixed", DataOwner: "acme"}, []Chunk{
			{Seq: 0, Text: "mixed 0", Embedding: g.Next()},
			{Seq: 1, Text: "mixed 1", Embedding: g.Next(), DataOwner: "initech", Tags: []string{"hr"}},
		})
		chunkMeta := func(docID string, seq int) meta {
			if docID == "mixed" {
				if seq == 1 {
					return meta{"initech", []string{"hr"}}
				}
				return meta{"acme", nil}
			}
			return docs[docID]
		}
		tests := []struct {
			name string
			f    Filter
			want func(m meta) bool
		}{
			{"exclude acme", Filter{ExcludeDataOwners: []string{"acme"}}, func(m meta) bool { return m.owner != "acme" }},
			{"exclude two", Filter{ExcludeDataOwners: []string{"acme", "globex"}}, func(m meta) bool { return m.owner == "initech" }},
			{"only globex", Filter{OnlyDataOwners: []string{"globex"}}, func(m meta) bool { return m.owner == "globex" }},
			{"tag hr", Filter{Tags: []string{"hr"}}, func(m meta) bool { return slices.Contains(m.tags, "hr") }},
			{"tags any of", Filter{Tags: []string{"finance", "legal"}}, func(m meta) bool {
				return slices.Contains(m.tags, "finance") || slices.Contains(m.tags, "legal")
			}},
			{"tag and exclude", Filter{Tags: []string{"hr"}, ExcludeDataOwners: []string{"acme"}}, func(m meta) bool {
				return slices.Contains(m.tags, "hr") && m.owner != "acme"
			}},
			{"only and exclude", Filter{OnlyDataOwners: []string{"acme", "globex"}, ExcludeDataOwners: []string{"acme"}}, func(m meta) bool { return m.owner == "globex" }},
			{"nothing matches", Filter{Tags: []string{"none"}}, func(meta) bool { return false }},
		}
		q := g.Next()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want := 0
				for id := range docs {
					if tt.want(docs[id]) {
						want += 6
					}
				}
				for seq := range 2 {
					if tt.want(chunkMeta("mixed", seq)) {
						want++
					}
				}
				hits, err := s.Search(ctx, q, 100, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if len(hits) != want {
					t.Errorf("%d hits, want %d: %v", len(hits), want, hitIDs(hits))
				}
				for _, h := range hits {
					if !tt.want(chunkMeta(h.Chunk.DocID, h.Chunk.Seq)) {
						t.Errorf("hit %s (owner %s, tags %v) violates the filter", h.Chunk.ID, h.Chunk.DataOwner, h.Chunk.Tags)
					}
				}
				for i := 1; i < len(hits); i++ {
					if hits[i].Score > hits[i-1].Score+1e-6 {
						t.Errorf("hits out of order at %d: %v > %v", i, hits[i].Score, hits[i-1].Score)
					}
				}
				// A small k returns the best matching ones.
				top, err := s.Search(ctx, q, 3, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(hitIDs(top), hitIDs(hits[:min(3, len(hits))])) {
					t.Errorf("top 3 = %v, want %v", hitIDs(top), hitIDs(hits[:min(3, len(hits))]))
				}
			})
		}
	})

	t.Run("dimension mismatch", func(t *testing.T) {
		s := open(t)
		bad := []Chunk{{Seq: 0, Text: "short", Embedding: make([]float32, contractDim-1)}}
		bad[0].Embedding[0] = 1
		if err := s.Upsert(ctx, Document{ID: "d"}, bad); !errors.Is(err, ErrDimension) {
			t.Errorf("Upsert with %d dimensions: error %v, want ErrDimension", contractDim-1, err)
		}
		wantCount(t, s, 0, 0)
		if _, err := s.Search(ctx, make([]float32, contractDim+1), 1, Filter{}); !errors.Is(err, ErrDimension) {
			t.Errorf("Search with %d dimensions: error %v, want ErrDimension", contractDim+1, err)
		}
	})

	t.Run("invalid documents", func(t *testing.T) {
		s := open(t)
		g := NewSynthetic(contractDim, 1, 0, 14)
		v := g.Next()
		tests := []struct {
			name   string
			doc    Document
			chunks []Chunk
		}{
			{"no ID", Document{}, []Chunk{{Seq: 0, Embedding: v}}},
			{"duplicate chunk IDs", Document{ID: "d"}, []Chunk{{Seq: 1, Embedding: v}, {Seq: 1, Embedding: v}}},
			{"zero embedding", Document{ID: "d"}, []Chunk{{Seq: 0, Embedding: make([]float32, contractDim)}}},
		}
		for _, tt := range tests {
			if err := s.Upsert(ctx, tt.doc, tt.chunks); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: error %v, want ErrInvalid", tt.name, err)
			}
		}
		wantCount(t, s, 0, 0)
	})
}
