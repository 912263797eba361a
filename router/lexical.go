package router

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/internal/vec"
	"github.com/moegate/moegate/router/wordnet"
)

// Lexical are the learned router's default features: embed.Local's hashed
// word and character n-grams, plus for each word its Porter stem and its
// WordNet concepts (senses, their hypernyms and lexicographer classes),
// hashed into the same buckets. The n-grams capture wording; stems and
// concepts let an expert with few examples claim queries whose words its
// examples never used ("salmon" and "steak" share the concept food).
// The WordNet lexicon is parsed on first use, once. It is safe for
// concurrent use.
type Lexical struct {
	local *embed.Local
	opts  LexicalOptions

	once sync.Once
	wn   *wordnet.Lexicon
	err  error

	// words memoises each word's features (its stem and concept buckets,
	// in the order features appends them), so a query's words cost a
	// table lookup rather than stemming, WordNet lookups and hashing: they
	// were most of the router's time per query. Bounded by maxMemoWords.
	words wordMemo[damped]

	// scratch holds extend's buffers between queries: arrays on the stack
	// were zeroed on every call, 16 KB of stores for a few hundred buckets.
	scratch sync.Pool
}

// lexScratch is one query's buffers for extendSplit and split.
type lexScratch struct {
	runs    []wordRun
	bs, tmp []damped
	ps      []damped // the pairs' buckets
	ends    []int32
	x, p    sparse // the stem and concept block, the pairs' block
	sum     sparse // the n-grams with the first block, when the pairs follow
	// split's: the indexes the words' buckets reach, those reached more
	// than once (bit sets of the dimension), and the latter's sums.
	seen, twice []uint64
	shared      bucketSet
}

// maxMemoWords bounds the memoised words: real traffic's vocabulary is
// mostly a few thousand words; beyond the bound, new words are computed
// each time. A word's buckets are a few dozen bytes to a few hundred.
const maxMemoWords = 1 << 14

// LexicalOptions weigh the features Lexical adds to embed.Local's; zero
// fields take the defaults, negative ones disable the feature.
type LexicalOptions struct {
	Stem float64 // weight of a word's stem feature; default 0.5
	// Concept is the weight of a word's WordNet senses together (divided
	// by the square root of their number); each sense's hypernyms get half
	// of its weight, theirs a quarter, and its class a quarter. Default 0.3.
	Concept float64
	// Gloss is the weight of the words of the definitions of a word's most
	// frequent senses, together (divided by the square root of their
	// number), as stems, and of their hypernyms' definitions (see
	// glossFeatures): "mortgage" then shares "loan" with an expert's
	// examples about loans. Default 0.5 (0.3, 0.6 and 0.8 within 0.002).
	Gloss float64
	// Extra weighs the stem and concept block (L2-normalised) against the
	// n-grams (L2-normalised) before the sum is normalised; default 1.
	// CLINC150 10-shot, held-out split of train: n-grams alone 0.594,
	// + stems 0.613, + concepts 0.633, + both 0.629 at 0.5, 0.637 at 1.
	Extra float64
	// Pairs weighs the pairs of words two or three words apart, in order
	// ("call … alex", "what … you … ask"; neighbours are embed.Local's
	// bigrams): a block, L2-normalised, added to the rest (normalised)
	// before the sum is normalised. Default 0.3. CLINC150 full data, seed
	// 1, val / a held-out fifth of train: none 0.9717 / 0.9787, 0.3 0.9737
	// / 0.9820 (out-of-scope recall 0.85 -> 0.88 / 0.75 -> 0.85); as a
	// test-only wrapper, unsigned: 0.3 0.9750 / 0.9807, 0.6 0.9737 on val.
	Pairs float64
}

func (o LexicalOptions) withDefaults() LexicalOptions {
	if o.Stem == 0 {
		o.Stem = 0.5
	}
	if o.Concept == 0 {
		o.Concept = 0.3
	}
	if o.Gloss == 0 {
		o.Gloss = 0.5
	}
	if o.Extra == 0 {
		o.Extra = 1
	}
	if o.Pairs == 0 {
		o.Pairs = 0.3
	}
	return o
}

