package retrieval

import (
	"context"
	"errors"
	"testing"
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
