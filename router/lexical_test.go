package router

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/moegate/moegate/embed"
)

func TestStem(t *testing.T) {
	// From Porter's paper and the reference vocabulary.
	tests := []struct{ word, want string }{
		{"caresses", "caress"}, {"ponies", "poni"}, {"ties", "ti"}, {"caress", "caress"},
		{"cats", "cat"}, {"feed", "feed"}, {"agreed", "agre"}, {"plastered", "plaster"},
		{"bled", "bled"}, {"motoring", "motor"}, {"sing", "sing"}, {"conflated", "conflat"},
		{"troubled", "troubl"}, {"sized", "size"}, {"hopping", "hop"}, {"tanned", "tan"},
		{"falling", "fall"}, {"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"},
		{"filing", "file"}, {"happy", "happi"}, {"sky", "sky"}, {"relational", "relat"},
		{"conditional", "condit"}, {"rational", "ration"}, {"valenci", "valenc"},
		{"digitizer", "digit"}, {"generalization", "gener"}, {"hopeful", "hope"},
		{"goodness", "good"}, {"revival", "reviv"}, {"allowance", "allow"},
		{"adjustment", "adjust"}, {"adoption", "adopt"}, {"probate", "probat"},
		{"rate", "rate"}, {"cease", "ceas"}, {"controll", "control"}, {"roll", "roll"},
		{"flights", "flight"}, {"flight", "flight"}, {"booking", "book"},
		// Not stemmed: too short, or not lower-case ASCII letters.
		{"is", "is"}, {"ab", "ab"}, {"café", "café"}, {"a1s", "a1s"},
	}
	for _, tt := range tests {
		if got := stem(tt.word); got != tt.want {
			t.Errorf("stem(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

// cosine of two L2-normalised sparse vectors with sorted indices.
func cosine(a, b sparse) float64 {
	var dot float64
	for i, j := 0, 0; i < len(a.idx) && j < len(b.idx); {
		switch {
		case a.idx[i] < b.idx[j]:
			i++
		case a.idx[i] > b.idx[j]:
			j++
		default:
			dot += float64(a.val[i]) * float64(b.val[j])
			i++
			j++
		}
	}
	return dot
}

// sparseOf returns e's features of text.
func sparseOf(e SparseFeatures, text string) sparse {
	var x sparse
	x.idx, x.val = e.AppendSparse(nil, nil, text)
	return x
}

func TestLexicalSharesMeaning(t *testing.T) {
	local := embed.NewLocal(LocalFeatureDim)
	lex := NewLexical(local, LexicalOptions{})
	tests := []struct {
		a, b string
		gain float64 // at least this much more cosine with lexical features
	}{
		{"salmon", "steak", 0.001},         // concepts only (a shared class): no shared n-gram
		{"flew", "fly", 0.1},               // irregular form, by WordNet's exceptions
		{"automobile", "car", 0.05},        // synonyms share a synset
		{"my flights", "book a flight", 0}, // stems add to shared n-grams
	}
	for _, tt := range tests {
		before := cosine(sparseOf(local, tt.a), sparseOf(local, tt.b))
		after := cosine(sparseOf(lex, tt.a), sparseOf(lex, tt.b))
		if after < before+tt.gain || after <= 0 {
			t.Errorf("cos(%q, %q) = %.3f with lexical features, %.3f without; want a gain of %v", tt.a, tt.b, after, before, tt.gain)
		}
	}
	// The vector is normalised and sorted, and the version names the lexical block.
	checkUnitSorted(t, sparseOf(lex, "How do I cook salmon?"))
	if lex.FeatureVersion() == local.FeatureVersion() {
		t.Error("lexical features share the n-grams' version")
	}
	for w, want := range map[string]bool{"salmon": true, "the": true, "flew": true, "flights": true, "paying": true, "acount": false, "weathr": false} {
		if got := lex.KnownWord(w); got != want {
			t.Errorf("KnownWord(%q) = %v, want %v", w, got, want)
		}
	}
}

func TestLexicalGloss(t *testing.T) {
	local := embed.NewLocal(LocalFeatureDim)
	with := NewLexical(local, LexicalOptions{})
	without := NewLexical(local, LexicalOptions{Gloss: -1})
	tests := []struct {
		a, b   string
		linked bool // a definition of a's senses has b (or its stem)
	}{
		{"mortgage", "loan", true},
		{"thermometer", "temperature", true},
		{"passport", "travel", true},
		{"mortgage", "salmon", false},
	}
	for _, tt := range tests {
		on, off := cosine(sparseOf(with, tt.a), sparseOf(with, tt.b)), cosine(sparseOf(without, tt.a), sparseOf(without, tt.b))
		if got := on > off+0.01; got != tt.linked {
			t.Errorf("cos(%q, %q) = %.3f with glosses, %.3f without; linked %v, want %v", tt.a, tt.b, on, off, got, tt.linked)
		}
	}
	if with.FeatureVersion() == without.FeatureVersion() {
		t.Error("the gloss weight is not part of the feature version")
	}
}

func TestStrongest(t *testing.T) {
	tests := []struct {
		in   []bucket
		n    int
		want []bucket // sorted by index
	}{
		{nil, 3, nil},
		{[]bucket{{5, 1}, {2, 0.5}, {5, 0.25}}, 3, []bucket{{2, 0.5}, {5, 1.25}}},             // repeats summed
		{[]bucket{{1, 0.1}, {2, -0.9}, {3, 0.5}, {4, 0.2}}, 2, []bucket{{2, -0.9}, {3, 0.5}}}, // by magnitude
		{[]bucket{{1, 0.3}, {2, 0.4}, {1, 0.3}}, 1, []bucket{{1, 0.6}}},                       // summed, then ranked
	}
	for _, tt := range tests {
		got := strongest(slices.Clone(tt.in), tt.n)
		slices.SortFunc(got, func(a, b bucket) int { return int(a.i - b.i) })
		if !slices.Equal(got, tt.want) {
			t.Errorf("strongest(%v, %d) = %v, want %v", tt.in, tt.n, got, tt.want)
		}
	}
}

func BenchmarkLexicalShort(b *testing.B) {
	lex := NewLexical(embed.NewLocal(LocalFeatureDim), LexicalOptions{})
	var idx []int32
	var val []float32
	for b.Loop() {
		idx, val = lex.AppendSparse(idx[:0], val[:0], "how do i change the oil in my car")
	}
}

// sortRuns sorts runs of words' buckets as a stable sort of their
// concatenation would, so a bucket's occurrences stay in word order: one
// run, none, odd and even numbers of runs, empty runs, ties across runs,
// few buckets (a radix pass and an insertion sort) and many (merge
// passes), indexes over a small and a wide dimension.
func TestSortRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		var bs []damped
		var ends []int32
		dim, runs, runLen := 20, trial%13, 6
		if trial%2 == 1 {
			dim = 1 << 16
		}
		if trial%5 == 0 {
			runs, runLen = 100+trial%13, 30 // about 1,500 buckets: past shortRuns
		}
		for range runs {
			run := make([]damped, r.IntN(runLen))
			for k := range run {
				run[k] = damped{i: int32(r.IntN(min(dim, 20+trial*200))), w: float32(len(bs) + k)} // w: the position
			}
			slices.SortFunc(run, func(a, b damped) int { return int(a.i - b.i) })
			bs = append(bs, run...)
			ends = append(ends, int32(len(bs)))
		}
		want := slices.Clone(bs)
		slices.SortStableFunc(want, func(a, b damped) int { return int(a.i - b.i) })
		got, _ := sortRuns(slices.Clone(bs), nil, ends, dim)
		if !slices.Equal(got, want) {
			t.Fatalf("runs %v ending at %v: got %v, want %v", bs, ends, got, want)
		}
	}
}

func TestSortByIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 30, maxInsertion, maxInsertion + 1, 1000} {
		for _, dim := range []int{8, 1 << 16} { // 8: many ties, whose order must be kept
			bs := make([]damped, n)
			for k := range bs {
				bs[k] = damped{i: int32(r.IntN(dim)), w: float32(k)} // w: the position
			}
			want := slices.Clone(bs)
			slices.SortStableFunc(want, func(a, b damped) int { return int(a.i - b.i) })
			sortByIndex(bs)
			if !slices.Equal(bs, want) {
				t.Fatalf("%d buckets below %d: got %v, want %v", n, dim, bs, want)
			}
		}
	}
}

