package router

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/moegate/moegate/router/perturb"
)

// TestWordVectorsMatchWholeFeatures checks that routing with word vectors
// gives every CLINC val query (plain, with typos, with its words
// repeated, with the gateway's n-grams or the router's own), up to
// float32 rounding, the probabilities of scoring its features whole, from
// the parts alone and with the whole features (which must be the same),
// for a router with many examples (gate alone) and a few-shot one (with
// exemplars), on first sight of each word and memoised.
func TestWordVectorsMatchWholeFeatures(t *testing.T) {
	ctx := context.Background()
	val := clincSample(t, "val")
	rng := rand.New(rand.NewPCG(1, 2))
	var texts []string
	for _, ex := range val {
		texts = append(texts, ex.Text, perturb.Typos(rng, ex.Text, 2), ex.Text+" "+ex.Text)
	}
	texts = append(texts, "", "the the the", "ok", "?", "naïve café über", "book book book a flight flight",
		"room 101 on 2024-05-01", "supercalifragilisticexpialidocious trip", "ünïcödéwördthätïslöngërthänäkëy please")
	// One router, its models installed in turn: a model's word vectors
	// are its own, while the words' buckets stay memoised.
	l := NewLearned(features(), Options{})
	for _, tc := range []struct {
		name      string
		train     []Example
		exemplars bool
		limit     int // the word vectors memoised, 0: the default
	}{
		{"full", clincSample(t, "train"), false, 0},
		{"few-shot", fewShotSample(t), true, 0},
		{"few-shot, 20 words memoised", fewShotSample(t), true, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := l.Train(ctx, tc.train)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Install(m); err != nil {
				t.Fatal(err)
			}
			in := l.active.Load()
			if in.words == nil || (in.sc.ex != nil) != tc.exemplars {
				t.Fatalf("word vectors %v, exemplars %v", in.words != nil, in.sc.ex != nil)
			}
			if tc.limit > 0 {
				in.words.memo.limit = tc.limit
			}
			lex := l.emb.(*Lexical)
			n := len(in.Experts)
			var worst float64
			for pass := range 2 {
				for i, text := range texts {
					q := Query{Text: text}
					if i%2 == 1 { // the gateway's n-grams
						q.Features.Idx, q.Features.Val = lex.NGrams().AppendSparse(nil, nil, text)
					}
					xs, err := l.embedTexts(ctx, in, []string{text})
					if err != nil {
						t.Fatal(err)
					}
					want := make([]float64, n)
					in.sc.probs(xs[0], want)
					// Alone, the parts only; with a system prompt, the
					// whole features too.
					for _, system := range []string{"", "You are a helpful assistant."} {
						q.System = system
						var buf routeScratch
						got := make([]float64, n)
						x := l.splitProbs(in, q, got, &buf)
						if system != "" && !sameSparse(x, xs[0]) {
							t.Fatalf("pass %d, %q: features differ from the whole path's", pass, text)
						}
						for c := range want {
							d := math.Abs(got[c] - want[c])
							worst = max(worst, d)
							if d > 1e-5 || math.IsNaN(got[c]) {
								t.Fatalf("pass %d, %q, system %q: class %s probability %v, scored whole %v", pass, text, system, in.Experts[c], got[c], want[c])
							}
						}
					}
				}
			}
			if n := in.words.memo.len(); n == 0 || tc.limit > 0 && n != tc.limit {
				t.Fatalf("%d word vectors memoised, limit %d", n, tc.limit)
			}
			t.Logf("%d texts twice, largest difference %.2g, %d word vectors", len(texts), worst, in.words.memo.len())
		})
	}
}

func sameSparse(a, b sparse) bool {
	if len(a.idx) != len(b.idx) || len(a.val) != len(b.val) {
		return false
	}
	for k := range a.idx {
		if a.idx[k] != b.idx[k] || math.Float32bits(a.val[k]) != math.Float32bits(b.val[k]) {
			return false
		}
	}
	return true
}
