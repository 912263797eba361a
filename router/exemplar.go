package router

import (
	"context"
	"math"
	"slices"

	"github.com/moegate/moegate/internal/vec"
)

// Exemplar scores. A linear gate trained on a handful of examples per
// expert generalises poorly, and an expert known only by its description
// gets almost no probability next to experts with thousands of examples.
// Nearest neighbours do better there (Bifrost routes by exemplars alone):
// each expert scores its examples' best cosine to the query, a softmax over
// experts turns the scores into probabilities, and these are blended into
// the gate's, with a weight that fades as an expert's examples grow
// (Model.ExemplarWeights): for an expert with thousands of examples the
// gate alone decides.

// exemplarIndex is an inverted index over the exemplars' features: the
// postings of feature f, row r of rows, are the exemplars postEx[a:b]
// with the values postVal[a:b] ({a, b} = span[r]), unless the feature is
// common to many exemplars (see denseShare): then a is negative and dense
// row -a-1 of dmat holds its value in every exemplar (0 where absent),
// added to all the dot products at once.
type exemplarIndex struct {
	rows packedRows // the features some exemplar has
	span []span
	// Two arrays rather than one of pairs: with the masked index of
	// scatterSmall a posting's loop takes 9 instructions instead of 13.
	postEx  []int32
	postVal []float32
	dmat    []float32 // dense rows, stride values each
	// stride is the exemplars rounded up to the vector kernel's block of
	// 8: a dense row then has no scalar tail (its padding is 0, and the
	// dot products past the exemplars are never read).
	stride int
	class  []int32 // class of each exemplar
	n      int     // classes
}

// span is one row of the index: see exemplarIndex. One load per feature
// instead of three (start, end, dense).
type span struct{ a, b int32 }

// denseShare is the share of the exemplars (1/denseShare) from which a
// feature's row is kept dense: a vector instruction then updates 8
// exemplars for what one posting costs, at most denseShare/2 times the
// postings' memory. The filler words every query and example share
// ("how", "can i", their character n-grams) were most of the postings a
// query read. A routed request of the overhead benchmark (callgrind):
// 606k instructions at 8, 614k at 16.
const denseShare = 8

// newExemplarIndex indexes xs (of classes ys) over features of dimension dim.
func newExemplarIndex(xs []sparse, ys []int, classes, dim int) *exemplarIndex {
	count := make([]int32, dim)
	for _, x := range xs {
		for _, f := range x.idx {
			count[f]++
		}
	}
	e := len(xs)
	ix := &exemplarIndex{rows: newPackedRows(dim, func(f int) bool { return count[f] > 0 }), class: make([]int32, e), n: classes,
		stride: (e + 7) &^ 7}
	ix.span = make([]span, ix.rows.n)
	r, nd, np := 0, int32(0), int32(0)
	for _, n := range count {
		if n == 0 {
			continue
		}
		if int(n)*denseShare >= e {
			ix.span[r] = span{-nd - 1, 0}
			nd++
		} else {
			ix.span[r] = span{np, np + n}
			np += n
		}
		r++
	}
	ix.dmat = make([]float32, int(nd)*ix.stride)
	ix.postEx = make([]int32, np)
	ix.postVal = make([]float32, np)
	fill := make([]int32, ix.rows.n)
	for ex, x := range xs {
		ix.class[ex] = int32(ys[ex])
		for k, f := range x.idx {
			r, _ := ix.rows.row(f)
			if sp := ix.span[r]; sp.a < 0 {
				ix.dmat[int(-sp.a-1)*ix.stride+ex] = x.val[k]
			} else {
				ix.postEx[sp.a+fill[r]], ix.postVal[sp.a+fill[r]] = int32(ex), x.val[k]
				fill[r]++
			}
		}
	}
	return ix
}

// classBest writes into s each class's best dot product (0 for a class
// without exemplars).
func (ix *exemplarIndex) classBest(dots []float32, s []float64) {
	clear(s)
	for e, c := range ix.class {
		if d := float64(dots[e]); d > s[c] {
			s[c] = d
		}
	}
}

// smallIndex is the most exemplars whose dot products best keeps on the
// stack (a power of two: see scatterSmall).
const smallIndex = 512