// NewLexical returns the lexical features over local's n-grams.
func NewLexical(local *embed.Local, opts LexicalOptions) *Lexical {
	l := &Lexical{local: local, opts: opts.withDefaults()}
	l.words.limit = maxMemoWords
	return l
}

// Dim implements embed.Embedder.
func (l *Lexical) Dim() int { return l.local.Dim() }

// FeatureVersion names the n-grams' version and the lexical features with
// their weights.
func (l *Lexical) FeatureVersion() string {
	return fmt.Sprintf("%s+lex3(%g,%g,%g,%g,%g)", l.local.FeatureVersion(), l.opts.Stem, l.opts.Concept, l.opts.Gloss, l.opts.Extra, l.opts.Pairs)
}

// Embed implements embed.Embedder with dense vectors (the router itself
// uses AppendSparse).
func (l *Lexical) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		idx, val := l.AppendSparse(nil, nil, t)
		out[i] = make([]float32, l.Dim())
		for k, j := range idx {
			out[i][j] = val[k]
		}
	}
	return out, nil
}

// lexicon returns the WordNet lexicon, loading it on first use; nil when
// concepts are disabled or it failed to load (then only stems are added:
// the shipped file is checked by the tests, so that is a broken build).
func (l *Lexical) lexicon() *wordnet.Lexicon {
	if l.opts.Concept < 0 && l.opts.Gloss < 0 {
		return nil
	}
	l.once.Do(func() { l.wn, l.err = wordnet.Load() })
	return l.wn
}

// KnownWord reports whether the lower-case word w is an English word: a
// WordNet lemma, an inflection of one ("flights", "paying") or a function
// word. The speller corrects such a word only to a frequent vocabulary
// word one edit away, which a typo that looks like an inflection
// ("pleaes" of "plea") still is at full data, while a few-shot router's
// rare vocabulary words no longer capture real words its examples lack
// ("paying" was "playing"). CLINC150 val, 10 examples per expert with
// descriptions: 0.723 → 0.724; 50: 0.839 → 0.840; the teacher
// simulation 0.901 → 0.905; one or two typos 0.959 either way.
func (l *Lexical) KnownWord(w string) bool {
	if stopWords[w] {
		return true
	}
	wn := l.lexicon()
	return wn != nil && wn.Synsets(w) != nil
}

// AppendSparse appends text's features to idx and val in increasing index
// order, L2-normalised, like embed.Local.AppendSparse.
func (l *Lexical) AppendSparse(idx []int32, val []float32, text string) ([]int32, []float32) {
	var li [256]int32
	var lv [256]float32
	a := sparse{}
	a.idx, a.val = l.local.AppendSparse(li[:0], lv[:0], text)
	x := l.extend(a, text)
	return append(idx, x.idx...), append(val, x.val...)
}

// NGrams is the embed.Local whose n-grams Lexical extends: a caller that
// already hashed a text with it passes them in Query.Features.
func (l *Lexical) NGrams() *embed.Local { return l.local }

// extend adds text's stem and concept features to its n-grams a (as
// l.NGrams gives them). The result may share a's arrays.
func (l *Lexical) extend(a sparse, text string) sparse {
	return l.extendTo(&sparse{}, a, text)
}

// extendTo is extend writing the result into dst's arrays, grown as
// needed (*dst is left with them), unless it is a itself.
func (l *Lexical) extendTo(dst *sparse, a sparse, text string) sparse {
	return l.extendSplit(dst, a, text, nil)
}

