// Package sample picks the next token from a model's logits: repetition
// penalty, top-k, top-p, min-p, temperature, then a seeded draw, in
// llama.cpp's order.
package sample

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Params configures a Sampler. Zero values disable each step.
type Params struct {
	Temperature   float32 // 0 (or less) = greedy: always the most likely token
	TopK          int     // keep the K most likely tokens; 0 = all
	TopP          float32 // keep the smallest set whose probability reaches P; 0 or 1 = all
	MinP          float32 // drop tokens less likely than MinP × the most likely; 0 = none
	RepeatPenalty float32 // divide positive (multiply negative) logits of recent tokens; 0 or 1 = none
	RepeatLastN   int     // how many recent tokens the penalty looks at; 0 = 64
	Seed          uint64  // 0 = a random seed
}

// Sampler draws tokens; it is not safe for concurrent use.
type Sampler struct {
	p    Params
	rng  *rand.Rand
	cand []candidate
	buf  []candidate
}

type candidate struct {
	id    int32
	logit float32
}

// New returns a Sampler whose draws depend only on p (for a non-zero Seed).
func New(p Params) *Sampler {
	seed := p.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	if p.RepeatLastN == 0 {
		p.RepeatLastN = 64
	}
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Sample returns the next token for logits, given the tokens so far
// (history, used by the repetition penalty). logits is not modified.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	p := s.p
	c := s.cand[:0]
	for i, l := range logits {
		c = append(c, candidate{int32(i), l})
	}
	s.cand = c
	if p.RepeatPenalty > 0 && p.RepeatPenalty != 1 && len(history) > 0 {
		recent := history[max(0, len(history)-p.RepeatLastN):]
		seen := make(map[int32]bool, len(recent))
		for _, id := range recent {
			if id < 0 || int(id) >= len(c) || seen[id] {
				continue
			}
			seen[id] = true
			if c[id].logit > 0 {
				c[id].logit /= p.RepeatPenalty
			} else {
				c[id].logit *= p.RepeatPenalty
			}
		}
	}
	if p.Temperature <= 0 {
		best := 0
		for i := range c {
			if c[i].logit > c[best].logit {
				best = i
			}
		}
		return c[best].id
	}

	sorted := false
	if p.TopK > 0 && p.TopK < len(c) {
		c = topK(c, p.TopK)
		sorted = true
	}
	if p.TopP > 0 && p.TopP < 1 {
		c = s.topP(c, p.TopP, sorted)
	}
	if p.MinP > 0 && p.MinP <= 1 {
		// p_i >= MinP·p_max  ⇔  logit_i >= logit_max + ln(MinP)
		maxL := c[0].logit
		for _, x := range c {
			maxL = max(maxL, x.logit)
		}
		cut := maxL + float32(math.Log(float64(p.MinP)))
		kept := c[:0]
		for _, x := range c {
			if x.logit >= cut {
				kept = append(kept, x)
			}
		}
		c = kept
	}
	probs := softmax(c, p.Temperature)
	u := s.rng.Float64()
	var cum float64
	for i, pr := range probs {
		cum += pr
		if u < cum {
			return c[i].id
		}
	}
	return c[len(c)-1].id
}

// topP keeps the most likely candidates until their probability reaches
// p. Rather than sorting a large vocabulary, the probability mass is
// histogrammed by logit; only the candidates in the buckets that make up
// the nucleus are sorted.
func (s *Sampler) topP(c []candidate, p float32, sorted bool) []candidate {
	minL, maxL := c[0].logit, c[0].logit
	for _, x := range c {
		minL, maxL = min(minL, x.logit), max(maxL, x.logit)
	}
	var z float64
	for _, x := range c {
		z += math.Exp(float64(x.logit - maxL))
	}
	if !sorted && len(c) > 256 && maxL > minL {
		const nb = 1024
		var mass [nb]float64
		scale := float32(nb-1) / (maxL - minL)
		for _, x := range c {
			mass[int((x.logit-minL)*scale)] += math.Exp(float64(x.logit - maxL))
		}
		b, cum := nb-1, 0.0
		for ; b > 0; b-- {
			if cum += mass[b]; cum >= float64(p)*z {
				break
			}
		}
		kept := s.buf[:0]
		for _, x := range c {
			if int((x.logit-minL)*scale) >= b {
				kept = append(kept, x)
			}
		}
		s.buf, c = kept, kept
	}
	if !sorted {
		slices.SortFunc(c, byLogitDesc)
	}
	var cum float64
	for i, x := range c {
		cum += math.Exp(float64(x.logit-maxL)) / z
		if cum >= float64(p) {
			return c[:i+1]
		}
	}
	return c
}

func byLogitDesc(a, b candidate) int {
	switch {
	case a.logit > b.logit:
		return -1
	case a.logit < b.logit:
		return 1
	}
	return int(a.id - b.id)
}

// topK moves the k best candidates to the front, sorted, and returns them.
func topK(c []candidate, k int) []candidate {
	// Insertion into the sorted best k: few inserts happen once the
	// front holds good candidates, so this is close to O(n).
	if k > 256 {
		slices.SortFunc(c, byLogitDesc)
		return c[:k]
	}
	h := c[:k]
	slices.SortFunc(h, byLogitDesc)
	for i := k; i < len(c); i++ {
		if byLogitDesc(c[i], h[k-1]) < 0 {
			// Insert c[i] in order, dropping the last.
			x := c[i]
			j, _ := slices.BinarySearchFunc(h, x, byLogitDesc)
			copy(h[j+1:], h[j:k-1])
			h[j] = x
		}
	}
	return h
}

// softmax of logits/temp, in float64 for stable sums.
func softmax(c []candidate, temp float32) []float64 {
	maxL := c[0].logit
	for _, x := range c {
		maxL = max(maxL, x.logit)
	}
	out := make([]float64, len(c))
	var sum float64
	for i, x := range c {
		out[i] = math.Exp(float64(x.logit-maxL) / float64(temp))
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