func TestLexicalPairs(t *testing.T) {
	local := embed.NewLocal(LocalFeatureDim)
	with := NewLexical(local, LexicalOptions{})
	without := NewLexical(local, LexicalOptions{Pairs: -1})
	tests := []struct {
		a, b   string
		closer bool // the pair features raise their cosine
	}{
		{"book a table", "book the table", true}, // "book … table", 2 apart
		{"call me alex", "call her alex", true},  // "call … alex"
		{"book a table", "table a book", false},  // pairs are ordered
	}
	for _, tt := range tests {
		before := cosine(sparseOf(without, tt.a), sparseOf(without, tt.b))
		after := cosine(sparseOf(with, tt.a), sparseOf(with, tt.b))
		if got := after > before; got != tt.closer {
			t.Errorf("cos(%q, %q) = %.4f with pairs, %.4f without; want closer %v", tt.a, tt.b, after, before, tt.closer)
		}
	}
	// Pairs are words 2 and 3 apart, whatever the words.
	for text, want := range map[string]int{"one two": 0, "one two three": 1, "one two three four": 3, "a b c d e": 5, "my. Name, is": 1} {
		if _, ps := with.features(nil, nil, text); len(ps) != want {
			t.Errorf("%q has %d pairs, want %d", text, len(ps), want)
		}
		if _, ps := without.features(nil, nil, text); len(ps) != 0 {
			t.Errorf("%q has %d pairs without them", text, len(ps))
		}
	}
	checkUnitSorted(t, sparseOf(with, "what is the name you go by now"))
	if with.FeatureVersion() == without.FeatureVersion() {
		t.Error("the pairs' weight is not in the feature version")
	}
}

