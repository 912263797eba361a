//go:build amd64 && !purego

package vec

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotAVX2(a, b *float32, n int) float32

func dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	if useAVX2 && n >= 8 {
		return dotAVX2(&a[0], &b[0], n)
	}
	return dotGeneric(a, b)
}

//go:noescape
func dotBatchAVX2(q *float32, vecs []*float32, dim int, out *float32)

func dotBatch(q []float32, vecs []*float32, out []float32) {
	if len(vecs) == 0 {
		return
	}
	if useAVX2 && len(q) >= 8 {
		_ = out[len(vecs)-1]
		dotBatchAVX2(&q[0], vecs, len(q), &out[0])
		return
	}
	dotBatchGeneric(q, vecs, out)
}

//go:noescape
func signedSumsAVX2(sums *[32]float32, masks *uint32, idx *int32, val *float32, n int)

func signedSums(sums *[32]float32, masks []uint32, idx []int32, val []float32) {
	if useAVX2 {
		signedSumsAVX2(sums, &masks[0], &idx[0], &val[0], len(idx))
		return
	}
	signedSumsGeneric(sums, masks, idx, val)
}

//go:noescape
func signedSums3AVX2(sums *[3][32]float32, m0, m1, m2 *uint32, idx *int32, val *float32, n int)

func signedSums3(sums *[3][32]float32, masks *[3][]uint32, idx []int32, val []float32) {
	if useAVX2 {
		signedSums3AVX2(sums, &masks[0][0], &masks[1][0], &masks[2][0], &idx[0], &val[0], len(idx))
		return
	}
	signedSums3Generic(sums, masks, idx, val)
}

//go:noescape
func addScaledRowsAVX2(acc *float32, n int, w *float32, rows *int32, vals *float32, m int)

func addScaledRows(acc, w []float32, rows []int32, vals []float32) {
	if useAVX2 {
		addScaledRowsAVX2(&acc[0], len(acc), &w[0], &rows[0], &vals[0], len(rows))
		return
	}
	addScaledRowsGeneric(acc, w, rows, vals)
}

//go:noescape
func addScaledAVX2(dst, x *float32, a float32, n int)

// addScaled adds a·x to dst by blocks of 8 and returns how many it did;
// x is at least as long as dst. Small enough to be inlined into
// AddScaled (a call less for each dense exemplar row of a routed query):
// no bounds checks for the data pointers, and no test of n, which the
// kernel takes as 0.
func addScaled(dst, x []float32, a float32) int {
	if !useAVX2 {
		return 0
	}
	n := len(dst) &^ 7
	addScaledAVX2(unsafe.SliceData(dst), unsafe.SliceData(x), a, n)
	return n
}

//go:noescape
func sumSquaresAVX2(v *float32, n int, sums *[4]float64)

// sumSquares adds to sums Normalize's four sums of squares over a prefix
// of v, a multiple of 4 long, and returns its length.
func sumSquares(v []float32, sums *[4]float64) int {
	n := len(v) &^ 3
	if !useAVX2 || n == 0 {
		return 0
	}
	sumSquaresAVX2(&v[0], n, sums)
	return n
}

//go:noescape
func scaleAVX2(v *float32, a float32, n int)

// scale multiplies a prefix of v, a multiple of 8 long, by a and returns
// its length.
func scale(v []float32, a float32) int {
	n := len(v) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	scaleAVX2(&v[0], a, n)
	return n
}
