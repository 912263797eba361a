package api

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/retrieval"
)

// knowledgeStore joins a store and its ingester, as cmd/gateway does.
type knowledgeStore struct {
	retrieval.Store
	*retrieval.Ingester
}

// failingEmbedder is the local embedder, except that it fails on texts
// containing "EMBED-FAIL": an embedding service failing mid-batch.
type failingEmbedder struct{ embed.Embedder }

func (f failingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	for _, t := range texts {
		if strings.Contains(t, "EMBED-FAIL") {
			return nil, errors.New("embedding service unavailable")
		}
	}
	return f.Embedder.Embed(ctx, texts)
}

func TestKnowledgeIDsAndBatches(t *testing.T) {
	store, err := retrieval.OpenEmbedded(t.TempDir(), 256, retrieval.EmbeddedOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	env := newTestEnv(t, Options{}, gateway.Options{}, func(d *gateway.Deps) {
		d.Retrieval = knowledgeStore{store, &retrieval.Ingester{Store: store, Embedder: failingEmbedder{embed.NewLocal(256)}}}
	})
	adm := []string{"Authorization", "Bearer admin-token"}
	ids := func() string {
		docs, _ := store.Documents(context.Background())
		var out []string
		for _, d := range docs {
			out = append(out, d.ID)
		}
		return strings.Join(out, ",")
	}

	w := env.do("POST", "/admin/knowledge", `{"documents":[{"id":"guides/setup.md","text":"how to set up"},{"id":"odd id?#%","text":"odd text"},{"id":"plain","text":"plain text"}]}`, adm...)
	if w.Code != 201 {
		t.Fatalf("ingest: %d %s", w.Code, w.Body)
	}
	for _, path := range []string{"/admin/knowledge/guides/setup.md", "/admin/knowledge?id=" + url.QueryEscape("odd id?#%"), "/admin/knowledge/plain"} {
		if w := env.do("DELETE", path, "", adm...); w.Code != 204 {
			t.Fatalf("DELETE %s: %d %s", path, w.Code, w.Body)
		}
	}
	if got := ids(); got != "" {
		t.Fatalf("documents left: %s", got)
	}
	assertError(t, env.do("DELETE", "/admin/knowledge/guides/none", "", adm...), 404, "document_not_found", "")
	assertError(t, env.do("DELETE", "/admin/knowledge", "", adm...), 400, "", "id")

	// A bad document anywhere in a batch stores none of it.
	env.do("POST", "/admin/knowledge", `{"id":"kept","text":"already here"}`, adm...)
	assertError(t, env.do("POST", "/admin/knowledge", `{"documents":[{"id":"a","text":"first"},{"id":"b","text":"   "}]}`, adm...), 400, "", "documents[1].text")
	if got := ids(); got != "kept" {
		t.Fatalf("after a rejected batch: %s", got)
	}
	// A failure while storing (the embedder, at the third document) removes
	// the batch's new documents again.
	w = env.do("POST", "/admin/knowledge", `{"documents":[{"id":"a","text":"first"},{"id":"b","text":"second"},{"id":"c","text":"EMBED-FAIL"}]}`, adm...)
	if w.Code < 400 {
		t.Fatalf("failing batch: %d %s", w.Code, w.Body)
	}
	if got := ids(); got != "kept" {
		t.Fatalf("after a failed batch: %s", got)
	}
}
