package router

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The packed gate's probabilities are the Linear's, bit for bit, with rows
// of zeros (+0 and −0) left out, for features inside and outside the kept
// rows and of both signs.
func TestPackedLinearExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const dim, classes = 4096, 11
	g := &Linear{Classes: classes, Dim: dim, W: make([]float32, dim*classes), B: make([]float32, classes)}
	for c := range g.B {
		g.B[c] = float32(r.NormFloat64())
	}
	g.B[3] = 0
	for f := range dim {
		switch r.IntN(4) {
		case 0: // a row some example set
			for c := range classes {
				g.W[f*classes+c] = float32(r.NormFloat64())
			}
		case 1: // one weight only
			g.W[f*classes+r.IntN(classes)] = float32(r.NormFloat64())
		case 2: // negative zeros
			for c := range classes {
				g.W[f*classes+c] = float32(math.Copysign(0, -1))
			}
		}
	}
	p := packLinear(g)
	if p.rows.n == 0 || p.rows.n == dim {
		t.Fatalf("%d rows kept of %d", p.rows.n, dim)
	}
	want, got := make([]float64, classes), make([]float64, classes)
	for range 2000 {
		var x sparse
		for f := int32(0); f < dim; f++ {
			if r.IntN(20) == 0 {
				x.idx = append(x.idx, f)
				x.val = append(x.val, float32(r.NormFloat64()))
			}
		}
		g.probs(x, want)
		p.probs(x, got)
		for c := range want {
			if math.Float64bits(got[c]) != math.Float64bits(want[c]) {
				t.Fatalf("class %d: packed %v, linear %v", c, got[c], want[c])
			}
		}
	}
	if _, ok := p.rows.row(dim); ok {
		t.Fatal("a feature past the dimension has a row")
	}
}
