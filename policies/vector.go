package policies

import (
	"math"
	"slices"
	"sync"

	"github.com/moegate/moegate/internal/vec"
)

// Vector is a query embedding as the caches compare and keep it: scaled
// to unit length, sparse when most coordinates are zero (as the local
// embedder's are), and never changed once made, so a cache may keep it
// as it is and a Redis write that outlives its request may still read it.
// Both it and its hash-table signature are computed on first use, once
// for Get and Put: an exact hit needs neither.
type Vector struct {
	raw []float32 // the input: lookups compare stored vectors with it
	// rawAt holds the input's values at cv.idx when the Vector was made
	// from its reached coordinates (NewSparseVector), raw is then nil:
	// the Vector keeps nothing of the dense input, which its maker may
	// reuse.
	rawAt []float32
	once  sync.Once
	cv    cacheVec // dim 0: empty, zero or not finite
	inv   float32  // 1/|raw|

	sigOnce sync.Once
	sig     [lshTables]uint32
	sk      sketch
}

// NewVector returns a Vector of v, or nil if v is nil. v must not change
// afterwards. A cache keeps a copy of the unit vector (see unit), never
// the Vector, so that v is not kept.
func NewVector(v []float32) *Vector {
	if v == nil {
		return nil
	}
	return &Vector{raw: v}
}

// NewSparseVector returns a Vector of v whose non-zero coordinates are
// all among nz (ascending, each once), as an embedder that reached only
// those gives: its unit vector is gathered from them now, not from a scan
// of all of v. Neither v nor nz is kept: the caller may reuse them.
func NewSparseVector(v []float32, nz []int32) *Vector {
	if v != nil && len(nz) > len(v)/sparseRatio {
		return NewVector(slices.Clone(v)) // dense: unit scans it
	}
	x := NewVector(v)
	if x == nil {
		return nil
	}
	x.once.Do(func() {
		// A coordinate is kept unless it is zero (rarely: opposite
		// features cancelled), without a branch, as in makeCacheVec: the
		// branch and two appends per coordinate cost 4k instructions of
		// a request.
		idx, rawAt := make([]int32, len(nz)), make([]float32, len(nz))
		n := 0
		for _, i := range nz {
			c := v[i]
			idx[n], rawAt[n] = i, c
			n += nonZero(c)
		}
		// The input's values are kept for sim, apart from the unit
		// vector's (scaled in place), which caches keep.
		x.rawAt = rawAt[:n]
		x.cv, x.inv = sparseCacheVec(len(v), idx[:n], slices.Clone(rawAt[:n]))
		x.raw = nil
	})
	return x
}

// unit returns the unit vector, nil if there is none (empty, zero or not
// finite input): such a vector finds nothing and is stored for exact
// lookups only.
func (v *Vector) unit() *cacheVec {
	if v == nil {
		return nil
	}
	v.once.Do(func() { v.cv, v.inv = makeCacheVec(v.raw) })
	if v.cv.dim == 0 {
		return nil
	}
	return &v.cv
}

func makeCacheVec(v []float32) (cacheVec, float32) {
	// One pass gathers the non-zero coordinates, without a branch on
	// each (which coordinates are zero is unpredictable: two branchy
	// passes over 2,048 of them were most of a lookup's cost), stopping
	// once there are too many for a sparse vector.
	limit := len(v) / sparseRatio
	var idxArr [1024]int32
	var valArr [1024]float32
	idx, val := idxArr[:], valArr[:]
	if limit+1 > len(idx) {
		idx, val = make([]int32, limit+1), make([]float32, limit+1)
	}
	n := 0
	for i, x := range v {
		idx[n], val[n] = int32(i), x
		n += nonZero(x)
		if n > limit {
			break
		}
	}
	if n <= limit {
		return sparseCacheVec(len(v), slices.Clone(idx[:n]), slices.Clone(val[:n]))
	}
	n2 := float64(vec.Dot(v, v))
	if !(n2 > 0) || math.IsInf(n2, 0) {
		return cacheVec{}, 0
	}
	inv := float32(1 / math.Sqrt(n2))
	u := make([]float32, len(v))
	for i, x := range v {
		u[i] = x * inv
	}
	return cacheVec{dim: len(v), val: u}, inv
}

