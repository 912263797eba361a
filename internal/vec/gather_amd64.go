//go:build amd64 && !purego

package vec

//go:noescape
func gatherDot16AVX2(raw *float32, rawLen int, idx *uint16, val *float32, n int) (sum float32, ok bool)

// gatherDot16 is GatherDot16 by the kernel, ok false when it cannot
// (no AVX2, nothing to add, or an index out of raw, which the Go loop
// then reports). The kernel checks the bounds by the largest index, 16
// indexes an instruction, instead of one comparison per element.
func gatherDot16(raw []float32, idx []uint16, val []float32) (float32, bool) {
	if !useAVX2 || len(idx) == 0 || len(raw) == 0 {
		return 0, false
	}
	return gatherDot16AVX2(&raw[0], len(raw), &idx[0], &val[0], len(idx))
}
