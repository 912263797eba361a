package tokenizer

import (
	"container/heap"
	"strings"
	"unicode/utf8"
)

// spmBigram is a candidate merge of two adjacent symbols into the token
// text[left.start:right.end], ordered by the token's score.
type spmBigram struct {
	left, right int
	score       float32
	size        int
}

type spmQueue []spmBigram

func (q spmQueue) Len() int { return len(q) }
func (q spmQueue) Less(i, j int) bool {
	if q[i].score != q[j].score {
		return q[i].score > q[j].score
	}
	return q[i].left < q[j].left
}
func (q spmQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *spmQueue) Push(x any)   { *q = append(*q, x.(spmBigram)) }
func (q *spmQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// encodeSPM is llama.cpp's llm_tokenizer_spm: spaces become "▁", then the
// characters are merged pairwise, best-scoring vocabulary entry first;
// characters missing from the vocabulary fall back to <0xXX> byte tokens.
func (t *Tokenizer) encodeSPM(out []int32, text string, spacePrefix bool) []int32 {
	if spacePrefix {
		text = " " + text
	}
	text = strings.ReplaceAll(text, " ", "\u2581")
	if text == "" {
		return out
	}
	syms := make([]symbol, 0, len(text))
	for i := 0; i < len(text); {
		_, n := utf8.DecodeRuneInString(text[i:])
		syms = append(syms, symbol{start: i, end: i + n, prev: len(syms) - 1, next: len(syms) + 1})
		i += n
	}
	syms[len(syms)-1].next = -1
	q := spmQueue{}
	add := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		s := text[syms[l].start:syms[r].end]
		id, ok := t.ids[s]
		if !ok || t.types[id] == TypeControl {
			return
		}
		var score float32
		if t.scores != nil {
			score = t.scores[id]
		}
		heap.Push(&q, spmBigram{left: l, right: r, score: score, size: len(s)})
	}
	for i := 1; i < len(syms); i++ {
		add(i-1, i)
	}
	for q.Len() > 0 {
		bg := heap.Pop(&q).(spmBigram)
		l, r := &syms[bg.left], &syms[bg.right]
		// Drop entries made stale by an earlier merge.
		if l.end == l.start || r.end == r.start || l.next != bg.right || r.end-l.start != bg.size {
			continue
		}
		l.end = r.end
		r.start, r.end = 0, 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		add(l.prev, bg.left)
		add(bg.left, l.next)
	}
	for i := 0; i >= 0; i = syms[i].next {
		s := text[syms[i].start:syms[i].end]
		if id, ok := t.ids[s]; ok && t.types[id] != TypeControl {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(s); j++ {
			if id := t.byteTokens[s[j]]; id >= 0 {
				out = append(out, id)
			} else if t.unk >= 0 {
				out = append(out, t.unk)
			}
		}
	}
	return out
}
