package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/internal/errs"
)

// DefaultEmbedModel is the name clients use for the gateway's embedder.
const DefaultEmbedModel = "moegate-embed"

// MaxEmbedDimensions bounds the dimensions a request may ask of the local
// embedder.
const MaxEmbedDimensions = 1 << 16

// EmbedModels are the names the gateway's embedder answers to.
func (g *Gateway) EmbedModels() []string { return g.opts.EmbedModels }

// EmbedAs embeds texts for /v1/embeddings: model must name the gateway's
// embedder; dimensions (0: the embedder's own) is honoured by the local
// embedder, whose features hash into any number of buckets, and refused
// by one that cannot change its size.
func (g *Gateway) EmbedAs(ctx context.Context, model string, dimensions int, texts []string) ([][]float32, error) {
	if !slices.Contains(g.opts.EmbedModels, model) {
		return nil, &errs.Error{Kind: errs.NotFound, Code: "model_not_found", Param: "model",
			Err: fmt.Errorf("The model '%s' is not an embedding model of this gateway; use %s.", model, strings.Join(g.opts.EmbedModels, " or "))}
	}
	emb := g.deps.Embedder
	if dimensions != 0 && dimensions != emb.Dim() {
		if _, local := emb.(*embed.Local); !local || dimensions < 1 || dimensions > MaxEmbedDimensions {
			return nil, errs.Param("dimensions", "The embedder '%s' produces %d dimensions and cannot produce %d.", model, emb.Dim(), dimensions)
		}
		emb = embed.NewLocal(dimensions)
	}
	vecs, err := emb.Embed(ctx, texts)
	if err != nil {
		return nil, errs.E(errs.UpstreamFailed, "Embedding failed: %w", err).WithCode("embedding_failed")
	}
	return vecs, nil
}