// scatterSmall adds v times the values of postings a to b (of exs and
// vals) to the dot products of their exemplars. The exemplars are below
// smallIndex, so masking them, which changes none, spares a bounds check
// per posting. The postings are sliced here, past scores' branch on the
// index's size (callgrind, per routed query: 1k fewer instructions for
// the gateway's 10 experts, 18k fewer for 150 experts' few-shot index).
func scatterSmall(dots *[smallIndex]float32, exs []int32, vals []float32, a, b int, v float32) {
	exs, vals = exs[a:b], vals[a:b]
	for p := range exs {
		dots[exs[p]&(smallIndex-1)] += v * vals[p]
	}
}

// scorer is a trained gate with its exemplars: the probabilities a query
// gets.
type scorer struct {
	gate *packedLinear
	ex   *exemplarIndex
	// With exemplars, rows are the features the gate or the exemplars
	// have and ent their rows in each: a query's feature is looked up
	// once for both (a row lookup each was a fifth of the scorer's
	// instructions).
	rows packedRows
	ent  []scoreRow
	// weight is each class's exemplar weight (0 for the out-of-scope class
	// and for experts with many examples); temp the softmax temperature
	// over cosines.
	weight []float64
	temp   float64
}

// scoreRow is a feature's row in the gate (−1 where it has none) and its
// span in the exemplar index (empty where it has none), copied from
// ix.span: one load per feature rather than two.
type scoreRow struct {
	gate int32
	ex   span
}

// joinRows builds sc.rows and sc.ent from the gate's and the exemplar
// index's rows, over features of dimension dim.
func (sc *scorer) joinRows(dim int) {
	gr, er := &sc.gate.rows, &sc.ex.rows
	sc.rows = newPackedRows(dim, func(f int) bool { return gr.has(f) || er.has(f) })
	sc.ent = make([]scoreRow, 0, sc.rows.n)
	for f := range int32(dim) {
		g, gok := gr.row(f)
		e, eok := er.row(f)
		if !gok && !eok {
			continue
		}
		r := scoreRow{gate: -1}
		if gok {
			r.gate = int32(g)
		}
		if eok {
			r.ex = sc.ex.span[e]
		}
		sc.ent = append(sc.ent, r)
	}
}

// probs writes the query's class probabilities into p: the gate's, with
// each expert's exemplar probability blended in by its weight, the
// in-scope mass kept.
func (sc *scorer) probs(x sparse, p []float64) {
	if sc.ex == nil {
		sc.gate.probs(x, p)
		return
	}
	var buf [64]float64 // on the stack for up to 64 classes
	s := buf[:0]
	if len(p) > len(buf) {
		s = make([]float64, len(p))
	}
	s = s[:len(p)]
	sc.scores(x, p, s)
	sc.blend(p, s)
}

// blend blends into the gate's probabilities p each class's exemplar
// probability, a softmax of the best cosines s, by the class's weight.
func (sc *scorer) blend(p, s []float64) {
	var mass, z, maxS float64
	for c, w := range sc.weight {
		if w >= 0 {
			maxS = max(maxS, s[c])
		}
	}
	for c := range p {
		if sc.weight[c] >= 0 { // in scope
			mass += p[c]
			s[c] = math.Exp((s[c] - maxS) / sc.temp)
			z += s[c]
		}
	}
	if z == 0 || mass == 0 {
		return
	}
	var sum float64
	for c := range p {
		if w := sc.weight[c]; w >= 0 {
			p[c] = (1-w)*p[c] + w*mass*s[c]/z
			sum += p[c]
		}
	}
	for c := range p {
		if sc.weight[c] >= 0 {
			p[c] *= mass / sum
		}
	}
}

// scores writes the gate's probabilities into p, as sc.gate.probs does,
// and each class's best exemplar cosine into s, from one pass over x's
// features: each gate logit and each exemplar's dot product sums the same
// products in the same order as apart, so both are the same bit for bit.
func (sc *scorer) scores(x sparse, p, s []float64) {
	var acc [64]float32
	logits := withBias(&acc, sc.gate.b)
	var buf [smallIndex]float32 // the dot products, on the stack for up to smallIndex exemplars
	dots := sc.dots(&buf)
	sc.add(logits, dots, x.idx, x.val, 1)
	softmax(p, logits)
	sc.ex.classBest(dots, s)
}