// extendSplit is extendTo that, with a non-nil sp, also writes into sp
// the parts the result sums (see lexSplit).
func (l *Lexical) extendSplit(dst *sparse, a sparse, text string, sp *lexSplit) sparse {
	s := l.getScratch()
	defer l.scratch.Put(s)
	var shared *sparse
	runs := &s.runs
	if sp != nil {
		sp.reset()
		shared, runs = &sp.shared, &sp.words
	}
	*runs, s.ps = l.features((*runs)[:0], s.ps[:0], text)
	s.bs, s.ends = s.bs[:0], s.ends[:0]
	for _, r := range *runs {
		s.bs = append(s.bs, r.f...)
		s.ends = append(s.ends, int32(len(s.bs)))
	}
	s.x.idx, s.x.val = s.x.idx[:0], s.x.val[:0]
	var lexNorm float32
	if len(s.bs) > 0 {
		sorted, other := sortRuns(s.bs, s.tmp, s.ends, l.Dim())
		s.bs, s.tmp = sorted, other
		s.x, lexNorm = merge(sorted, s.x, shared)
	}
	s.mergePairs()
	extra, pairs := float32(l.opts.Extra), float32(l.opts.Pairs)
	var x sparse
	aScale, lexScale, pScale := float32(1), float32(0), float32(0)
	switch {
	case len(s.x.idx) > 0 && len(s.p.idx) > 0:
		// The intermediate sum lives in scratch, the result in dst.
		var f1, f2 float32
		s.sum, f1 = addSparseScaled(s.sum, a, s.x, extra)
		*dst, f2 = addSparseScaled(*dst, s.sum, s.p, pairs)
		x, aScale, lexScale, pScale = *dst, f1*f2, extra*f1*f2*lexNorm, pairs*f2
	case len(s.x.idx) > 0:
		var f float32
		*dst, f = addSparseScaled(*dst, a, s.x, extra)
		x, aScale, lexScale = *dst, f, extra*f*lexNorm
	case len(s.p.idx) > 0:
		var f float32
		*dst, f = addSparseScaled(*dst, a, s.p, pairs)
		x, aScale, pScale = *dst, f, pairs*f
	default:
		x = a
	}
	if sp != nil {
		sp.aScale, sp.lexScale, sp.pScale = aScale, lexScale, pScale
		sp.pairs.idx = append(sp.pairs.idx, s.p.idx...)
		sp.pairs.val = append(sp.pairs.val, s.p.val...)
	}
	return x
}

// getScratch returns buffers for one query, to be put back in l.scratch.
func (l *Lexical) getScratch() *lexScratch {
	if s, ok := l.scratch.Get().(*lexScratch); ok {
		return s
	}
	return &lexScratch{}
}

// mergePairs writes the pairs' buckets s.ps, merged, into s.p.
func (s *lexScratch) mergePairs() {
	s.p.idx, s.p.val = s.p.idx[:0], s.p.val[:0]
	if len(s.ps) > 0 {
		sortByIndex(s.ps)
		s.p, _ = merge(s.ps, s.p, nil)
	}
}

