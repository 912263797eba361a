// Package embed turns text into vectors for routing, caching and retrieval.
package embed

import "context"

// Embedder embeds a batch of texts. Vectors are L2-normalised, all of length
// Dim, in the order of the input.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Dim() int
}
