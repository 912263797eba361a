package retrieval

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/moegate/moegate/embed"
)

// countingStore counts Upserts to a real store.
type countingStore struct {
	Store
	upserts int
}

func (c *countingStore) Upsert(ctx context.Context, doc Document, chunks []Chunk) error {
	c.upserts++
	return c.Store.Upsert(ctx, doc, chunks)
}

// countingEmbedder records batch sizes of a real embedder.
type countingEmbedder struct {
	embed.Embedder
	batches []int
}

func (c *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.batches = append(c.batches, len(texts))
	return c.Embedder.Embed(ctx, texts)
}

func TestIngest(t *testing.T) {
	ctx := context.Background()
	const dim = 256
	e := openTestEmbedded(t, t.TempDir(), dim)
	defer e.Close()
	store := &countingStore{Store: e}
	emb := &countingEmbedder{Embedder: embed.NewLocal(dim)}
	in := &Ingester{Store: store, Embedder: emb, BatchSize: 4, Chunking: ChunkOptions{MaxChars: 120}}

	var text strings.Builder
	for i := range 30 {
		fmt.Fprintf(&text, "Paragraph %d talks about topic%d and nothing else at all.\n\n", i, i)
	}
	doc, changed, err := in.Ingest(ctx, IngestDoc{Title: "Staff Handbook (2025)", Text: text.String(), DataOwner: "acme", Tags: []string{"hr"}})
	if err != nil || !changed {
		t.Fatalf("Ingest = %v, %v, %v", doc, changed, err)
	}
	if doc.ID != "staff-handbook-2025" {
		t.Errorf("ID = %q, want the slug of the title", doc.ID)
	}
	want := len(SplitText(text.String(), in.Chunking))
	if doc.Chunks != want || doc.DataOwner != "acme" || !strings.HasPrefix(doc.ContentHash, "sha256:") {
		t.Errorf("Document = %+v, want %d chunks, owner acme and a content hash", doc, want)
	}
	for _, b := range emb.batches {
		if b > 4 {
			t.Errorf("embedding batch of %d, limit 4", b)
		}
	}
	hits, err := store.Search(ctx, embed.NewLocal(dim).Vector("what about topic17"), 1, Filter{Tags: []string{"hr"}})
	if err != nil || len(hits) != 1 || !strings.Contains(hits[0].Chunk.Text, "topic17") || hits[0].Chunk.Meta["title"] != "Staff Handbook (2025)" {
		t.Errorf("search for topic17 = %+v, %v", hits, err)
	}

	// The same content again: no embedding, no write.
	calls, upserts := len(emb.batches), store.upserts
	again, changed, err := in.Ingest(ctx, IngestDoc{Title: "Staff Handbook (2025)", Text: text.String(), DataOwner: "acme", Tags: []string{"hr"}})
	if err != nil || changed || again.ContentHash != doc.ContentHash {
		t.Errorf("re-ingest = %+v, changed %v, %v; want unchanged", again, changed, err)
	}
	if len(emb.batches) != calls || store.upserts != upserts {
		t.Errorf("re-ingest did work: %d embed calls, %d upserts", len(emb.batches)-calls, store.upserts-upserts)
	}

	// New tags are a change.
	if _, changed, _ := in.Ingest(ctx, IngestDoc{Title: "Staff Handbook (2025)", Text: text.String(), DataOwner: "acme", Tags: []string{"legal"}}); !changed {
		t.Error("changing tags was not a change")
	}
	// New text replaces the chunks.
	doc2, changed, err := in.Ingest(ctx, IngestDoc{Title: "Staff Handbook (2025)", Text: "Only one line now."})
	if err != nil || !changed || doc2.Chunks != 1 {
		t.Errorf("changed text: %+v, %v, %v", doc2, changed, err)
	}
	wantCount(t, store, 1, 1)

	// Without a title the ID comes from the content.
	d3, _, err := in.Ingest(ctx, IngestDoc{Text: "Untitled note."})
	if err != nil || !strings.HasPrefix(d3.ID, "doc-") {
		t.Errorf("untitled: %+v, %v", d3, err)
	}
}

func TestSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Hello, World!", "hello-world"},
		{"  --a--b--  ", "a-b"},
		{"Ünïcode Straße 2", "ünïcode-straße-2"},
		{"!!!", ""},
		{strings.Repeat("ab ", 60), strings.Repeat("ab-", 26) + "ab"},
	}
	for _, tt := range tests {
		if got := Slug(tt.in); got != tt.want {
			t.Errorf("Slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
