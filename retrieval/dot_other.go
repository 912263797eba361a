//go:build !amd64

package retrieval

// dot returns the inner product of a and b over their common length.
func dot(a, b []float32) float32 { return dotGeneric(a, b) }

// dotBatch sets out[i] = q·vecs[i]; every vector has len(q) elements.
func dotBatch(q []float32, vecs []*float32, out []float32) { dotBatchGeneric(q, vecs, out) }
