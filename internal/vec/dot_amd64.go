//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

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