// split writes into sp the parts of the features extendTo sums for a
// and text (see lexSplit), without summing them: no bucket is sorted or
// merged. Bit sets find the indexes several words share, most of a
// query's have one bucket, and the norms of the sums come from the parts'
// norms and their few common indexes.
func (l *Lexical) split(a sparse, text string, sp *lexSplit) {
	s := l.getScratch()
	defer l.scratch.Put(s)
	sp.reset()
	sp.words, s.ps = l.features(sp.words, s.ps[:0], text)
	if n := (l.Dim() + 63) / 64; len(s.seen) < n {
		s.seen, s.twice = make([]uint64, n), make([]uint64, n)
	}
	// yy is |y|², y the lexical block merge makes: at first as if no
	// index repeated.
	seen, twice := s.seen, s.twice
	var yy float64
	repeats := 0 // occurrences after an index's first
	for _, r := range sp.words {
		for _, b := range r.f {
			w, bit := uint(b.i)>>6, uint64(1)<<(b.i&63)
			if seen[w]&bit != 0 {
				twice[w] |= bit
				repeats++
			}
			seen[w] |= bit
			yy += float64(b.d) * float64(b.d)
		}
	}
	set := &s.shared
	if repeats > 0 {
		set.reset(repeats) // at least the repeated indexes
		for _, r := range sp.words {
			for _, b := range r.f {
				if twice[uint(b.i)>>6]&(1<<(b.i&63)) != 0 {
					set.add(b)
				}
			}
		}
		// A repeated index's merged value replaces its occurrences'.
		for _, at := range set.used {
			e := &set.slots[at]
			y := float32(0) // a bucket summing to 0 is absent
			if e.w != 0 {
				y = embed.Damp(e.w)
			}
			sp.shared.idx = append(sp.shared.idx, e.i-1)
			sp.shared.val = append(sp.shared.val, y-e.d)
			yy += float64(y)*float64(y) - e.dd
			e.d = y
		}
	}
	// value is y at index i.
	value := func(i int32) float32 {
		w, bit := uint(i)>>6, uint64(1)<<(i&63)
		switch {
		case w >= uint(len(seen)) || seen[w]&bit == 0:
			return 0
		case twice[w]&bit != 0:
			return set.value(i)
		}
		for _, r := range sp.words {
			if k, ok := slices.BinarySearchFunc(r.f, i, func(b damped, i int32) int { return cmp.Compare(b.i, i) }); ok {
				return r.f[k].d
			}
		}
		return 0
	}
	s.mergePairs()
	sp.pairs.idx = append(sp.pairs.idx, s.p.idx...)
	sp.pairs.val = append(sp.pairs.val, s.p.val...)

	// x = N(N(a + e·ŷ) + p·P̂), as extendTo sums it; ŷ = y/|y|.
	extra, pairs := float64(l.opts.Extra), float64(l.opts.Pairs)
	var aa float64
	for _, v := range a.val {
		aa += float64(v) * float64(v)
	}
	aScale, lexScale, pScale := 1.0, 0.0, 0.0
	sum2 := aa // |the sum so far|², before the pairs
	if yy > 0 {
		ly := 1 / math.Sqrt(yy)
		var ay float64
		for k, i := range a.idx {
			if v := value(i); v != 0 {
				ay += float64(a.val[k]) * float64(v)
			}
		}
		f1 := 1 / math.Sqrt(aa+2*extra*ly*ay+extra*extra*ly*ly*yy)
		aScale, lexScale, sum2 = f1, extra*f1*ly, 1
	}
	if len(s.p.idx) > 0 {
		// The pairs' dot product with the sum so far.
		var ap, yp float64
		ai := 0
		for k, i := range s.p.idx {
			v := float64(s.p.val[k])
			for ai < len(a.idx) && a.idx[ai] < i {
				ai++
			}
			if ai < len(a.idx) && a.idx[ai] == i {
				ap += v * float64(a.val[ai])
			}
			yp += v * float64(value(i))
		}
		f2 := 1 / math.Sqrt(sum2+2*pairs*(aScale*ap+lexScale*yp)+pairs*pairs)
		aScale, lexScale, pScale = aScale*f2, lexScale*f2, pairs*f2
	}
	sp.aScale, sp.lexScale, sp.pScale = float32(aScale), float32(lexScale), float32(pScale)

	for _, r := range sp.words {
		for _, b := range r.f {
			seen[uint(b.i)>>6] = 0
		}
	}
	if repeats > 0 {
		for _, at := range set.used {
			twice[uint(set.slots[at].i-1)>>6] = 0
		}
		set.clear()
	}
}

// bucketSet sums a query's repeated lexical buckets by index: an
// open-addressing table of a power of two slots at most half full,
// cleared slot by slot after use.
type bucketSet struct {
	slots []bucketSum
	used  []int32 // the slots taken, in order
	shift uint
}

// bucketSum is an index's weights; i is the index plus one (0 marks an
// empty slot).
type bucketSum struct {
	i    int32
	w, d float32 // the sums of the weights and of the damped weights
	dd   float64 // the sum of the damped weights' squares
}

