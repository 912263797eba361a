package retrieval

import "golang.org/x/sys/cpu"

var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotAVX2(a, b *float32, n int) float32

// dot returns the inner product of a and b over their common length.
func dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	if useAVX2 && n >= 8 {
		return dotAVX2(&a[0], &b[0], n)
	}
	return dotGeneric(a, b)
}