// checkUnitSorted fails t unless x's indices increase and its norm is 1.
func checkUnitSorted(t *testing.T, x sparse) {
	t.Helper()
	var ss float64
	for k, v := range x.val {
		ss += float64(v) * float64(v)
		if k > 0 && x.idx[k] <= x.idx[k-1] {
			t.Fatalf("indices not increasing at %d", k)
		}
	}
	if ss < 0.999 || ss > 1.001 {
		t.Errorf("squared norm %v, want 1", ss)
	}
}

// TestExtendToReusesDst checks that a query's lexical features, once dst
// has grown, cost no allocation (they were a few KB per routed query) and
// equal extend's.
// TestLexicalMemo checks that a word's memoised features are those it
// gets computed: the sample's val queries on first sight (their words
// pending), once memoised (in the table), and without a memo (full).
func TestLexicalMemo(t *testing.T) {
	memo, none := features(), features()
	none.words.limit = 0
	val := clincSample(t, "val")
	first := make([]sparse, len(val))
	for i, ex := range val {
		first[i].idx, first[i].val = memo.AppendSparse(nil, nil, ex.Text)
	}
	if memo.words.len() == 0 || memo.words.tab.Load() == nil {
		t.Fatal("no word memoised")
	}
	for i, ex := range val {
		var got [2]sparse
		got[0].idx, got[0].val = memo.AppendSparse(nil, nil, ex.Text)
		got[1].idx, got[1].val = none.AppendSparse(nil, nil, ex.Text)
		for k, g := range got {
			if !slices.Equal(g.idx, first[i].idx) || !slices.Equal(g.val, first[i].val) {
				t.Fatalf("%q: features %d differ from the first sight's", ex.Text, k)
			}
		}
	}
	if none.words.len() != 0 {
		t.Errorf("%d words memoised, want none", none.words.len())
	}
}

func TestExtendToReusesDst(t *testing.T) {
	lex := features()
	for _, text := range []string{
		"how do i transfer money to my savings account", // stems, concepts and pairs
		"hello there",           // pairs only: stop words have no stem
		"mortgage",              // stems and concepts only
		"cb008859d2c67ed 12345", // neither
	} {
		a := sparseOf(lex.NGrams(), text)
		want := lex.extend(a, text)
		var dst sparse
		lex.extendTo(&dst, a, text)
		var got sparse
		if n := testing.AllocsPerRun(20, func() { got = lex.extendTo(&dst, a, text) }); n != 0 {
			t.Errorf("%q: %v allocations per query", text, n)
		}
		if !slices.Equal(got.idx, want.idx) || !slices.Equal(got.val, want.val) {
			t.Errorf("%q: extendTo %v %v, extend %v %v", text, got.idx, got.val, want.idx, want.val)
		}
	}
}

// BenchmarkFeaturesParallel measures the stem and concept features of the
// sample's val queries, their words memoised, from every core at once as
// a gateway's requests run: the word memo's lookups are most of it.
func BenchmarkFeaturesParallel(b *testing.B) {
	l := features()
	var texts []string
	for _, ex := range clincSample(b, "val") {
		texts = append(texts, ex.Text)
		l.features(nil, nil, ex.Text)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var runs []wordRun
		var ps []damped
		for i := 0; pb.Next(); i++ {
			runs, ps = l.features(runs[:0], ps[:0], texts[i%len(texts)])
		}
	})
}
