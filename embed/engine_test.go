package embed_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/engine"
	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
	"github.com/moegate/moegate/internal/vec"
)

// The engine's embedding models are the in-process Embedder kind (config
// embed.kind: engine): the gateway uses them through this interface.
var _ embed.Embedder = (*engine.Embedder)(nil)

// TestEngineEmbedder uses an engine embedding model through the Embedder
// interface: unit vectors of the model's width, a text nearest to itself.
func TestEngineEmbedder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bert.gguf")
	spec := modelgen.Spec{Arch: "bert", Type: tensor.F16, Layers: 2, Hidden: 64, Heads: 4, FFN: 128, Vocab: 400, Context: 64, Seed: 2}
	if err := modelgen.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	e, err := engine.OpenEmbedder(context.Background(), path, engine.EmbedOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var emb embed.Embedder = e
	texts := []string{"transfer money to savings", "book a flight to lisbon", "transfer money to savings"}
	vecs, err := emb.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if emb.Dim() != spec.Hidden || len(vecs) != len(texts) {
		t.Fatalf("Dim %d, %d vectors", emb.Dim(), len(vecs))
	}
	if self, other := vec.Dot(vecs[0], vecs[2]), vec.Dot(vecs[0], vecs[1]); self < 0.9999 || other >= self {
		t.Errorf("cosine with itself %g, with another text %g", self, other)
	}
}
