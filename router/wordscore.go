package router

import (
	"slices"

	"github.com/moegate/moegate/internal/vec"
)

// Word vectors. A query's lexical features are its words' stems, concepts
// and glosses: up to maxWordBuckets buckets a word, most of a query's
// features, and each bucket a gate row and exemplar postings to load
// from tables that other work evicts between requests. The scorer is
// linear in the features, so a word's buckets, weighted as the word
// alone weighs them, sum once per model to one vector (its share of the
// logits and of the exemplars' dot products), and a query adds its
// words' vectors: a few contiguous lines a word rather than a few
// hundred scattered ones a query. What the words do not sum alone, the
// scorer adds feature by feature: the n-grams, the word pairs, and the
// buckets several words share (their damped sum is not the sum of their
// damped weights). The result is the scorer's on the whole features up to
// the rounding of float32 sums taken in another order. A routed request
// of the overhead benchmark (callgrind): 500k instructions → 457k;
// BenchmarkRouteCold p50 43-45 → 34-38 µs. Taking the n-grams apart by
// word as well cost more in finding their repeats than it saved (487k).

// lexSplit is a query's features x taken apart, as Lexical.split and
// Lexical.extendSplit write them:
//
//	x = aScale·a + lexScale·(Σ words' buckets + shared) + pScale·pairs
//
// where a is the n-grams, each word's buckets carry their damped weights,
// shared corrects the buckets several words share, and pairs is the word
// pairs' block, normalised.
type lexSplit struct {
	words                    []wordRun
	shared, pairs            sparse
	aScale, lexScale, pScale float32
}

// wordRun is a word's key and its buckets (a Lexical memo's, not to be
// modified).
type wordRun struct {
	key wordKey
	f   []damped
}

func (sp *lexSplit) reset() {
	sp.words = sp.words[:0]
	sp.shared.idx, sp.shared.val = sp.shared.idx[:0], sp.shared.val[:0]
	sp.pairs.idx, sp.pairs.val = sp.pairs.idx[:0], sp.pairs.val[:0]
}

// wordVectors memoises each word's vector for one installed model: its
// buckets' share of the gate's logits (classes values) followed by their
// share of the exemplars' dot products (stride values, none without
// exemplars).
type wordVectors struct {
	memo    wordMemo[float32]
	classes int
	width   int
}

// maxWordVectorBytes bounds a model's word vectors, by the words that
// fit at its width; past it, a new word's buckets are scored feature by
// feature, as all were before.
const maxWordVectorBytes = 4 << 20

// newWordVectors returns sc's word vectors, or nil when its logits or
// dot products do not fit the stack arrays probsSplit sums them in.
func newWordVectors(sc *scorer) *wordVectors {
	wv := &wordVectors{classes: sc.gate.classes, width: sc.gate.classes}
	if wv.classes > 64 {
		return nil
	}
	if sc.ex != nil {
		if sc.ex.stride > smallIndex {
			return nil
		}
		wv.width += sc.ex.stride
	}
	wv.memo.limit = min(maxMemoWords, maxWordVectorBytes/(4*wv.width))
	return wv
}

// vector returns the word's vector under sc, memoised; none when it is
// all zeros.
func (wv *wordVectors) vector(sc *scorer, w wordRun) []float32 {
	if v, ok := wv.memo.get(w.key); ok {
		return v
	}
	var idx [maxWordBuckets]int32
	var val [maxWordBuckets]float32
	n := 0
	for _, b := range w.f[:min(len(w.f), maxWordBuckets)] {
		idx[n], val[n] = b.i, b.d
		n++
	}
	v := make([]float32, wv.width)
	var buf [smallIndex]float32
	sc.add(v[:wv.classes], buf[:], idx[:n], val[:n], 1)
	copy(v[wv.classes:], buf[:]) // the dot products, when there are exemplars
	if !slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) {
		// A word no row has (a name, an id, a typo): no vector, so that
		// traffic's stray words fill the memo with keys only.
		v = nil
	}
	wv.memo.put(w.key, v)
	return v
}

// probsSplit writes into p the probabilities probs gives the features sp
// and the n-grams a sum to, with the words' vectors from wv.
func (sc *scorer) probsSplit(wv *wordVectors, a sparse, sp *lexSplit, p []float64) {
	var acc [64]float32
	logits := withBias(&acc, sc.gate.b)
	var buf [smallIndex]float32 // the dot products, with exemplars
	dots := buf[:wv.width-wv.classes]
	for _, w := range sp.words {
		if v := wv.vector(sc, w); len(v) > 0 {
			vec.AddScaled(logits, v[:wv.classes], sp.lexScale)
			vec.AddScaled(dots, v[wv.classes:], sp.lexScale)
		}
	}
	sc.add(logits, buf[:], a.idx, a.val, sp.aScale)
	sc.add(logits, buf[:], sp.pairs.idx, sp.pairs.val, sp.pScale)
	sc.add(logits, buf[:], sp.shared.idx, sp.shared.val, sp.lexScale)
	softmax(p, logits)
	if sc.ex == nil {
		return
	}
	var sBuf [64]float64
	s := sBuf[:len(p)]
	sc.ex.classBest(dots, s)
	sc.blend(p, s)
}
