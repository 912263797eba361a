package sample

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randomLogits(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * 3)
	}
	return l
}

func argmax(l []float32) int32 {
	best := 0
	for i := range l {
		if l[i] > l[best] {
			best = i
		}
	}
	return int32(best)
}

func TestGreedyIsArgmax(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		l := randomLogits(seed, 500)
		for _, p := range []Params{{}, {Temperature: 0.8, TopK: 1, Seed: seed}} {
			if got, want := New(p).Sample(l, nil), argmax(l); got != want {
				t.Fatalf("params %+v: got %d, want argmax %d", p, got, want)
			}
		}
	}
}

func TestSeededReproducible(t *testing.T) {
	l := randomLogits(7, 1000)
	p := Params{Temperature: 1, TopK: 50, TopP: 0.95, MinP: 0.01, Seed: 42}
	a, b := New(p), New(p)
	differ := false
	var first int32 = -1
	for i := 0; i < 200; i++ {
		x, y := a.Sample(l, nil), b.Sample(l, nil)
		if x != y {
			t.Fatalf("draw %d: %d != %d with the same seed", i, x, y)
		}
		if first >= 0 && x != first {
			differ = true
		}
		first = x
	}
	if !differ {
		t.Error("200 draws at temperature 1 were all the same token")
	}
	p.Seed = 43
	c := New(p)
	a = New(Params{Temperature: 1, TopK: 50, TopP: 0.95, MinP: 0.01, Seed: 42})
	same := 0
	for i := 0; i < 200; i++ {
		if a.Sample(l, nil) == c.Sample(l, nil) {
			same++
		}
	}
	if same == 200 {
		t.Error("different seeds gave identical sequences")
	}
}

// counts draws n samples and returns how often each token came up.
func counts(s *Sampler, l []float32, n int) map[int32]int {
	m := map[int32]int{}
	for i := 0; i < n; i++ {
		m[s.Sample(l, nil)]++
	}
	return m
}

func TestTopPExcludesTail(t *testing.T) {
	// Probabilities 0.5, 0.3, 0.15, 0.05: top-p 0.75 keeps tokens 0 and 1 (0.5 < 0.75 <= 0.8).
	l := logitsOf(0.5, 0.3, 0.15, 0.05)
	m := counts(New(Params{Temperature: 1, TopP: 0.75, Seed: 3}), l, 4000)
	if m[2] != 0 || m[3] != 0 {
		t.Fatalf("top-p 0.75 drew excluded tokens: %v", m)
	}
	// Renormalised: token 0 has 0.5/0.8 = 0.625.
	if f := float64(m[0]) / 4000; math.Abs(f-0.625) > 0.04 {
		t.Errorf("token 0 frequency %.3f, want about 0.625", f)
	}
	// Without top-p the tail does come up.
	m = counts(New(Params{Temperature: 1, Seed: 3}), l, 4000)
	if m[3] < 100 || m[3] > 300 { // expected 200
		t.Errorf("no filter: token 3 drawn %d times of 4000, want about 200", m[3])
	}
}

func TestMinPExcludesTail(t *testing.T) {
	// min-p 0.2 of p_max 0.5 = 0.1: drops 0.05, keeps 0.15.
	l := logitsOf(0.5, 0.3, 0.15, 0.05)
	m := counts(New(Params{Temperature: 1, MinP: 0.2, Seed: 5}), l, 4000)
	if m[3] != 0 {
		t.Fatalf("min-p drew token 3: %v", m)
	}
	if m[2] < 400 { // expected 0.15/0.95·4000 ≈ 632
		t.Errorf("min-p dropped token 2 too: %v", m)
	}
}

func TestTopK(t *testing.T) {
	l := randomLogits(11, 300)
	best := map[int32]bool{}
	c := New(Params{}).sortedIDs(l)
	for _, id := range c[:5] {
		best[id] = true
	}
	for id := range counts(New(Params{Temperature: 2, TopK: 5, Seed: 9}), l, 2000) {
		if !best[id] {
			t.Fatalf("top-k 5 drew token %d outside the best five", id)
		}
	}
}

func TestRepeatPenalty(t *testing.T) {
	l := []float32{2.0, 1.9, -1, -1.1}
	if got := New(Params{}).Sample(l, []int32{0}); got != 0 {
		t.Fatalf("no penalty: got %d", got)
	}
	if got := New(Params{RepeatPenalty: 1.3}).Sample(l, []int32{0}); got != 1 {
		t.Errorf("penalised token 0 still chosen (got %d)", got)
	}
	// Negative logits get more negative: token 2 (-1) penalised falls
	// below token 3 (-1.1).
	l2 := []float32{-1, -1.1}
	if got := New(Params{RepeatPenalty: 1.3}).Sample(l2, []int32{0}); got != 1 {
		t.Errorf("negative logit penalty: got %d, want 1", got)
	}
	// Only the last N tokens count.
	if got := New(Params{RepeatPenalty: 1.3, RepeatLastN: 1}).Sample(l, []int32{0, 3}); got != 0 {
		t.Errorf("penalty looked further back than RepeatLastN: got %d", got)
	}
	if l[0] != 2.0 {
		t.Error("Sample modified the logits")
	}
}

func logitsOf(probs ...float64) []float32 {
	l := make([]float32, len(probs))
	for i, p := range probs {
		l[i] = float32(math.Log(p))
	}
	return l
}

// sortedIDs lists token ids from most to least likely.
func (s *Sampler) sortedIDs(l []float32) []int32 {
	c := make([]candidate, len(l))
	for i := range l {
		c[i] = candidate{int32(i), l[i]}
	}
	c = topK(c, len(c))
	ids := make([]int32, len(c))
	for i := range c {
		ids[i] = c[i].id
	}
	return ids
}

func BenchmarkSample(b *testing.B) {
	l := randomLogits(1, 151936)
	for _, c := range []struct {
		name string
		p    Params
	}{
		{"greedy", Params{}},
		{"temp", Params{Temperature: 0.8, Seed: 1}},
		{"topk40-topp", Params{Temperature: 0.8, TopK: 40, TopP: 0.9, Seed: 1}},
		{"topp-only", Params{Temperature: 0.8, TopP: 0.9, Seed: 1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := New(c.p)
			for b.Loop() {
				s.Sample(l, nil)
			}
		})
	}
}

// TestTopPLargeVocab checks the bucketed nucleus against a full sort.
func TestTopPLargeVocab(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		l := randomLogits(seed, 5000)
		ids := New(Params{}).sortedIDs(l)
		for _, p := range []float32{0.1, 0.5, 0.9, 0.99} {
			// Reference: walk the full sort.
			var z, cum float64
			for _, x := range l {
				z += math.Exp(float64(x))
			}
			n := 0
			for n < len(ids) {
				cum += math.Exp(float64(l[ids[n]])) / z
				n++
				if cum >= float64(p) {
					break
				}
			}
			s := New(Params{})
			c := make([]candidate, len(l))
			for i := range l {
				c[i] = candidate{int32(i), l[i]}
			}
			got := s.topP(c, p, false)
			if len(got) != n {
				t.Fatalf("seed %d p %v: nucleus of %d, want %d", seed, p, len(got), n)
			}
			for i := range got {
				if got[i].id != ids[i] {
					t.Fatalf("seed %d p %v: position %d is %d, want %d", seed, p, i, got[i].id, ids[i])
				}
			}
		}
	}
}
