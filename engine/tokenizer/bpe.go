package tokenizer

import (
	"container/heap"
	"unicode/utf8"
)

// byteRunes is GPT-2's bytes_to_unicode: printable bytes stand for
// themselves, the others are shifted to code points from 256 up, so every
// byte sequence becomes printable text without spaces.
var byteRunes, runeBytes = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := make(map[rune]byte, 256)
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = 256 + n
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// byteEncode maps raw bytes to their GPT-2 printable form.
func byteEncode(s string) string {
	buf := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteRunes[s[i]])
	}
	return string(buf)
}

// appendBPEDecoded maps a token's printable form back to bytes; runes
// outside the mapping (from added tokens) are kept as they are.
func appendBPEDecoded(b []byte, tok string) []byte {
	for _, r := range tok {
		if v, ok := runeBytes[r]; ok {
			b = append(b, v)
		} else {
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

func (t *Tokenizer) encodeBPE(out []int32, text string) []int32 {
	for _, word := range t.pre.split(text) {
		out = t.bpeWord(out, byteEncode(word))
	}
	return out
}

type symbol struct {
	start, end int // byte range in the word
	prev, next int
}

type bigram struct {
	left, right  int
	lsize, rsize int // sizes when queued, to drop stale entries
	rank         int
}

type bigramQueue []bigram

func (q bigramQueue) Len() int { return len(q) }
func (q bigramQueue) Less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].left < q[j].left
}
func (q bigramQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *bigramQueue) Push(x any)   { *q = append(*q, x.(bigram)) }
func (q *bigramQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// bpeWord merges the characters of one pre-tokenized word, always taking
// the lowest-ranked adjacent pair (leftmost on ties), as llama.cpp does.
func (t *Tokenizer) bpeWord(out []int32, word string) []int32 {
	if t.pre.ignoreMerges {
		// llama3-style vocabularies take a whole word that is a token as is.
		if id, ok := t.ids[word]; ok && t.types[id] != TypeControl {
			return append(out, id)
		}
	}
	syms := make([]symbol, 0, len(word))
	for i := 0; i < len(word); {
		_, n := utf8.DecodeRuneInString(word[i:])
		syms = append(syms, symbol{start: i, end: i + n, prev: len(syms) - 1, next: len(syms) + 1})
		i += n
	}
	syms[len(syms)-1].next = -1
	q := bigramQueue{}
	add := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		a, b := syms[l], syms[r]
		rank, ok := t.ranks[[2]string{word[a.start:a.end], word[b.start:b.end]}]
		if !ok {
			return
		}
		heap.Push(&q, bigram{left: l, right: r, lsize: a.end - a.start, rsize: b.end - b.start, rank: rank})
	}
	for i := 1; i < len(syms); i++ {
		add(i-1, i)
	}
	for q.Len() > 0 {
		bg := heap.Pop(&q).(bigram)
		l, r := &syms[bg.left], &syms[bg.right]
		if l.end-l.start != bg.lsize || r.end-r.start != bg.rsize || l.next != bg.right {
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
	for i := 0; i >= 0 && i < len(syms); i = syms[i].next {
		s := word[syms[i].start:syms[i].end]
		if id, ok := t.ids[s]; ok && t.types[id] != TypeControl {
			out = append(out, id)
			continue
		}
		// Not in the vocabulary: fall back to one token per byte.
		for _, r := range s {
			if id, ok := t.ids[string(r)]; ok {
				out = append(out, id)
			} else if t.unk >= 0 {
				out = append(out, t.unk)
			}
		}
	}
	return out
}
