package router

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moegate/moegate/internal/vec"
)

// Long messages and conversations. A query of a few dozen words is scored
// as one text. A longer one (a pasted preamble, a document, then the
// question) would be drowned by its bulk, and embedding all of it costs
// time in proportion, so only a bounded set of its sentences is scored,
// the question part preferred, and their probabilities are combined
// weighted by how in-scope each looks. A short or ambiguous message in a
// conversation borrows evidence from the earlier user turns, at less than
// its own weight and half as much per turn back, so a follow-up such as "and tomorrow?" stays with
// the conversation's expert while a clear new topic still wins.
const (
	longWords    = 40 // above this many words a text is scored by sentences
	segmentWords = 60 // words of one scored sentence (its last ones)
	maxQuestions = 3  // question sentences scored, the latest
	lastContext  = 2  // sentences before the last one scored
	historyTurns = 2  // earlier user turns that may inform a route
	shortWords   = 5  // a message of fewer words is short
)

// segment is a part of a long text with its prior weight.
type segment struct {
	text   string
	weight float64
}

// segments returns the parts of text to score when it is long, nil when it
// is short: the last sentence (weight 2), the latest question sentences
// (2), the two sentences before the last (1) and the first (0.5), each cut
// to its last segmentWords words. The work is bounded whatever the length.
func segments(text string) []segment {
	if countWords(text, longWords+1) <= longWords {
		return nil
	}
	var sents []string
	start := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '.', '!', '?', '\n':
			if s := strings.TrimSpace(text[start : i+1]); hasWord(s) {
				sents = append(sents, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(text[start:]); hasWord(s) {
		sents = append(sents, s)
	}
	n := len(sents)
	if n == 0 {
		return nil
	}
	weights := make(map[int]float64)
	add := func(i int, w float64) { weights[i] = max(weights[i], w) }
	add(n-1, 2)
	for i, q := n-1, 0; i >= 0 && q < maxQuestions; i-- {
		if strings.HasSuffix(sents[i], "?") {
			add(i, 2)
			q++
		}
	}
	for i := max(0, n-1-lastContext); i < n-1; i++ {
		add(i, 1)
	}
	add(0, 0.5)
	out := make([]segment, 0, len(weights))
	for i := range n {
		if w, ok := weights[i]; ok {
			out = append(out, segment{lastWords(sents[i], segmentWords), w})
		}
	}
	return out
}

func hasWord(s string) bool {
	return countWords(s, 1) > 0
}

// countWords counts the space-separated words of s, stopping at limit.
func countWords(s string, limit int) int {
	n, in := 0, false
	for i := 0; i < len(s) && n < limit; i++ {
		sp := s[i] == ' ' || s[i] == '\n' || s[i] == '\t'
		if !sp && !in {
			n++
		}
		in = !sp
	}
	return n
}

// lastWords returns the last n words of s.
func lastWords(s string, n int) string {
	seen, in := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		sp := s[i] == ' ' || s[i] == '\n' || s[i] == '\t'
		if !sp && !in {
			seen++
			if seen > n {
				return s[i+1:]
			}
		}
		in = !sp
	}
	return s
}

// isDense reports whether v is the dense block of the router's combined
// features.
func (l *Learned) isDense(v []float32) bool {
	c, ok := l.emb.(*Combined)
	return ok && len(v) > 0 && len(v) == c.dense.Dim()
}

// embedTexts embeds texts with the router's embedder as sparse vectors of
// the model's dimension.
func (l *Learned) embedTexts(ctx context.Context, m *installed, texts []string) ([]sparse, error) {
	if m.spell != nil {
		texts = slices.Clone(texts)
		for i, t := range texts {
			texts[i] = m.spell.correct(t)
		}
	}
	if be, ok := l.emb.(sparseBatchEmbedder); ok {
		return be.embedSparse(ctx, texts)
	}
	out := make([]sparse, len(texts))
	if se, ok := l.emb.(sparseEmbedder); ok {
		for i, t := range texts {
			out[i].idx, out[i].val = se.AppendSparse(nil, nil, t)
		}
		return out, nil
	}
	vs, err := l.emb.Embed(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("router: embed query: %w", err)
	}
	if len(vs) != len(texts) {
		return nil, fmt.Errorf("router: embedder returned %d vectors for %d texts", len(vs), len(texts))
	}
	for i, v := range vs {
		if len(v) != m.Dim {
			return nil, fmt.Errorf("%w: query embedding of dimension %d, model has %d", ErrBadModel, len(v), m.Dim)
		}
		out[i] = toSparse(v)
	}
	return out, nil
}

// fromNGrams returns the router's features of text given its n-grams
// under l.NGrams, computed by the caller: the lexical features are added
// to them (into dst's arrays, see Lexical.extendTo), unless the speller
// corrects text, whose n-grams then differ.
func (l *Learned) fromNGrams(ctx context.Context, m *installed, text string, ngrams sparse, dst *sparse) (sparse, error) {
	if m.spell != nil && m.spell.correct(text) != text {
		xs, err := l.embedTexts(ctx, m, []string{text})
		if err != nil {
			return sparse{}, err
		}
		return xs[0], nil
	}
	if lex, ok := l.emb.(*Lexical); ok {
		return lex.extendTo(dst, ngrams, text), nil
	}
	return ngrams, nil
}

// splitProbs writes into p the probabilities of text, of n-grams a (see
// ngrams), with the word vectors of m (see wordscore.go). It returns the
// text's features whole (in buf) when m's retrieval gate needs them;
// otherwise none.
func (l *Learned) splitProbs(m *installed, text string, a sparse, p []float64, buf *routeScratch) sparse {
	lex := l.emb.(*Lexical)
	var x sparse
	if m.Retrieval != nil {
		x = lex.extendSplit(&buf.x, a, text, &buf.split)
	} else {
		lex.split(a, text, &buf.split)
	}
	m.sc.probsSplit(m.words, a, &buf.split, p)
	return x
}

// ngrams returns q.Text, spelling-corrected, and its n-grams: q.Features,
// or l's (in buf) when it has none or the speller corrected it.
func (l *Learned) ngrams(m *installed, q Query, buf *routeScratch) (string, sparse) {
	text, a := q.Text, sparse{idx: q.Features.Idx, val: q.Features.Val}
	if m.spell != nil {
		if c := m.spell.correct(text); c != text {
			text, a = c, sparse{}
		}
	}
	if len(a.idx) == 0 {
		buf.ngrams.idx, buf.ngrams.val = l.emb.(*Lexical).local.AppendSparse(buf.ngrams.idx[:0], buf.ngrams.val[:0], text)
		a = buf.ngrams
	}
	return text, a
}

// inScope is how in-scope the probabilities p say a text is: 1 − P(out of
// scope) with an out-of-scope class, else the best expert's probability.
func inScope(m *installed, p []float64) float64 {
	if m.OOSClass >= 0 {
		return 1 - p[m.OOSClass]
	}
	return bestExpert(p, -1)
}

// evidence writes into p the gate probabilities for q, from q.Features
// or q.Vector when the text is short and they are the router's features,
// otherwise from the router's own embedding (by segments for a long text), and with the
// conversation when the text alone is ambiguous. It returns the features
// of the main text for the retrieval gate, which may live in buf's arrays
// (the caller's, reused across queries): none when m has no retrieval
// gate and its word vectors scored the text.
func (l *Learned) evidence(ctx context.Context, m *installed, q Query, p []float64, buf *routeScratch) (sparse, error) {
	var x sparse
	dst := &buf.x
	whole := true // x holds the text's features
	var text string
	var a sparse // text's n-grams, when word vectors score it
	segs := segments(q.Text)
	switch {
	case len(segs) > 0:
		texts := make([]string, len(segs))
		for i, s := range segs {
			texts[i] = s.text
		}
		xs, err := l.embedTexts(ctx, m, texts)
		if err != nil {
			return sparse{}, err
		}
		// The question part alone when it is clear; the context sentences
		// join in when it is not.
		primary := 0
		for primary < len(segs) && segs[len(segs)-1-primary].weight == 2 {
			primary++
		}
		k := len(segs) - primary
		combine(m, segs[k:], xs[k:], p)
		if ambiguous(m, p, segs[len(segs)-1].text) {
			combine(m, segs, xs, p)
		}
		x = xs[len(xs)-1]
	case m.words != nil && (len(q.Features.Idx) > 0 || len(q.Vector) != m.Dim):
		// Lexical features, from q's n-grams or the text (a vector of
		// the model's dimension is taken as the features themselves).
		text, a = l.ngrams(m, q, buf)
		x, whole = l.splitProbs(m, text, a, p, buf), m.Retrieval != nil
	case len(q.Features.Idx) > 0:
		xs, err := l.fromNGrams(ctx, m, q.Text, sparse{idx: q.Features.Idx, val: q.Features.Val}, dst)
		if err != nil {
			return sparse{}, err
		}
		x = xs
		m.sc.probs(x, p)
	case len(q.Vector) == m.Dim:
		x = toSparse(q.Vector)
		m.sc.probs(x, p)
	case l.isDense(q.Vector):
		// The gateway's vector is the dense block of combined features:
		// no second call to the embedder.
		var err error
		if x, err = l.emb.(*Combined).join(q.Text, q.Vector); err != nil {
			return sparse{}, err
		}
		m.sc.probs(x, p)
	default:
		xs, err := l.embedTexts(ctx, m, []string{q.Text})
		if err != nil {
			return sparse{}, err
		}
		x = xs[0]
		m.sc.probs(x, p)
	}
	if len(q.History) == 0 && q.System == "" || !ambiguous(m, p, q.Text) {
		return x, nil
	}
	if !whole {
		x = l.emb.(*Lexical).extendTo(dst, a, text)
	}
	// The current message's features at weight 1, each earlier turn's at
	// half the weight of the one after it, and the system prompt's (which
	// may name the assistant's domain) at a half, in one vector: the
	// gate then reads the conversation, dominated by its last message.
	turns := q.History[max(0, len(q.History)-historyTurns):]
	texts := make([]string, 0, len(turns)+1)
	for _, t := range turns {
		texts = append(texts, lastWords(t, segmentWords))
	}
	if q.System != "" {
		texts = append(texts, lastWords(q.System, segmentWords))
	}
	hs, err := l.embedTexts(ctx, m, texts)
	if err != nil {
		return sparse{}, err
	}
	// A short message (a follow-up) leans on the conversation more than a
	// full but uncertain one: the last turn weighs 0.75 rather than 0.5.
	conv, w := x, 1.0
	if countWords(q.Text, shortWords) < shortWords {
		w = 1.5
	}
	for i := len(turns) - 1; i >= 0; i-- {
		w /= 2
		conv = addSparse(conv, hs[i], float32(w))
	}
	if q.System != "" {
		conv = addSparse(conv, hs[len(hs)-1], 0.5)
	}
	m.sc.probs(conv, p)
	return x, nil
}

// ambiguous reports whether a message's own probabilities p leave its
// route open: a short message, or one not confidently in scope and with
// one expert.
func ambiguous(m *installed, p []float64, text string) bool {
	if countWords(text, shortWords) < shortWords {
		return true
	}
	in := inScope(m, p)
	return in < 0.5 || bestExpert(p, m.OOSClass) < 0.5*in
}

// combine writes into p the weighted mean of the segments' probabilities,
// each weighted by its prior weight times the cube of how in-scope it
// looks, so that unrelated bulk contributes little (a linear weight still
// let five generic sentences pull an in-scope question out of scope); with no in-scope evidence anywhere
// the prior weights alone count.
func combine(m *installed, segs []segment, xs []sparse, p []float64) {
	ps := make([]float64, len(p))
	acc := make([]float64, len(p))
	var total float64
	for i, x := range xs {
		m.sc.probs(x, ps)
		in := inScope(m, ps)
		w := segs[i].weight * (in*in*in + 1e-6)
		for c, v := range ps {
			acc[c] += w * v
		}
		total += w
	}
	for c := range p {
		p[c] = acc[c] / total
	}
}

// addSparse returns a + w·b, L2-normalised, for index-sorted a and b.
func addSparse(a, b sparse, w float32) sparse {
	return addSparseTo(sparse{}, a, b, w)
}

// addSparseTo is addSparse writing into dst's arrays, grown as needed.
func addSparseTo(dst, a, b sparse, w float32) sparse {
	x, _ := addSparseScaled(dst, a, b, w)
	return x
}

// addSparseScaled is addSparseTo returning the normalising factor too.
func addSparseScaled(dst, a, b sparse, w float32) (sparse, float32) {
	n := len(a.idx) + len(b.idx)
	idx, val := slices.Grow(dst.idx[:0], n)[:n], slices.Grow(dst.val[:0], n)[:n]
	if len(b.idx)*fewShare <= len(a.idx) {
		out := addFew(idx, val, a, b, w)
		f, _ := vec.NormalizeFactor(out.val)
		return out, f
	}
	i, j, k := 0, 0, 0
	for ; i < len(a.idx) && j < len(b.idx); k++ {
		switch ai, bj := a.idx[i], b.idx[j]; {
		case ai < bj:
			idx[k], val[k] = ai, a.val[i]
			i++
		case bj < ai:
			idx[k], val[k] = bj, float32(w*b.val[j])
			j++
		default:
			idx[k], val[k] = ai, a.val[i]+float32(w*b.val[j])
			i++
			j++
		}
	}
	for ; i < len(a.idx); i, k = i+1, k+1 {
		idx[k], val[k] = a.idx[i], a.val[i]
	}
	for ; j < len(b.idx); j, k = j+1, k+1 {
		idx[k], val[k] = b.idx[j], float32(w*b.val[j])
	}
	out := sparse{idx: idx[:k], val: val[:k]}
	f, _ := vec.NormalizeFactor(out.val)
	return out, f
}

// fewShare is how many times fewer entries than a b must have for
// addSparseTo to copy the runs of a between them (addFew) rather than
// merge entry by entry: the word pairs' few dozen buckets added to a
// query's features, hundreds.
const fewShare = 8

// addFew writes a + w·b into idx and val (of their total length) as
// addSparseTo's merge does, with the same sums, for a b much shorter than
// a: each of b's entries is found in a by binary search and the run of a
// before it copied whole rather than compared entry by entry.
func addFew(idx []int32, val []float32, a, b sparse, w float32) sparse {
	i, k := 0, 0
	for j, bj := range b.idx {
		m, found := slices.BinarySearch(a.idx[i:], bj)
		copy(idx[k:], a.idx[i:i+m])
		copy(val[k:], a.val[i:i+m])
		i, k = i+m, k+m
		if found {
			idx[k], val[k] = bj, a.val[i]+float32(w*b.val[j])
			i++
		} else {
			idx[k], val[k] = bj, float32(w*b.val[j])
		}
		k++
	}
	copy(idx[k:], a.idx[i:])
	k += copy(val[k:], a.val[i:])
	return sparse{idx: idx[:k], val: val[:k]}
}
