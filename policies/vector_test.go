package policies

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/moegate/moegate/internal/vec"
)

// A Vector is its input scaled to unit length, sparse or dense by its
// zeros, and compares and hashes as the dense unit vector does.
func TestVector(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ps planeSets
	for _, tc := range []struct {
		name   string
		v      []float32
		nil_   bool
		sparse bool
	}{
		{"nil", nil, true, false},
		{"zeros", make([]float32, 8), true, false},
		{"infinite", []float32{float32(math.Inf(1)), 1}, true, false},
		{"NaN", []float32{float32(math.NaN()), 1}, true, false},
		{"dense", randomSparse(rng, 64, 64), false, false},
		{"sparse", randomSparse(rng, 2048, 150), false, true},
		{"one coordinate", []float32{0, 0, 0, 0, 0, 0, 0, -3}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An embedder's list of reached coordinates holds every
			// non-zero one and may hold zeros (cancelled features).
			var nz []int32
			for i, x := range tc.v {
				if x != 0 || i%7 == 0 {
					nz = append(nz, int32(i))
				}
			}
			v, fromNZ := NewVector(tc.v), NewSparseVector(tc.v, nz)
			if cv, sv := v.unit(), fromNZ.unit(); (cv == nil) != (sv == nil) ||
				cv != nil && (!slices.Equal(cv.idx, sv.idx) || !slices.Equal(cv.val, sv.val) || v.inv != fromNZ.inv) {
				t.Fatalf("from the reached coordinates %v: unit %v, from a scan %v", nz, sv, cv)
			}
			cv := v.unit()
			if (cv == nil) != tc.nil_ {
				t.Fatalf("unit = %v, want nil: %v", cv, tc.nil_)
			}
			if cv == nil {
				return
			}
			if v.unit() != cv {
				t.Error("unit computed twice")
			}
			if (cv.idx != nil) != tc.sparse {
				t.Errorf("sparse = %v, want %v", cv.idx != nil, tc.sparse)
			}
			u := unit(tc.v)
			if d := cv.dense(); len(d) != len(u) || math.Abs(dot(d, u)-1) > 1e-5 {
				t.Errorf("dense is not the unit input: dim %d, dot %g", len(d), dot(d, u))
			}
			got, sk := v.signature(&ps, cv)
			if got != ps.get(len(u)).hash(u) {
				t.Errorf("signature %x, want %x", got, ps.get(len(u)).hash(u))
			}
			if cv.idx != nil {
				// The sketch is the signs of the projections on its planes,
				// summed one set at a time.
				h := ps.get(len(u))
				var lo, hi [32]float32
				vec.SignedSums(&lo, h.sketchSigns[0], cv.idx, cv.val)
				vec.SignedSums(&hi, h.sketchSigns[1], cv.idx, cv.val)
				if want := sketchBits(&lo, &hi); sk != want {
					t.Errorf("sketch %x, want %x", sk.bits, want.bits)
				}
			}
		})
	}
}

// Similarities agree with the dense dot products of the unit vectors for
// every pairing of sparse and dense vectors.
func TestVectorSim(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const dim = 512
	scaled := func(v []float32, k float32) []float32 {
		for i := range v {
			v[i] *= k
		}
		return v
	}
	vs := []*Vector{
		NewVector(scaled(randomSparse(rng, dim, dim), 3)), NewVector(randomSparse(rng, dim, dim/2)),
		NewVector(scaled(randomSparse(rng, dim, 40), 0.01)), NewVector(randomSparse(rng, dim, 3)),
	}
	near := NewVector(nearVec(rng, vs[2].unit().dense(), 0.9))
	vs = append(vs, near)
	for i, a := range vs {
		for j, b := range vs {
			au, bu := a.unit(), b.unit()
			want := dot(au.dense(), bu.dense())
			if got := float64(a.sim(bu)); math.Abs(got-want) > 1e-5 {
				t.Errorf("sim(%d, %d) = %g, want %g", i, j, got, want)
			}
		}
	}
}

// A Vector made from its reached coordinates keeps nothing of the dense
// input (the gateway reuses it) and compares with stored vectors, sparse
// (compacted or not) and dense, bit for bit as the Vector of the dense
// input does.
func TestSparseVectorSim(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const dim = 2048
	stored := []*cacheVec{}
	for _, n := range []int{1, 40, 150, 300, dim} {
		for range 5 {
			u := NewVector(randomSparse(rng, dim, n)).unit()
			c := storedCopy(u) // as a cache stores it
			stored = append(stored, u, &c)
		}
	}
	for range 50 {
		v := randomSparse(rng, dim, 1+rng.IntN(200))
		var nz []int32
		for i, x := range v {
			if x != 0 || rng.IntN(50) == 0 {
				nz = append(nz, int32(i))
			}
		}
		dense, sparse := NewVector(slices.Clone(v)), NewSparseVector(v, nz)
		if dense.unit() == nil || sparse.unit() == nil {
			t.Fatal("no unit vector")
		}
		vu := unit(v)
		clear(v) // the caller reuses its buffer
		for _, s := range stored {
			if got, want := sparse.sim(s), dense.sim(s); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("sim %v, want %v (stored sparse: %v, compact: %v)", got, want, s.idx != nil, s.idx16 != nil)
			}
			if got, want := float64(dense.sim(s)), dot(vu, s.dense()); math.Abs(got-want) > 1e-5 {
				t.Fatalf("sim %v, want the cosine %v (stored sparse: %v, compact: %v)", got, want, s.idx != nil, s.idx16 != nil)
			}
		}
	}
}

// storedCopy returns u as a MemoryCache stores it (packVec).
func storedCopy(u *cacheVec) cacheVec {
	var sl slot
	return unpackVec(&sl, packVec(u, &sl))
}

// sim is simRaw with the dense input lent for one comparison.
func (v *Vector) sim(s *cacheVec) float32 {
	raw, done := v.lendRaw()
	defer done()
	return v.simRaw(raw, s)
}

// BenchmarkSimRaw compares a sparse query with stored sparse vectors of
// the local embedder's size (about 500 non-zero of 2,048), compacted as a
// cache keeps them.
func BenchmarkSimRaw(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	const dim = 2048
	var stored []cacheVec
	for range 16 {
		stored = append(stored, storedCopy(NewVector(randomSparse(rng, dim, 500)).unit()))
	}
	q := NewVector(randomSparse(rng, dim, 500))
	q.unit()
	raw, done := q.lendRaw()
	defer done()
	var sink float32
	for i := 0; b.Loop(); i++ {
		sink += q.simRaw(raw, &stored[i%len(stored)])
	}
	_ = sink
}
