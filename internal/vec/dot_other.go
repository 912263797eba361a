//go:build !amd64 || purego

package vec

func dot(a, b []float32) float32 { return dotGeneric(a, b) }

func dotBatch(q []float32, vecs []*float32, out []float32) { dotBatchGeneric(q, vecs, out) }

func signedSums(sums *[32]float32, masks []uint32, idx []int32, val []float32) {
	signedSumsGeneric(sums, masks, idx, val)
}

func signedSums3(sums *[3][32]float32, masks *[3][]uint32, idx []int32, val []float32) {
	signedSums3Generic(sums, masks, idx, val)
}

func addScaledRows(acc, w []float32, rows []int32, vals []float32) {
	addScaledRowsGeneric(acc, w, rows, vals)
}

func addScaled(dst, x []float32, a float32) int { return 0 }

func sumSquares(v []float32, sums *[4]float64) int { return 0 }

func scale(v []float32, a float32) int { return 0 }

func gatherDot16(raw []float32, idx []uint16, val []float32) (float32, bool) { return 0, false }