// nonZero is 1 when x is not +0 or -0, else 0, without a branch: the
// coordinate gathers keep every coordinate and advance past the non-zero
// ones.
func nonZero(x float32) int {
	b := math.Float32bits(x) << 1 // 0 for +0 and -0 only
	return int((b | -b) >> 31)
}

// sparseCacheVec returns the unit vector of dimension dim whose non-zero
// coordinates are val at idx (ascending), which it keeps and scales, and
// 1/|val|.
func sparseCacheVec(dim int, idx []int32, val []float32) (cacheVec, float32) {
	n2 := float64(vec.Dot(val, val))
	if !(n2 > 0) || math.IsInf(n2, 0) {
		return cacheVec{}, 0
	}
	inv := float32(1 / math.Sqrt(n2))
	vec.Scale(val, inv)
	return cacheVec{dim: dim, idx: idx, val: val}, inv
}

// simRaw returns the cosine similarity with the stored unit vector s of
// the same dimension, given the dense input raw (v.raw, or lendRaw's);
// v.unit() must have been called. A sparse s costs its non-zero
// coordinates only, gathered without a branch. A Vector made from its
// reached coordinates gives the same sums, bit for bit, as one of the
// dense input: the coordinates it lacks are zeros, which add nothing to
// them.
func (v *Vector) simRaw(raw []float32, s *cacheVec) float32 {
	switch {
	case s.idx16 != nil:
		return vec.GatherDot16(raw, s.idx16, s.val) * v.inv
	case s.idx != nil:
		// The same sums as GatherDot16's, for wide indexes.
		return vec.GatherDot(raw, s.idx, s.val) * v.inv
	default:
		return vec.Dot(raw, s.val) * v.inv
	}
}

// rawPool holds dense scratch inputs, all zeros, by dimension.
var rawPool sync.Map // int → *sync.Pool of *rawLoan

// rawLoan is a dense scratch input lent by lendRaw, with the function
// that gives it back made once: a closure made for each loan was two
// allocations a lookup.
type rawLoan struct {
	raw  []float32
	set  []int32 // the coordinates set, zeroed on return
	pool *sync.Pool
	done func()
}

func (l *rawLoan) giveBack() {
	raw := l.raw
	for _, i := range l.set {
		raw[i] = 0
	}
	l.set = nil
	l.pool.Put(l)
}

// lendRaw returns the dense input: v.raw, or for a Vector that kept only
// its reached coordinates a zeroed scratch vector with them set, which
// done clears and returns. Comparing a sparse query with each stored
// vector by merging their index lists cost a mispredicted branch per
// coordinate; scattered once, each comparison is a gather.
func (v *Vector) lendRaw() (raw []float32, done func()) {
	if v.raw != nil {
		return v.raw, func() {}
	}
	dim := v.cv.dim
	pi, ok := rawPool.Load(dim)
	if !ok {
		pi, _ = rawPool.LoadOrStore(dim, newRawPool(dim))
	}
	l := pi.(*sync.Pool).Get().(*rawLoan)
	raw, l.set = l.raw, v.cv.idx
	vals := v.rawAt[:len(l.set)]
	for k, i := range l.set {
		raw[i] = vals[k]
	}
	return raw, l.done
}

// newRawPool returns a pool of zeroed scratch inputs of dimension dim.
func newRawPool(dim int) *sync.Pool {
	p := &sync.Pool{}
	p.New = func() any {
		l := &rawLoan{raw: make([]float32, dim), pool: p}
		l.done = l.giveBack
		return l
	}
	return p
}

// dense returns the unit vector's coordinates, a new slice; u is v.unit().
func (u *cacheVec) dense() []float32 {
	if u.idx == nil && u.idx16 == nil {
		return append([]float32(nil), u.val...)
	}
	d := make([]float32, u.dim)
	for k, i := range u.idx {
		d[i] = u.val[k]
	}
	for k, i := range u.idx16 {
		d[i] = u.val[k]
	}
	return d
}

// signature returns the buckets in each hash table of u, which is
// v.unit(), and its sketch. The hyperplanes of a dimension are the same in
// every cache (drawn from a fixed seed), so the first cache to ask
// computes them for all.
func (v *Vector) signature(p *planeSets, u *cacheVec) ([lshTables]uint32, sketch) {
	v.sigOnce.Do(func() {
		h := p.get(u.dim)
		v.sig, v.sk = h.signatureOf(u)
	})
	return v.sig, v.sk
}
