package embed

import (
	"context"
	"math"
	"math/bits"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/moegate/moegate/internal/vec"
)

// DefaultLocalDim is the dimension NewLocal uses for dim <= 0: small enough
// for caches and pgvector's indexed types. Classifiers over these features
// want far more buckets, since hash collisions cost accuracy (CLINC150
// domain routing: 0.922 at 1024, 0.947 at 2048, 0.971 at 65536); they use
// AppendSparse, which costs the same at any dimension.
const DefaultLocalDim = 1024

// Feature weights: words carry most of the meaning, bigrams some word order,
// character n-grams robustness to inflection and typos. There are many more
// n-grams than words, hence their lower weight.
const (
	wordWeight   = 1.0
	bigramWeight = 0.7
	charWeight   = 0.35
	minGram      = 3
	maxGram      = 5
	maxWordRunes = 48 // longer "words" are cut; they are noise for routing
)

// Local is a deterministic, dependency-free embedder: hashed word unigrams,
// word bigrams and character 3-5-grams within word boundaries, plus a
// number token for every run of digits (so "transfer 200" and "transfer
// 350" share a feature), with sublinear term frequency, L2-normalised.
// Hashing is signed (each feature adds +w or -w to its bucket), so that
// colliding features cancel in expectation instead of adding up: dot
// products of the vectors estimate those of the unhashed features without
// bias. It captures wording, not meaning, which is what a router trained
// on example queries needs. It is safe for concurrent use.
type Local struct {
	dim  int
	mask int // dim-1 when dim is a power of two (reduce takes a mask, not a division), else 0
	// scratch holds the buckets' buffers between texts: arrays on the
	// stack were zeroed on every call (8 KB for a text's few hundred).
	scratch sync.Pool
}

// buckets are one text's buffers.
type buckets struct{ bs, tmp []bucket }

func (l *Local) buffers() *buckets {
	if b, ok := l.scratch.Get().(*buckets); ok {
		return b
	}
	return &buckets{bs: make([]bucket, 0, 512), tmp: make([]bucket, 0, 512)}
}

// NewLocal returns a Local embedder with dim buckets (DefaultLocalDim when
// dim <= 0).
func NewLocal(dim int) *Local {
	if dim <= 0 {
		dim = DefaultLocalDim
	}
	l := &Local{dim: dim}
	if dim&(dim-1) == 0 {
		l.mask = dim - 1
	}
	return l
}

// Dim implements Embedder.
func (l *Local) Dim() int { return l.dim }

// LocalFeatures names the features Local computes; it changes whenever a
// text's vector does, so that vectors or models of another version are
// recognised as stale.
const LocalFeatures = "local-v2"

// FeatureVersion returns LocalFeatures.
func (l *Local) FeatureVersion() string { return LocalFeatures }

// Embed implements Embedder. It never fails except on a cancelled context.
func (l *Local) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		out[i] = l.Vector(t)
	}
	return out, nil
}

// Vector embeds one text.
func (l *Local) Vector(text string) []float32 {
	v := make([]float32, l.dim)
	l.EmbedInto(v, text)
	return v
}

// FNV-1a, 64 bit, fed rune by rune so that no n-gram is ever materialised.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvRune(h uint64, r rune) uint64 {
	if uint32(r)-1 < 0xff { // one byte, most runes: no loop (0 hashes no byte)
		return (h ^ uint64(r)) * fnvPrime
	}
	for r != 0 {
		h ^= uint64(r & 0xff)
		h *= fnvPrime
		r >>= 8
	}
	return h
}

