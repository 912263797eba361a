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
	_, ok := NormalizeFactor(v)
	return ok
}

// NormalizeFactor is Normalize returning the factor v was scaled by (1
// when it was left unchanged): a caller that sums v's parts apart can
// scale them alike.
func NormalizeFactor(v []float32) (float32, bool) {
	// Four independent sums: one chain of float64 additions was bound by
	// their latency (3 µs for 2,048 coordinates, the norm of every query).
	// The vector kernels keep these sums and roundings (a query's norm
	// was taken three times, 7 instructions a coordinate in scalar code).
	var sums [4]float64
	i := sumSquares(v, &sums)
	s0, s1, s2, s3 := sums[0], sums[1], sums[2], sums[3]
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
		return 1, false
	}
	f := float32(1 / math.Sqrt(s))
	Scale(v, f)
	return f, true
}

// Scale multiplies v by a in place, each product rounded as v[i] *= a
// rounds it (8 at a time with AVX2).
func Scale(v []float32, a float32) {
	for i := scale(v, a); i < len(v); i++ {
		v[i] *= a
	}
}

// dotGeneric is the inner product in the AVX2 kernel's order and
// roundings (dotAVX2), so that every build gives the same bits: a change
// in the last bit of an attention score moves the engine's quantized
// activations across a rounding boundary often enough to change greedy
// output.
func dotGeneric(a, b []float32) float32 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	var l Lanes
	i := 0
	for ; i+32 <= n; i += 32 {
		l.Add32((*[32]float32)(a[i:]), (*[32]float32)(b[i:]))
	}
	for ; i+8 <= n; i += 8 {
		l.Add8((*[8]float32)(a[i:]), (*[8]float32)(b[i:]))
	}
	s := l.Sum()
	for ; i < n; i++ {
		s = FMA32(a[i], b[i], s)
	}
	return s
}

// Lanes are the accumulators of the AVX2 inner products (dotAVX2 and the
// float16 and bfloat16 ones of engine/tensor), for the Go code that must
// give their bits: four of 8 lanes, taking fused multiply-adds 32
// elements at a time and then 8 at a time into the first, summed
// lane-wise and then pairwise.
type Lanes [4][8]float32

// Add32 adds a[i]*b[i], element i to lane i%8 of accumulator i/8.
func (l *Lanes) Add32(a, b *[32]float32) {
	for k := range l {
		acc := &l[k]
		for j := range acc {
			acc[j] = FMA32(a[8*k+j], b[8*k+j], acc[j])
		}
	}
}

// Add8 adds a[i]*b[i] to lane i of the first accumulator.
func (l *Lanes) Add8(a, b *[8]float32) {
	acc := &l[0]
	for j := range acc {
		acc[j] = FMA32(a[j], b[j], acc[j])
	}
}

// Sum returns the sum of the lanes in the assembly's order.
func (l *Lanes) Sum() float32 {
	var t [4]float32
	for j := range t {
		t[j] = ((l[0][j] + l[1][j]) + (l[2][j] + l[3][j])) +
			((l[0][j+4] + l[1][j+4]) + (l[2][j+4] + l[3][j+4]))
	}
	return (t[0] + t[1]) + (t[2] + t[3])
}

// FMA32 returns a*b+c rounded once to float32, as the FMA instructions
// do; Go has no float32 fused multiply-add. a*b is exact in float64
// (24+24 bits), and rounding p+q to float64 and then to float32 is right
// unless the float64 sum falls on a midpoint between two float32s (or in
// float32's subnormal range, where they lie elsewhere): then the sum is
// rounded to odd in float64 (53 bits ≥ 24+2), from which rounding to
// float32 is correct.
func FMA32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b))
	s := p + float64(c)
	if bits := math.Float64bits(s); bits<<35 != 1<<63 && bits<<1 >= (1023-126)<<53 {
		return float32(s)
	}
	return fma32Odd(p, float64(c), s)
}

// fma32Odd is FMA32's rounding of p+q, rounded to s in float64, through
// rounding to odd, for the rare sums that need it.
func fma32Odd(p, q, s float64) float32 {
	v := s - p
	e := (p - (s - v)) + (q - v) // s + e == p + q exactly
	if b := math.Float64bits(s); e != 0 && b&1 == 0 {
		// One step towards the exact sum: away from zero when e has
		// s's sign (s is not zero: e would be).
		if (math.Float64bits(e)^b)>>63 == 0 {
			b++
		} else {
			b--
		}
		s = math.Float64frombits(b)
	}
	return float32(s)
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

// SignedSums3 is SignedSums of the same coordinates under three sets of
// masks (sums[j] under masks[j]) in one pass: each coordinate is read,
// and its bounds checked, once instead of three times. The sums are
// SignedSums', bit for bit. Every idx[k] must index each set of masks.
func SignedSums3(sums *[3][32]float32, masks *[3][]uint32, idx []int32, val []float32) {
	n := min(len(idx), len(val))
	if n == 0 {
		return
	}
	m := min(len(masks[0]), len(masks[1]), len(masks[2]))
	for _, i := range idx[:n] {
		if uint(i) >= uint(m) {
			panic("vec: SignedSums3 index out of range of the masks")
		}
	}
	signedSums3(sums, masks, idx[:n], val[:n])
}

func signedSums3Generic(sums *[3][32]float32, masks *[3][]uint32, idx []int32, val []float32) {
	for j := range sums {
		signedSumsGeneric(&sums[j], masks[j], idx, val)
	}
}

func signedSumsGeneric(sums *[32]float32, masks []uint32, idx []int32, val []float32) {
	for k, i := range idx {
		m, x := masks[i], math.Float32bits(val[k])
		for b := range sums {
			sums[b] += math.Float32frombits(x ^ (m>>b&1)<<31)
		}
	}
}
