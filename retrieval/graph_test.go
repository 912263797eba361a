package retrieval

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
)

func TestGraphExportImport(t *testing.T) {
	data := NewSynthetic(32, 10, 0, 17).NextN(3000)
	h, index := buildHNSW(32, HNSWOptions{}, data, 2)
	queries := NewSynthetic(32, 10, 0, 17).NextN(50)

	// Everything, in id order: the copy answers exactly like the original.
	order := make([]uint32, h.Len())
	vecs := make([][]float32, h.Len())
	for i := range order {
		order[i] = uint32(i)
		vecs[i] = data[index[i]]
	}
	g := h.exportGraph(order)
	c, err := importGraph(32, HNSWOptions{}, vecs, g)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if a, b := h.Search(q, 10, 0, nil), c.Search(q, 10, 0, nil); !slices.Equal(a, b) {
			t.Fatalf("imported graph answers %v, original %v", b, a)
		}
	}
	if !bytes.Equal(c.exportGraph(order), g) {
		t.Error("export of the import differs")
	}

	// Without the deleted nodes, renumbered: still finds every live node.
	var live []uint32
	var liveVecs [][]float32
	for id := range uint32(h.Len()) {
		if id%3 == 0 {
			h.Delete(id)
			continue
		}
		live = append(live, id)
		liveVecs = append(liveVecs, data[index[id]])
	}
	c, err = importGraph(32, HNSWOptions{}, liveVecs, h.exportGraph(live))
	if err != nil {
		t.Fatal(err)
	}
	c.Repair()
	// Reachability is structural: a second Repair finds nothing to mend.
	if n := c.Repair(); n != 0 {
		t.Fatalf("%d live nodes unreachable after compaction and Repair", n)
	}
	// A wide beam finds (nearly) every node. Not every one: beam search is
	// not a graph walk, and a 2-goroutine build makes the graph, so its
	// rare misses, differ from run to run.
	missed := 0
	for i, v := range liveVecs {
		if r := c.Search(v, 1, 256, nil); len(r) != 1 || r[0].id != uint32(i) && r[0].dist > 1e-6 {
			missed++
		}
	}
	if missed > len(liveVecs)/500 {
		t.Fatalf("a wide beam misses %d of %d live nodes after compaction", missed, len(liveVecs))
	}

	// Damaged exports are refused, not trusted.
	for _, bad := range [][]byte{nil, g[:len(g)/2], append(slices.Clone(g), 7)} {
		if _, err := importGraph(32, HNSWOptions{}, vecs, bad); err == nil {
			t.Errorf("importGraph accepted a damaged graph of %d bytes", len(bad))
		}
	}
}

// TestEmbeddedLoadsSavedGraph checks that reopening a store loads the
// graph saved with the snapshot rather than rebuilding it, and applies the
// log written after it.
func TestEmbeddedLoadsSavedGraph(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := NewSynthetic(contractDim, 20, 0, 18)
	e := openTestEmbedded(t, dir, contractDim)
	for d := range 30 {
		mustUpsert(t, e, Document{ID: fmt.Sprint(d)}, testChunks(g, fmt.Sprint(d), 100))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openTestEmbedded(t, dir, contractDim)
	docs, saved, err := e.loadSnapshot()
	if err != nil || saved == nil {
		t.Fatalf("snapshot has no graph: %v", err)
	}
	var order []uint32
	for _, r := range docs {
		order = append(order, e.docs[r.doc.ID].nodes...)
	}
	if !bytes.Equal(e.idx.exportGraph(order), saved) {
		t.Error("the reopened store's graph is not the saved one")
	}
	extra := testChunks(g, "extra", 50)
	mustUpsert(t, e, Document{ID: "extra"}, extra)
	if err := e.DeleteDocument(ctx, "3"); err != nil {
		t.Fatal(err)
	}
	e.wal.Close() // crash: no Close, no snapshot
	e.lock.Close()

	e = openTestEmbedded(t, dir, contractDim)
	defer e.Close()
	wantCount(t, e, 30, 30*100+50-100)
	for _, c := range extra[:10] {
		hits, err := e.Search(ctx, c.Embedding, 1, Filter{})
		if err != nil || len(hits) != 1 || hits[0].Chunk.Text != c.Text {
			t.Errorf("%q not found: %v %v", c.Text, hits, err)
		}
	}
}