func (t *bucketSet) reset(n int) {
	size, shift := 16, uint(28)
	for size < 2*n {
		size, shift = size*2, shift-1
	}
	if cap(t.slots) < size {
		t.slots = make([]bucketSum, size)
	}
	t.slots, t.shift = t.slots[:size], shift
}

func (t *bucketSet) clear() {
	for _, at := range t.used {
		t.slots[at] = bucketSum{}
	}
	t.used = t.used[:0]
}

func (t *bucketSet) slot(i int32) int {
	return int(uint32(i+1) * 0x9e3779b1 >> t.shift)
}

// add sums b into its index's slot.
func (t *bucketSet) add(b damped) {
	mask := len(t.slots) - 1
	for at := t.slot(b.i); ; at = (at + 1) & mask {
		e := &t.slots[at]
		if e.i == b.i+1 {
			e.w += b.w
			e.d += b.d
			e.dd += float64(b.d) * float64(b.d)
			return
		}
		if e.i == 0 {
			*e = bucketSum{i: b.i + 1, w: b.w, d: b.d, dd: float64(b.d) * float64(b.d)}
			t.used = append(t.used, int32(at))
			return
		}
	}
}

// value is index i's merged value (d, once damped by split), 0 when no
// bucket has it.
func (t *bucketSet) value(i int32) float32 {
	mask := len(t.slots) - 1
	for at := t.slot(i); ; at = (at + 1) & mask {
		e := &t.slots[at]
		if e.i == i+1 {
			return e.d
		}
		if e.i == 0 {
			return 0
		}
	}
}

// pairWindow is the farthest apart two words of a pair feature are.
const pairWindow = 3

// sortByIndex sorts bs by index, stably. A query's few dozen pairs take
// an insertion sort a quarter of the instructions slices.SortStableFunc
// took with its comparison function (callgrind).
func sortByIndex(bs []damped) {
	if len(bs) > maxInsertion {
		slices.SortStableFunc(bs, func(a, b damped) int { return cmp.Compare(a.i, b.i) })
		return
	}
	for i := 1; i < len(bs); i++ {
		b, j := bs[i], i
		for ; j > 0 && bs[j-1].i > b.i; j-- {
			bs[j] = bs[j-1]
		}
		bs[j] = b
	}
}

// maxInsertion is the most buckets sortByIndex orders by insertion: n
// random buckets take about n²/4 moves.
const maxInsertion = 128

// bucket is one hashed feature occurrence.
type bucket struct {
	i int32
	w float32
}

// damped is a word's bucket with its weight damped as merge damps a
// bucket's (d), for the buckets no other word of a query shares: most
// are, and a logarithm each was a tenth of the features' time.
type damped struct {
	i    int32
	w, d float32
}

// sortRuns sorts bs, made of runs ascending by index that end at ends,
// stably: runs are merged pairwise, the earlier run's bucket first on a
// tie, so that a bucket's occurrences keep the order of the words they
// came from (and merge sums them in that order). tmp is scratch space;
// the other of the two buffers is returned with the sorted one.
// It is a merge sort's last passes: a sort of the whole was most of the
// lexical features' time. Up to shortRuns buckets (indexes below dim) it
// is one stable radix pass on the indexes' top 8 bits and an insertion
// sort, stable too, which moves each bucket only within its range: a
// query's few hundred buckets take a third of the merge passes'
// instructions.
func sortRuns(bs, tmp []damped, ends []int32, dim int) (sorted, other []damped) {
	tmp = slices.Grow(tmp[:0], len(bs))[:len(bs)]
	if len(bs) <= shortRuns && len(ends) > 1 {
		shift := max(0, bits.Len(uint(dim-1))-8)
		var at [256]int32
		for _, b := range bs {
			at[b.i>>shift&255]++
		}
		n := int32(0)
		for d, c := range at {
			at[d] = n
			n += c
		}
		for _, b := range bs {
			d := b.i >> shift & 255
			tmp[at[d]] = b
			at[d]++
		}
		for i := 1; i < len(tmp); i++ {
			b, j := tmp[i], i
			for ; j > 0 && tmp[j-1].i > b.i; j-- {
				tmp[j] = tmp[j-1]
			}
			tmp[j] = b
		}
		return tmp, bs[:0]
	}
	for len(ends) > 1 {
		out := ends[:0] // written behind the reads
		start := int32(0)
		for j := 0; j < len(ends); j += 2 {
			if j+1 == len(ends) {
				copy(tmp[start:ends[j]], bs[start:ends[j]])
				out = append(out, ends[j])
				break
			}
			mid, end := ends[j], ends[j+1]
			mergeRuns(tmp[start:end], bs[start:mid], bs[mid:end])
			out = append(out, end)
			start = end
		}
		ends = out
		bs, tmp = tmp, bs
	}
	return bs, tmp[:0]
}

