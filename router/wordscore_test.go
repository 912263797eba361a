package router

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
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
	// Stray words, as traffic has (ids, names): no row has most of them.
	var stray []string
	for range 100 {
		w := make([]byte, 8)
		for i := range w {
			w[i] = byte('a' + rng.IntN(26))
		}
		stray = append(stray, string(w))
		texts = append(texts, "book a flight, ref "+string(w))
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
		retrieval bool
	}{
		{"full", clincSample(t, "train"), false, 0, false},
		{"few-shot", fewShotSample(t), true, 0, false},
		{"few-shot, 20 words memoised", fewShotSample(t), true, 20, false},
		{"few-shot with a retrieval gate", withRetrieval(fewShotSample(t)), true, 0, true},
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
			if in.words == nil || (in.sc.ex != nil) != tc.exemplars || (in.Retrieval != nil) != tc.retrieval {
				t.Fatalf("word vectors %v, exemplars %v, retrieval gate %v", in.words != nil, in.sc.ex != nil, in.Retrieval != nil)
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
					var buf routeScratch
					got := make([]float64, n)
					// With a retrieval gate, the whole features too.
					corrected, ngrams := l.ngrams(in, q, &buf)
					x := l.splitProbs(in, corrected, ngrams, got, &buf)
					if in.Retrieval == nil && len(x.idx) > 0 || in.Retrieval != nil && !sameSparse(x, xs[0]) {
						t.Fatalf("pass %d, %q: features %v, the whole path's %v", pass, text, x, xs[0])
					}
					for c := range want {
						d := math.Abs(got[c] - want[c])
						worst = max(worst, d)
						if d > 1e-5 || math.IsNaN(got[c]) {
							t.Fatalf("pass %d, %q: class %s probability %v, scored whole %v", pass, text, in.Experts[c], got[c], want[c])
						}
					}
				}
			}
			if n := in.words.memo.len(); n == 0 || tc.limit > 0 && n != tc.limit {
				t.Fatalf("%d word vectors memoised, limit %d", n, tc.limit)
			}
			if tc.exemplars && tc.limit == 0 {
				// A few-shot model's rows are few: most stray words have
				// no vector, and cost the memo a key only.
				none := 0
				for _, w := range stray {
					runs, _ := lex.features(nil, nil, w)
					if len(runs) == 1 && len(in.words.vector(in.sc, runs[0])) == 0 {
						none++
					}
				}
				if none < len(stray)/2 {
					t.Fatalf("%d of %d stray words have no vector", none, len(stray))
				}
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

// withRetrieval marks every fourth example as wanting retrieval, so that
// a retrieval gate is trained.
func withRetrieval(ex []Example) []Example {
	ex = slices.Clone(ex)
	for i := range ex {
		ex[i].Retrieve = i%4 == 0
	}
	return ex
}

// TestWordVectorsInConversations checks that a router's evidence with word
// vectors, for messages alone and within conversations (whose sum takes
// the message's features whole), is the evidence without them, up to
// float32 rounding.
func TestWordVectorsInConversations(t *testing.T) {
	ctx := context.Background()
	l := NewLearned(features(), Options{})
	m, err := l.Train(ctx, fewShotSample(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Install(m); err != nil {
		t.Fatal(err)
	}
	in := l.active.Load()
	without := *in
	without.words = nil
	val := clincSample(t, "val")
	var worst float64
	conversations := 0
	for i, ex := range val {
		qs := []Query{
			{Text: ex.Text},
			{Text: "and what about tomorrow?", History: []string{val[(i+1)%len(val)].Text}},
			{Text: ex.Text, History: []string{val[(i+7)%len(val)].Text}, System: "You help with " + val[(i+3)%len(val)].Expert + "."},
		}
		for _, q := range qs {
			want, got := make([]float64, len(in.Experts)), make([]float64, len(in.Experts))
			if _, err := l.evidence(ctx, &without, q, want, &routeScratch{}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.evidence(ctx, in, q, got, &routeScratch{}); err != nil {
				t.Fatal(err)
			}
			if len(q.History) > 0 && ambiguous(in, got, q.Text) {
				conversations++
			}
			for c := range want {
				d := math.Abs(got[c] - want[c])
				worst = max(worst, d)
				if d > 1e-5 {
					t.Fatalf("%+v: class %s probability %v, without word vectors %v", q, in.Experts[c], got[c], want[c])
				}
			}
		}
	}
	if conversations == 0 {
		t.Fatal("no message was read with its conversation")
	}
	t.Logf("%d queries, %d read with their conversation, largest difference %.2g", 3*len(val), conversations, worst)
}