// dots returns the exemplars' dot products, zero: buf when the index is
// small (see scatterSmall), else an allocation.
func (sc *scorer) dots(buf *[smallIndex]float32) []float32 {
	if sc.ex.stride <= smallIndex {
		return buf[:]
	}
	return make([]float32, sc.ex.stride)
}

// add adds scale times the features idx, weighted by vals, to the gate's
// logits and to the exemplars' dot products dots (from sc.dots; unused
// without exemplars), each logit and dot product summing its products in
// idx's order.
func (sc *scorer) add(logits, dots []float32, idx []int32, vals []float32, scale float32) {
	g, ix := sc.gate, sc.ex
	if ix == nil {
		g.add(logits, idx, vals, scale)
		return
	}
	var rowArr [128]int32
	var valArr [128]float32
	n := 0
	small := ix.stride <= smallIndex
	var smallDots *[smallIndex]float32
	if small {
		smallDots = (*[smallIndex]float32)(dots)
	}
	// The tables in locals rather than read through sc and ix per
	// feature (callgrind: 0.3k fewer instructions a routed request).
	rows, ent, stride := sc.rows, sc.ent, ix.stride
	postEx, postVal, dmat := ix.postEx, ix.postVal, ix.dmat
	vals = vals[:len(idx)]
	// A chunk's rows are loaded first, then added: the loads miss the
	// cache (the tables outgrow it between requests) and, with no branch
	// on their values between them, overlap; in one loop each waited for
	// the branches on the one before.
	var chunk [64]scoreRow
	var chunkVal [64]float32
	for at := 0; at < len(idx); at += len(chunk) {
		m := 0
		for k, f := range idx[at:min(at+len(chunk), len(idx))] {
			if r, ok := rows.row(f); ok {
				chunk[m], chunkVal[m] = ent[r], vals[at+k]*scale
				m++
			}
		}
		for c := range m {
			e, v := chunk[c], chunkVal[c]
			if e.gate >= 0 {
				rowArr[n], valArr[n] = e.gate, v
				if n++; n == len(rowArr) {
					vec.AddScaledRows(logits, g.w, rowArr[:], valArr[:])
					n = 0
				}
			}
			// The exemplars' dot products: a dense row by one vector
			// kernel, postings one by one.
			sp := e.ex
			if sp.a == sp.b { // no exemplar has the feature
				continue
			}
			if sp.a < 0 {
				d := int(-sp.a-1) * stride
				vec.AddScaled(dots, dmat[d:d+stride], v)
				continue
			}
			if small {
				scatterSmall(smallDots, postEx, postVal, int(sp.a), int(sp.b), v)
				continue
			}
			exs, exVals := postEx[sp.a:sp.b], postVal[sp.a:sp.b]
			exVals = exVals[:len(exs)]
			for i, e := range exs {
				dots[e] += v * exVals[i]
			}
		}
	}
	vec.AddScaledRows(logits, g.w, rowArr[:n], valArr[:n])
}

// minExemplarWeight is the smallest exemplar weight that counts (at the
// default scale, experts with up to 13 examples): when no expert's weight
// reaches it, no exemplar is kept.
const minExemplarWeight = 0.01

// exemplarWeights returns each class's exemplar weight from its example
// count n: weight·exp(−n/scale), and −1 for the out-of-scope class.
func exemplarWeights(counts []int, oos int, weight, scale float64) []float64 {
	w := make([]float64, len(counts))
	for c, n := range counts {
		if c == oos {
			w[c] = -1
			continue
		}
		w[c] = weight * math.Exp(-float64(n)/scale)
	}
	return w
}

// sparseExemplarWeight is the exemplar weight (at the default scale,
// experts with at most 2 examples besides their description) from which an
// expert's exemplar count caps every expert's. CLINC150, banking known by
// its description alone, an 80/20 split of train: its queries routed to it
// 0.29 -> 0.40, accuracy 0.922 -> 0.934. Capping for every expert with an
// exemplar weight cost the teacher simulation (5 examples each, then
// teacher labels) 0.908 -> 0.904.
const sparseExemplarWeight = 0.5