// shortRuns is the most buckets sortRuns orders by a radix pass and an
// insertion sort: n buckets in 256 ranges are out of order about n²/1024
// times, a few moves each up to here.
const shortRuns = 1024

// mergeRuns merges the ascending runs a and b into dst (of their total
// length), a's bucket first on a tie.
func mergeRuns(dst, a, b []damped) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if b[j].i < a[i].i {
			dst[k] = b[j]
			j++
		} else {
			dst[k] = a[i]
			i++
		}
		k++
	}
	k += copy(dst[k:], a[i:])
	copy(dst[k:], b[j:])
}

// merge appends to x the buckets of bs, sorted by index, with repeated
// buckets summed in order, sublinear term frequency applied (sign kept)
// and L2-normalised, as embed.Local does; it returns the normalising
// factor. With a non-nil shared it appends to it, for each repeated
// bucket, its value before normalising less the sum of its occurrences'
// damped weights (see lexSplit).
func merge(bs []damped, x sparse, shared *sparse) (sparse, float32) {
	for k := 0; k < len(bs); {
		b := bs[k]
		w, y := b.w, b.d
		if k++; k < len(bs) && bs[k].i == b.i {
			d := b.d
			for ; k < len(bs) && bs[k].i == b.i; k++ {
				w += bs[k].w
				d += bs[k].d
			}
			y = embed.Damp(w)
			if shared != nil {
				shared.idx = append(shared.idx, b.i)
				shared.val = append(shared.val, y-d) // Damp(0) is 0: a bucket summing to 0 is absent
			}
		}
		if w == 0 {
			continue
		}
		x.idx = append(x.idx, b.i)
		x.val = append(x.val, y)
	}
	f, _ := vec.NormalizeFactor(x.val)
	return x, f
}

// Feature kinds, tagging the hashes of the lexical features.
const (
	kindStem    = 11
	kindSynset  = 12
	kindLexFile = 13
	kindPair    = 14
)

// features appends the stem and concept features of text's words to
// runs, a run of buckets ascending by index for each word that has any;
// and, with Pairs, the buckets of the word pairs 2 to pairWindow words
// apart to ps (every word, stop words included: "my" and "your" tell
// meta from small talk), in text order. One pass over the words for
// both: a second cost a tenth of the lexical features' instructions.
func (l *Lexical) features(runs []wordRun, ps []damped, text string) ([]wordRun, []damped) {
	var runes [maxLexWord]rune
	var word [maxLexWord]byte
	var last [pairWindow]uint64 // the previous words' hashes, a ring
	pairs, one := l.opts.Pairs > 0, embed.Damp(1)
	// Words as embed.Local reads them; those of letters a-z only, shorter
	// than maxLexWord, get features (numbers have no stem or concept).
	for i, nw := 0, 0; ; nw++ {
		var n int
		if n, i = embed.NextWord(text, i, runes[:]); n == 0 {
			break
		}
		if pairs {
			h := uint64(14695981039346656037) // FNV-1a, as hashString
			for _, r := range runes[:n] {
				h ^= uint64(r)
				h *= 1099511628211
			}
			for d := 2; d <= min(nw, pairWindow); d++ {
				p := embed.Mix(last[(nw-d)%pairWindow]*0x9e3779b97f4a7c15+h, kindPair)
				w := float32(1)
				if p>>63 != 0 {
					w = -1
				}
				ps = append(ps, damped{int32(p % uint64(l.local.Dim())), w, w * one})
			}
			last[nw%pairWindow] = h
		}
		if n == maxLexWord || !asciiWord(runes[:n], word[:]) {
			continue
		}
		k := keyOf(word[:n])
		f, ok := l.words.get(k)
		if !ok {
			f = l.memo(k, string(word[:n]))
		}
		if len(f) > 0 {
			runs = append(runs, wordRun{k, f})
		}
	}
	return runs, ps
}

