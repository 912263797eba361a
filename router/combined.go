package router

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/moegate/moegate/embed"
)

// Combined gives the router the vectors of any embedder (an
// OpenAI-compatible endpoint, the local engine) next to the local hashed
// features: the local block captures wording, the dense one meaning. A
// Learned router over a Combined trains and routes on both; over the dense
// embedder alone it routes on its vectors only. Vectors are the local
// block followed by DenseWeight times the dense block, L2-normalised.
type Combined struct {
	local  SparseFeatures
	dense  embed.Embedder
	name   string
	weight float32
}

// NewCombined returns the features of local and dense together. name
// identifies the dense embedder (its model, say) in the feature version,
// so that a model trained on another embedder's vectors is refused;
// weight scales the dense block (0: 1). The dense embedder must know its
// dimension.
func NewCombined(local SparseFeatures, dense embed.Embedder, name string, weight float64) (*Combined, error) {
	if dense.Dim() <= 0 {
		return nil, errors.New("router: the dense embedder of combined features must know its dimension (configure it)")
	}
	if weight <= 0 {
		weight = 1
	}
	return &Combined{local: local, dense: dense, name: name, weight: float32(weight)}, nil
}

// Dim implements embed.Embedder.
func (c *Combined) Dim() int { return c.local.Dim() + c.dense.Dim() }

// FeatureVersion names the local features, the dense embedder and its
// weight.
func (c *Combined) FeatureVersion() string {
	return fmt.Sprintf("%s+%s*%g", c.local.FeatureVersion(), c.name, c.weight)
}

// Embed implements embed.Embedder with dense vectors (the router itself
// uses embedSparse).
func (c *Combined) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	xs, err := c.embedSparse(ctx, texts)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(xs))
	for i, x := range xs {
		out[i] = make([]float32, c.Dim())
		for k, j := range x.idx {
			out[i][j] = x.val[k]
		}
	}
	return out, nil
}

// embedSparse embeds texts with both embedders: one batch to the dense
// one.
func (c *Combined) embedSparse(ctx context.Context, texts []string) ([]sparse, error) {
	dense, err := c.dense.Embed(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("router: dense features: %w", err)
	}
	if len(dense) != len(texts) {
		return nil, fmt.Errorf("router: dense embedder returned %d vectors for %d texts", len(dense), len(texts))
	}
	out := make([]sparse, len(texts))
	for i, t := range texts {
		if out[i], err = c.join(t, dense[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// join makes the combined features of text from its dense vector.
func (c *Combined) join(text string, dense []float32) (sparse, error) {
	if len(dense) != c.dense.Dim() {
		return sparse{}, fmt.Errorf("%w: dense vector of dimension %d, want %d", ErrBadModel, len(dense), c.dense.Dim())
	}
	var x sparse
	x.idx, x.val = c.local.AppendSparse(nil, nil, text)
	var ss float64
	for _, v := range dense {
		ss += float64(v) * float64(v)
	}
	scale := c.weight
	if ss > 0 {
		scale /= float32(math.Sqrt(ss))
	}
	off := int32(c.local.Dim())
	for j, v := range dense {
		if v != 0 {
			x.idx = append(x.idx, off+int32(j))
			x.val = append(x.val, v*scale)
		}
	}
	norm := float32(1 / math.Sqrt(1+float64(c.weight*c.weight)))
	for k := range x.val {
		x.val[k] *= norm
	}
	return x, nil
}

// SparseFeatures are hashed features computed sparsely, with a version:
// embed.Local or Lexical.
type SparseFeatures interface {
	embed.Embedder
	FeatureVersion() string
	AppendSparse(idx []int32, val []float32, text string) ([]int32, []float32)
}

// sparseBatchEmbedder is implemented by feature sets that embed into
// sparse vectors in batches and may fail (Combined).
type sparseBatchEmbedder interface {
	embedSparse(ctx context.Context, texts []string) ([]sparse, error)
}
