//go:build !amd64

package retrieval

// dot returns the inner product of a and b over their common length.
func dot(a, b []float32) float32 { return dotGeneric(a, b) }