// memo computes w's features, ascending by index, and remembers them
// (as k) while there is room.
func (l *Lexical) memo(k wordKey, w string) []damped {
	bs := strongest(l.wordFeatures(nil, w), maxWordBuckets)
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.i, b.i) })
	f := make([]damped, len(bs))
	for k, b := range bs {
		f[k] = damped{b.i, b.w, embed.Damp(b.w)}
	}
	l.words.put(k, f)
	return f
}

// maxWordBuckets bounds a word's stem, concept and gloss features: a
// common word's senses, hypernyms and their definitions reach a hundred
// buckets, most of them light, and training and routing cost in
// proportion. CLINC150 train, non-zero features per query: 131 without
// glosses, 228 with all, 203 with at most 48 per word; accuracy, 10
// examples per expert (val, a fifth of train held out): 0.622 and 0.662
// with all, 0.619 and 0.662 at 48, 0.617 at 32; full data 0.972 and 0.972.
const maxWordBuckets = 48

// strongest sums the repeated buckets of bs and keeps the n heaviest (by
// magnitude); it reorders bs.
func strongest(bs []bucket, n int) []bucket {
	slices.SortFunc(bs, func(a, b bucket) int { return int(a.i - b.i) })
	out := bs[:0]
	for k := 0; k < len(bs); {
		b := bs[k]
		for k++; k < len(bs) && bs[k].i == b.i; k++ {
			b.w += bs[k].w
		}
		out = append(out, b)
	}
	if len(out) <= n {
		return out
	}
	slices.SortFunc(out, func(a, b bucket) int { return cmp.Compare(math.Abs(float64(b.w)), math.Abs(float64(a.w))) })
	return out[:n]
}

// wordFeatures appends the stem and concept features of the word w
// (lower-case letters a-z).
func (l *Lexical) wordFeatures(bs []bucket, w string) []bucket {
	if stopWords[w] {
		return bs
	}
	if l.opts.Stem > 0 {
		bs = l.add(bs, hashString(stem(w), kindStem), float32(l.opts.Stem))
	}
	wn := l.lexicon()
	if wn == nil {
		return bs
	}
	ids := wn.Synsets(w)
	if len(ids) == 0 {
		return bs
	}
	if l.opts.Gloss > 0 {
		bs = l.glossFeatures(bs, wn, ids)
	}
	if l.opts.Concept < 0 {
		return bs
	}
	// A word's senses share its concept weight; each parent gets half
	// of its child's share and each class a quarter.
	c := float32(l.opts.Concept) / float32(math.Sqrt(float64(len(ids))))
	for _, id := range ids {
		bs = l.add(bs, hashID(id, kindSynset), c)
		bs = l.add(bs, hashID(int32(wn.LexFile(id)), kindLexFile), c/4)
		for _, p := range wn.Parents(id) {
			bs = l.add(bs, hashID(p, kindSynset), c/2)
			for _, g := range wn.Parents(p) {
				bs = l.add(bs, hashID(g, kindSynset), c/4)
			}
		}
	}
	return bs
}

