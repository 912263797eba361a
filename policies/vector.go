package policies

import (
	"math"
	"sync"

	"github.com/moegate/moegate/internal/vec"
)

// Vector is a query embedding as the caches compare and keep it: scaled
// to unit length, sparse when most coordinates are zero (as the local
// embedder's are), and never changed once made, so a cache may keep it
// as it is and a Redis write that outlives its request may still read it.
// Its hash-table signature is computed once, for both Get and Put.
type Vector struct {
	cv      cacheVec
	sigOnce sync.Once
	sig     [lshTables]uint32
}

// NewVector returns v as a Vector (v itself is not kept), or nil if v is
// empty, zero or not finite: such a vector finds nothing and is stored
// for exact lookups only.
func NewVector(v []float32) *Vector {
	n2 := float64(vec.Dot(v, v))
	if !(n2 > 0) || math.IsInf(n2, 0) {
		return nil
	}
	inv := float32(1 / math.Sqrt(n2))
	nnz := 0
	for _, x := range v {
		if x != 0 {
			nnz++
		}
	}
	if nnz*sparseRatio > len(v) {
		u := make([]float32, len(v))
		for i, x := range v {
			u[i] = x * inv
		}
		return &Vector{cv: cacheVec{dim: len(v), val: u}}
	}
	idx, val := make([]int32, 0, nnz), make([]float32, 0, nnz)
	for i, x := range v {
		if x != 0 {
			idx = append(idx, int32(i))
			val = append(val, x*inv)
		}
	}
	return &Vector{cv: cacheVec{dim: len(v), idx: idx, val: val}}
}

// Dim returns the vector's dimension.
func (v *Vector) Dim() int { return v.cv.dim }

// Dense returns the vector's coordinates, a new slice.
func (v *Vector) Dense() []float32 {
	if v.cv.idx == nil {
		return append([]float32(nil), v.cv.val...)
	}
	d := make([]float32, v.cv.dim)
	for k, i := range v.cv.idx {
		d[i] = v.cv.val[k]
	}
	return d
}

// signature returns the vector's bucket in each hash table. The
// hyperplanes of a dimension are the same in every cache (they are drawn
// from a fixed seed), so the first cache to ask computes it for all.
func (v *Vector) signature(p *planeSets) [lshTables]uint32 {
	v.sigOnce.Do(func() { v.sig = p.get(v.cv.dim).hashVec(&v.cv) })
	return v.sig
}
