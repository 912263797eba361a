// Package vec holds the float32 vector kernels shared by the inference
// engine, retrieval, the semantic cache and the embedders: the inner
// product (AVX2 assembly on amd64, pure Go elsewhere or with -tags purego)
// and normalisation.
package vec

import (
	"math"
	"unsafe"
)

// Dot returns the inner product of a and b over their common length.
func Dot(a, b []float32) float32 { return dot(a, b) }

// DotBatch sets out[i] = q·vecs[i]; every vector has len(q) elements and
// out has room for len(vecs) results. The vectors are pointers so that a
// caller can hand over vectors scattered in its own storage without
// building slices.
func DotBatch(q []float32, vecs []*float32, out []float32) { dotBatch(q, vecs, out) }

// Normalize scales v to unit length in place and reports whether it could:
// a zero or non-finite vector has no direction and is left unchanged.
func Normalize(v []float32) bool {
	// Four independent sums: one chain of float64 additions was bound by
	// their latency (3 µs for 2,048 coordinates, the norm of every query).
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += float64(v[i]) * float64(v[i])
		s1 += float64(v[i+1]) * float64(v[i+1])
		s2 += float64(v[i+2]) * float64(v[i+2])
		s3 += float64(v[i+3]) * float64(v[i+3])
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i]) * float64(v[i])
	}
	s := (s0 + s1) + (s2 + s3)
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return false
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
	return true
}

// dotGeneric is the portable inner product: eight independent accumulators
// so the loop is not bound by the latency of one chain of additions.
func dotGeneric(a, b []float32) float32 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
		s4 += a[i+4] * b[i+4]
		s5 += a[i+5] * b[i+5]
		s6 += a[i+6] * b[i+6]
		s7 += a[i+7] * b[i+7]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3) + (s4 + s5) + (s6 + s7)
}

func dotBatchGeneric(q []float32, vecs []*float32, out []float32) {
	for i, v := range vecs {
		out[i] = dotGeneric(q, unsafe.Slice(v, len(q)))
	}
}

// SignedSums adds to each of the 32 sums every val[k] with a sign: sums[b]
// gets −val[k] when bit b of masks[idx[k]] is set and +val[k] otherwise,
// in k order. These are the projections of a sparse vector on 32
// hyperplanes whose normals are ±1 (one bit per coordinate and plane):
// the same sums, bit for bit, as adding val[k]·(±1) one by one, with 8
// planes per instruction. Every idx[k] must index masks.
func SignedSums(sums *[32]float32, masks []uint32, idx []int32, val []float32) {
	n := min(len(idx), len(val))
	if n == 0 {
		return
	}
	for _, i := range idx[:n] {
		_ = masks[i] // bounds, checked here for the kernel
	}
	signedSums(sums, masks, idx[:n], val[:n])
}

func signedSumsGeneric(sums *[32]float32, masks []uint32, idx []int32, val []float32) {
	for k, i := range idx {
		m, x := masks[i], math.Float32bits(val[k])
		for b := range sums {
			sums[b] += math.Float32frombits(x ^ (m>>b&1)<<31)
		}
	}
}