// glossFeatures appends the stems of the gloss words of the senses ids,
// sharing the weight Gloss, and of their hypernyms' at half the weight per
// level, as concepts weigh them. CLINC150 10-shot (3 seeds, val / a
// held-out fifth of train): senses' glosses alone 0.608 / 0.654, with the
// parents' 0.615 / 0.660, and the grandparents' 0.622 / 0.662; with
// descriptions 0.732 / 0.743, 0.739 / 0.751, 0.744 / 0.754.
func (l *Lexical) glossFeatures(bs []bucket, wn *wordnet.Lexicon, ids []int32) []bucket {
	n := 0
	for _, id := range ids {
		n += len(wn.Gloss(id))
	}
	if n == 0 {
		return bs
	}
	gloss := func(bs []bucket, id int32, w float32) []bucket {
		for _, word := range wn.Gloss(id) {
			bs = l.add(bs, hashString(stem(wn.GlossWord(word)), kindStem), w)
		}
		return bs
	}
	g := float32(l.opts.Gloss / math.Sqrt(float64(n)))
	for _, id := range ids {
		bs = gloss(bs, id, g)
		for _, p := range wn.Parents(id) {
			bs = gloss(bs, p, g/2)
			for _, gp := range wn.Parents(p) {
				bs = gloss(bs, gp, g/4)
			}
		}
	}
	return bs
}

// asciiWord writes the runes rs into w as bytes and reports whether they
// are all letters a-z.
func asciiWord(rs []rune, w []byte) bool {
	for i, r := range rs {
		if r < 'a' || r > 'z' {
			return false
		}
		w[i] = byte(r)
	}
	return true
}

// maxLexWord bounds the words that get a stem and concepts: longer ones
// are not words.
const maxLexWord = 24

func (l *Lexical) add(bs []bucket, h uint64, w float32) []bucket {
	if h>>63 != 0 {
		w = -w
	}
	return append(bs, bucket{int32(h % uint64(l.local.Dim())), w})
}

// hashString is FNV-1a of s finalised by splitmix64 with a kind tag.
func hashString(s string, kind uint64) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return embed.Mix(h, kind)
}

func hashID(id int32, kind uint64) uint64 { return embed.Mix(uint64(id)+1, kind) }

// stopWords get no stem or concept feature: WordNet gives them senses
// ("can" the container, "will" the document) that are noise for routing.
var stopWords = map[string]bool{
	"a": true, "an": true, "the": true, "and": true, "or": true, "but": true, "if": true,
	"of": true, "to": true, "in": true, "on": true, "at": true, "by": true, "for": true,
	"with": true, "from": true, "up": true, "about": true, "into": true, "over": true,
	"after": true, "i": true, "me": true, "my": true, "you": true, "your": true, "we": true,
	"our": true, "it": true, "its": true, "is": true, "are": true, "was": true, "were": true,
	"be": true, "been": true, "am": true, "do": true, "does": true, "did": true, "have": true,
	"has": true, "had": true, "can": true, "could": true, "will": true, "would": true,
	"shall": true, "should": true, "may": true, "might": true, "must": true, "what": true,
	"which": true, "who": true, "whom": true, "this": true, "that": true, "these": true,
	"those": true, "how": true, "when": true, "where": true, "why": true, "there": true,
	"here": true, "please": true, "tell": true, "know": true, "want": true, "need": true,
	"like": true, "get": true, "let": true, "make": true, "so": true, "not": true, "no": true,
	"yes": true, "some": true, "any": true, "all": true, "just": true, "now": true, "then": true,
	"than": true, "too": true, "very": true, "much": true, "many": true, "more": true,
	"most": true, "also": true, "as": true, "s": true, "t": true, "im": true, "id": true,
	"ive": true, "dont": true, "cant": true, "hi": true, "hey": true, "hello": true, "ok": true,
	"okay": true,
}