// Mix finalises a hash (from splitmix64) so that nearby FNV states spread
// over all buckets, and tags the feature kind. The router's lexical
// features hash into the same buckets with it, under kinds of their own.
func Mix(h, kind uint64) uint64 {
	h ^= kind * 0x9e3779b97f4a7c15
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// EmbedInto writes the embedding of text into v, which must have length
// Dim. It allocates nothing for texts of up to a few hundred characters.
func (l *Local) EmbedInto(v []float32, text string) {
	clear(v)
	var idx [512]int32
	var val [512]float32
	is, vs := l.AppendSparse(idx[:0], val[:0], text)
	for k, i := range is {
		v[i] = vs[k]
	}
}

// bucket is one hashed feature occurrence: its index in the high 32 bits,
// its weight's bits in the low ones, so that sorting plain integers
// groups a bucket's occurrences (a comparison function costs twice as
// much).
type bucket uint64

func (b bucket) index() int32    { return int32(b >> 32) }
func (b bucket) weight() float32 { return math.Float32frombits(uint32(b)) }

// AppendSparse appends the non-zero entries of text's embedding to idx and
// val, in increasing index order, and returns the extended slices. It is
// the same vector as Embed's, without materialising Dim zeros: learners
// over very large dimensions use it.
func (l *Local) AppendSparse(idx []int32, val []float32, text string) ([]int32, []float32) {
	b := l.buffers()
	defer l.scratch.Put(b)
	start := len(idx)
	b.bs, b.tmp = l.sort(l.features(b.bs[:0], text), b.tmp)
	idx, val = merge(b.bs, idx, val)
	// Sublinear term frequency, sign kept, and L2 normalisation.
	for k := start; k < len(val); k++ {
		val[k] = sublinear(val[k])
	}
	vec.Normalize(val[start:])
	return idx, val
}

// sort sorts bs as slices.Sort does, by index and then by weight bits:
// up to shortText buckets, one radix pass and an insertion sort;
// beyond, a least-significant-digit radix sort of the indexes (below
// l.dim), 8 bits a pass, then the rare runs of one index put in order. A
// comparison sort was a third of an embedding's time. tmp is scratch
// space; the other of the two buffers is returned with the sorted one.
func (l *Local) sort(bs, tmp []bucket) (sorted, other []bucket) {
	tmp = slices.Grow(tmp[:0], len(bs))[:len(bs)]
	if len(bs) <= shortText {
		// One pass on the index's top 8 bits leaves each bucket out of
		// order only among the few of its 256 ranges: an insertion sort
		// then moves each only within its range. A query's few hundred
		// buckets cost a third of the instructions of two radix passes.
		radixPass(bs, tmp, 32+max(0, bits.Len(uint(l.dim-1))-8))
		for i := 1; i < len(tmp); i++ {
			b, j := tmp[i], i
			for ; j > 0 && tmp[j-1] > b; j-- {
				tmp[j] = tmp[j-1]
			}
			tmp[j] = b
		}
		return tmp, bs[:0]
	}
	for shift := 32; (l.dim-1)>>(shift-32) > 0; shift += 8 {
		radixPass(bs, tmp, shift)
		bs, tmp = tmp, bs
	}
	for k := 0; k < len(bs); {
		e := k + 1
		for e < len(bs) && bs[e].index() == bs[k].index() {
			e++
		}
		if e-k > 1 {
			slices.Sort(bs[k:e])
		}
		k = e
	}
	return bs, tmp[:0]
}

// shortText is the most buckets sort orders by one radix pass and an
// insertion sort: n buckets in 256 ranges are out of order n²/1024 times
// on average, a few moves each up to here.
const shortText = 1024

// radixPass writes bs into dst (as long) stably ordered by the 8 bits of
// each bucket from shift.
func radixPass(bs, dst []bucket, shift int) {
	var at [256]int32
	for _, b := range bs {
		at[b>>shift&255]++
	}
	n := int32(0)
	for d, c := range at {
		at[d] = n
		n += c
	}
	for _, b := range bs {
		d := b >> shift & 255
		dst[at[d]] = b
		at[d]++
	}
}

// merge appends each bucket of bs, sorted, once to idx and val, with the
// weights of its occurrences summed. Buckets whose features cancelled are
// left out.
func merge(bs []bucket, idx []int32, val []float32) ([]int32, []float32) {
	for k := 0; k < len(bs); {
		i, w := bs[k].index(), bs[k].weight()
		for k++; k < len(bs) && bs[k].index() == i; k++ {
			w += bs[k].weight()
		}
		if w != 0 {
			idx = append(idx, i)
			val = append(val, w)
		}
	}
	return idx, val
}

// EmbedWith writes text's embedding into v (length Dim), as EmbedInto
// does, and appends to idx and val its sparse embedding under fine, as
// fine.AppendSparse does, from one pass over the text: both hash the same
// features, and when l's dimension divides fine's, l's bucket of a feature
// is its bucket under fine folded, so the merged weights under fine give
// both. A router with its own wide features and a gateway with a small
// dense vector for its cache and retrieval then read a query once. It
// also appends to nz, ascending and each once, the coordinates of v the
// features reached (the only ones that may be non-zero), so that a cache
// need not scan all of v for them. ok is false, and nothing is written,
// when the dimensions do not fold.
func (l *Local) EmbedWith(fine *Local, v []float32, nz, idx []int32, val []float32, text string) (_, _ []int32, _ []float32, ok bool) {
	if fine == nil || fine.dim%l.dim != 0 || len(v) != l.dim {
		return nz, idx, val, false
	}
	clear(v)
	b := l.buffers()
	defer l.scratch.Put(b)
	start := len(idx)
	b.bs, b.tmp = fine.sort(fine.features(b.bs[:0], text), b.tmp)
	idx, val = merge(b.bs, idx, val)
	for k := start; k < len(val); k++ {
		v[l.reduce(uint64(idx[k]))] += val[k]
		val[k] = sublinear(val[k])
	}
	vec.Normalize(val[start:])
	// Only the coordinates the features reached are damped, summed and
	// scaled, each once (a bit set marks them): the rest of the 2,048 are
	// zero, and passes over all of them (a branch on each, then a norm
	// and a scaling) were most of this function's instructions.
	var doneArr [64]uint64
	done := doneArr[:]
	if n := (l.dim + 63) / 64; n > len(done) {
		done = make([]uint64, n)
	}
	var s float64
	for _, f := range idx[start:] {
		j := l.reduce(uint64(f))
		if done[j>>6]&(1<<(j&63)) != 0 {
			continue
		}
		done[j>>6] |= 1 << (j & 63)
		if v[j] != 0 {
			v[j] = sublinear(v[j])
		}
		s += float64(v[j]) * float64(v[j])
	}
	inv := float32(1) // a zero or non-finite vector is left as it is, as by vec.Normalize
	if s != 0 && !math.IsNaN(s) && !math.IsInf(s, 0) {
		inv = float32(1 / math.Sqrt(s))
	}
	// The bit set, read in order, lists the reached coordinates ascending.
	n := 0
	for _, w := range done {
		n += bits.OnesCount64(w)
	}
	nz = slices.Grow(nz, n)
	for k, w := range done {
		for ; w != 0; w &= w - 1 {
			j := k<<6 | bits.TrailingZeros64(w)
			v[j] *= inv
			nz = append(nz, int32(j))
		}
	}
	return nz, idx, val, true
}

// sublinear damps a bucket's merged weight (term frequency), sign kept.
// Most buckets hold one feature, so the weights of single features are
// looked up rather than computed (a logarithm is most of an embedding's
// cost otherwise).
func sublinear(w float32) float32 {
	switch w { // character n-grams first, inlined: most buckets hold one
	case charWeight:
		return sublinearChar
	case -charWeight:
		return -sublinearChar
	}
	return sublinearRest(w)
}

// sublinearRest is sublinear of the weights other than a character
// n-gram's.
func sublinearRest(w float32) float32 {
	switch w {
	case wordWeight:
		return sublinearWord
	case -wordWeight:
		return -sublinearWord
	case bigramWeight:
		return sublinearBigram
	case -bigramWeight:
		return -sublinearBigram
	}
	return Damp(w)
}

// Damp is the sublinear term frequency of a feature's summed weight w,
// sign kept: log(1+|w|). The router's lexical features are damped alike.
func Damp(w float32) float32 {
	return float32(math.Copysign(math.Log1p(math.Abs(float64(w))), float64(w)))
}

var (
	sublinearWord   = Damp(wordWeight)
	sublinearBigram = Damp(bigramWeight)
	sublinearChar   = Damp(charWeight)
)

// add appends the bucket of feature hash h (see mix) with weight w, or -w
// by the hash's top bit.
func (l *Local) add(bs []bucket, h uint64, w float32) []bucket {
	if h>>63 != 0 {
		w = -w
	}
	return append(bs, bucket(l.reduce(h))<<32|bucket(math.Float32bits(w)))
}

// reduce returns h modulo the dimension: a mask for a power of two, a
// division (tens of cycles, a few hundred times a text) otherwise.
func (l *Local) reduce(h uint64) int {
	if l.mask != 0 || l.dim == 1 {
		return int(h & uint64(l.mask))
	}
	return int(h % uint64(l.dim))
}

// numberToken is the hash of the token every run of digits adds.
var numberToken = Mix(fnvRune(fnvOffset, '#'), 4)

// features appends the hashed features of text to bs.
func (l *Local) features(bs []bucket, text string) []bucket {
	var (
		word     [maxWordRunes + 2]rune // '<' + word + '>'
		prevWord uint64
		havePrev bool
	)
	// Words are read into word[1:], leaving room for the markers.
	for i := 0; ; {
		var n int
		if n, i = NextWord(text, i, word[1:maxWordRunes+1]); n == 0 {
			break
		}
		w := word[1 : n+1]
		// Word unigram and bigram, and the number token.
		h := uint64(fnvOffset)
		digits, bytes := true, true
		for _, r := range w {
			h = fnvRune(h, r)
			digits = digits && '0' <= r && r <= '9'
			bytes = bytes && uint32(r)-1 < 0xff
		}
		bs = l.add(bs, Mix(h, 1), wordWeight)
		if digits {
			bs = l.add(bs, numberToken, wordWeight)
		}
		if havePrev {
			bs = l.add(bs, Mix(prevWord*31+h, 2), bigramWeight)
		}
		prevWord, havePrev = h, true
		// Character n-grams over '<' + word + '>'.
		word[0], word[n+1] = '<', '>'
		m := n + 2
		if bytes {
			bs = l.byteGrams(bs, word[:m])
			continue
		}
		for s := 0; s+minGram <= m; s++ {
			h := uint64(fnvOffset)
			for j := s; j < m && j < s+maxGram; j++ {
				h = fnvRune(h, word[j])
				if j-s+1 >= minGram {
					bs = l.add(bs, Mix(h, 3), charWeight)
				}
			}
		}
	}
	return bs
}

// byteGrams appends the character n-grams of word (with its markers),
// whose runes are all one byte for fnvRune, as features' loop over the
// n-grams' starts and lengths does (the buckets are sorted whole, so
// their order is free): each start's 3-, 4- and 5-gram hashed in one
// straight line, without fnvRune's test per rune. The loop was a third
// of an embedding's instructions.
func (l *Local) byteGrams(bs []bucket, word []rune) []bucket {
	_ = [1]struct{}{}[maxGram-minGram-2] // compiles only for 3- to 5-grams, as unrolled below
	m := len(word)
	for s := 0; s+minGram <= m; s++ {
		g := word[s : s+minGram]
		h := (uint64(fnvOffset) ^ uint64(g[0])) * fnvPrime
		h = (h ^ uint64(g[1])) * fnvPrime
		h = (h ^ uint64(g[2])) * fnvPrime
		bs = l.add(bs, Mix(h, 3), charWeight)
		if s+minGram < m {
			h = (h ^ uint64(word[s+minGram])) * fnvPrime
			bs = l.add(bs, Mix(h, 3), charWeight)
			if s+minGram+1 < m {
				h = (h ^ uint64(word[s+minGram+1])) * fnvPrime
				bs = l.add(bs, Mix(h, 3), charWeight)
			}
		}
	}
	return bs
}

// NextWord reads the first word of text[i:] into buf and returns its
// length in runes, cut to len(buf), and the index after it; n is 0 when
// no word is left. A word is a run of letters and digits, lower-cased,
// apostrophes dropped ("don't" and "dont" are the same word). The
// router's lexical features read words as these features do.
func NextWord(text string, i int, buf []rune) (n, end int) {
	for i < len(text) {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		i += size
		switch {
		case r < utf8.RuneSelf && ('a' <= r && r <= 'z' || '0' <= r && r <= '9'):
		case r < utf8.RuneSelf && 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		case r == '\'' || r == '’':
			continue
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsNumber(r)):
			r = unicode.ToLower(r)
		default:
			if n > 0 {
				return n, i
			}
			continue
		}
		if n < len(buf) {
			buf[n] = r
			n++
		}
	}
	return n, i
}
