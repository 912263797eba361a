package router

import (
	"math/bits"

	"github.com/moegate/moegate/internal/vec"
)

// Per query the gate reads one row of weights per feature and the
// exemplar index one range of postings, at random places in 65,536 rows:
// a cache miss each, most of the router's time. Only the rows that hold
// something are kept, packed, behind a bitmap with a rank next to each word
// (16 KB for 65,536 features), so the lookups stay in the fastest
// caches and a feature no example had costs one bit test.

// packedRows numbers the kept rows of a feature-major table.
type packedRows struct {
	words []rankedWord // 64 features each
	n     int          // kept rows
}

// rankedWord is 64 features' bits (bit f%64: row f is kept) with the
// kept rows before them: one bounds check and one cache line per lookup
// rather than two of each (two arrays).
type rankedWord struct {
	bits uint64
	rank int64
}

func newPackedRows(dim int, keep func(f int) bool) packedRows {
	p := packedRows{words: make([]rankedWord, (dim+63)/64)}
	for f := range dim {
		if keep(f) {
			p.words[f/64].bits |= 1 << (f % 64)
		}
	}
	for w := range p.words {
		p.words[w].rank = int64(p.n)
		p.n += bits.OnesCount64(p.words[w].bits)
	}
	return p
}

// row returns the packed index of row f, false when it is not kept (or
// out of range).
func (p *packedRows) row(f int32) (int, bool) {
	w := uint(f) >> 6 // a negative f wraps past every word
	if w >= uint(len(p.words)) {
		return 0, false
	}
	rw := &p.words[w]
	m := uint64(1) << (f & 63)
	if rw.bits&m == 0 {
		return 0, false
	}
	return int(rw.rank) + bits.OnesCount64(rw.bits&(m-1)), true
}

// has reports whether row f is kept.
func (p *packedRows) has(f int) bool {
	_, ok := p.row(int32(f))
	return ok
}

// packedLinear is a Linear without its rows of zeros. Its probabilities
// are the Linear's bit for bit: a zero row adds only zeros to the logits,
// which can change nothing but the sign of a zero logit, and exp of ±0
// minus the largest logit is the same.
type packedLinear struct {
	classes int
	b       []float32
	w       []float32 // kept rows, classes each
	rows    packedRows
}

func packLinear(g *Linear) *packedLinear {
	c := g.Classes
	nonZero := func(f int) bool {
		for _, w := range g.W[f*c : (f+1)*c] {
			if w != 0 {
				return true
			}
		}
		return false
	}
	p := &packedLinear{classes: c, b: g.B, rows: newPackedRows(g.Dim, nonZero)}
	p.w = make([]float32, 0, p.rows.n*c)
	for f := range g.Dim {
		if nonZero(f) {
			p.w = append(p.w, g.W[f*c:(f+1)*c]...)
		}
	}
	return p
}

// probs writes softmax(Wx+b) into p, as Linear.probs does.
func (g *packedLinear) probs(x sparse, p []float64) {
	var acc [64]float32
	logits := withBias(&acc, g.b)
	g.add(logits, x.idx, x.val, 1)
	softmax(p, logits)
}

// add adds scale times the rows of the features idx, weighted by vals,
// to logits, as Linear.probs sums them: the kept rows are listed, a batch
// at a time, and added in idx's order by one kernel, each class's logit
// summing the same products in the same order (scale 1 changes none).
// (Small batches: arrays on the stack are zeroed on every call.)
func (g *packedLinear) add(logits []float32, idx []int32, vals []float32, scale float32) {
	var rowArr [128]int32
	var valArr [128]float32
	vals = vals[:len(idx)]
	n := 0
	for k, i := range idx {
		if r, ok := g.rows.row(i); ok {
			rowArr[n], valArr[n] = int32(r), vals[k]*scale
			if n++; n == len(rowArr) {
				vec.AddScaledRows(logits, g.w, rowArr[:], valArr[:])
				n = 0
			}
		}
	}
	vec.AddScaledRows(logits, g.w, rowArr[:n], valArr[:n])
}