// sparseExemplarTemp caps the softmax temperature over exemplar cosines
// when an expert is known almost by its description alone (its weight at
// least sparseExemplarWeight): its few phrases are barely closer to its
// queries than other experts' examples are, and only a sharp softmax
// lets them win. Experts that all have examples gain from a softer one,
// their exemplars then nudging the gate instead of overruling it.
// CLINC150 val, temperature 0.05 -> 0.2: 10 examples per expert and
// descriptions 0.7504 -> 0.7534 (3 seeds, each up 0.001-0.005; a held-out
// fifth of train 0.7710 -> 0.7734); teacher simulation from 5 examples
// 0.909 -> 0.911 (seed 1) and 0.907 -> 0.919 (seed 2); but banking known
// by its description alone gets 7% of its queries instead of 36%.
const sparseExemplarTemp = 0.05

// exemplarTemp is the exemplar softmax temperature of a model with the
// exemplar weights weights: temp, at most sparseExemplarTemp when some
// expert's weight reaches sparseExemplarWeight.
func exemplarTemp(weights []float64, temp float64) float64 {
	if slices.ContainsFunc(weights, func(w float64) bool { return w >= sparseExemplarWeight }) {
		return min(temp, sparseExemplarTemp)
	}
	return temp
}

// maxExemplars caps the exemplars kept per expert: enough for a fair
// best-cosine against an expert with few, bounded route time for one
// with thousands.
const maxExemplars = 64

// pickExemplars returns the exemplars among the examples idx of data
// (index order): none when no expert's weight counts, else up to
// maxExemplars original examples (not noisy copies) of each in-scope
// class, spread evenly over its examples.
func pickExemplars(data *dataset, idx []int, oos int, weights []float64) []int {
	if !slices.ContainsFunc(weights, func(w float64) bool { return w > minExemplarWeight }) {
		return nil
	}
	byClass := make([][]int, len(weights))
	for _, i := range idx {
		if y := data.y[i]; data.src[i] == i && y != oos {
			byClass[y] = append(byClass[y], i)
		}
	}
	// A best cosine over many exemplars is higher than over few for the
	// same query: every expert keeps at most as many exemplars as the
	// fewest an expert known almost only by its description has (see
	// sparseExemplarWeight).
	limit := maxExemplars
	for c, is := range byClass {
		if weights[c] >= sparseExemplarWeight && len(is) > 0 {
			limit = min(limit, len(is))
		}
	}
	var out []int
	for _, is := range byClass {
		n := min(len(is), limit)
		for k := range n {
			out = append(out, is[k*len(is)/n])
		}
	}
	slices.Sort(out)
	return out
}

// exemplarScorer builds the scorer of gate g over the exemplars xs (of
// classes ys) with the model's weights.
func exemplarScorer(g *Linear, xs []sparse, ys []int, weights []float64, temp float64) *scorer {
	sc := &scorer{gate: packLinear(g), weight: weights, temp: temp}
	use := false
	for _, w := range weights {
		use = use || w > minExemplarWeight
	}
	if use && len(xs) > 0 {
		sc.ex = newExemplarIndex(xs, ys, g.Classes, g.Dim)
		sc.joinRows(g.Dim)
	}
	return sc
}

// embedExemplars embeds a model's exemplars for its scorer.
func embedExemplars(ctx context.Context, embed func(context.Context, []string) ([]sparse, error), m *Model) ([]sparse, []int, error) {
	if len(m.Exemplars) == 0 {
		return nil, nil, nil
	}
	class := make(map[string]int, len(m.Experts))
	for i, e := range m.Experts {
		class[e] = i
	}
	texts := make([]string, 0, len(m.Exemplars))
	ys := make([]int, 0, len(m.Exemplars))
	for _, ex := range m.Exemplars {
		if c, ok := class[ex.Expert]; ok {
			texts = append(texts, ex.Text)
			ys = append(ys, c)
		}
	}
	xs, err := embed(ctx, texts)
	if err != nil {
		return nil, nil, err
	}
	return xs, ys, nil
}
