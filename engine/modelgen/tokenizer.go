package modelgen

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// vocabulary is a tokenizer's tokens and the metadata describing them.
type vocabulary struct {
	tokens []string
	types  []int32
	scores []float32 // llama only
	merges []string  // gpt2 only
	bos    int
	eos    int
	pad    int
	unk    int // -1 when none
}

// Token types of llama.cpp's llama_token_type.
const (
	typeNormal  = 1
	typeUnknown = 2
	typeControl = 3
	typeByte    = 6
)

// byteToUnicode is GPT-2's bytes_to_unicode: printable bytes map to
// themselves, the others to code points from 256 upward, in byte order.
func byteToUnicode() [256]rune {
	var m [256]rune
	n := 0
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}

// gpt2Vocab builds a byte-level BPE vocabulary of about size tokens: the 256
// byte tokens (in byte order), tokens for merges learned on the corpus, and
// the ChatML special tokens.
func gpt2Vocab(size int) (*vocabulary, error) {
	specials := []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
	base := 256 + len(specials)
	if size < base {
		return nil, fmt.Errorf("modelgen: gpt2 vocab %d smaller than %d", size, base)
	}
	b2u := byteToUnicode()
	var words []string
	for _, w := range pretokenizeGPT2(corpus) {
		var sb strings.Builder
		for _, b := range []byte(w) {
			sb.WriteRune(b2u[b])
		}
		words = append(words, sb.String())
	}
	merges := trainBPE(words, size-base)
	v := &vocabulary{unk: -1}
	for b := range 256 {
		v.tokens = append(v.tokens, string(b2u[b]))
	}
	for _, m := range merges {
		v.tokens = append(v.tokens, m[0]+m[1])
		v.merges = append(v.merges, m[0]+" "+m[1])
	}
	v.types = make([]int32, len(v.tokens))
	for i := range v.types {
		v.types[i] = typeNormal
	}
	first := len(v.tokens)
	for _, s := range specials {
		v.tokens = append(v.tokens, s)
		v.types = append(v.types, typeControl)
	}
	v.bos, v.pad, v.eos = first, first, first+2 // <|endoftext|>, <|im_end|>
	return v, nil
}

// llamaVocab builds a SentencePiece-style vocabulary: <unk>, <s>, </s>, the
// 256 byte-fallback tokens, every character of the corpus, then merged
// pieces, with "▁" standing for a space and scores that rank later merges
// lower.
func llamaVocab(size int) (*vocabulary, error) {
	v := &vocabulary{unk: 0, bos: 1, eos: 2, pad: 0}
	v.tokens = []string{"<unk>", "<s>", "</s>"}
	v.types = []int32{typeUnknown, typeControl, typeControl}
	for b := range 256 {
		v.tokens = append(v.tokens, fmt.Sprintf("<0x%02X>", b))
		v.types = append(v.types, typeByte)
	}
	var words []string
	for _, line := range strings.Split(corpus, "\n") {
		for _, w := range strings.Fields(line) {
			words = append(words, "▁"+w)
		}
	}
	seen := map[string]bool{}
	var chars []string
	for _, w := range words {
		for _, r := range w {
			if !seen[string(r)] {
				seen[string(r)] = true
				chars = append(chars, string(r))
			}
		}
	}
	slices.Sort(chars)
	base := len(v.tokens) + len(chars)
	if size < base {
		return nil, fmt.Errorf("modelgen: llama vocab %d smaller than %d", size, base)
	}
	pieces := chars
	for _, m := range trainBPE(words, size-base) {
		pieces = append(pieces, m[0]+m[1])
	}
	for _, p := range pieces {
		v.tokens = append(v.tokens, p)
		v.types = append(v.types, typeNormal)
	}
	v.scores = make([]float32, len(v.tokens))
	for i := 3 + 256; i < len(v.tokens); i++ {
		v.scores[i] = -float32(i - 3 - 256)
	}
	return v, nil
}

// pretokenizeGPT2 splits text roughly like the qwen2 pre-tokenizer: letter
// runs with an optional leading space, single digits, punctuation runs with
// an optional leading space, and whitespace. Merges never cross these
// boundaries, so an approximate split only changes which merges are learned.
func pretokenizeGPT2(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		start := i
		if r == ' ' && i+n < len(text) {
			if r2, _ := utf8.DecodeRuneInString(text[i+n:]); !unicode.IsSpace(r2) && !unicode.IsDigit(r2) {
				i += n
				r, n = r2, utf8.RuneLen(r2)
			}
		}
		class := func(r rune) int {
			switch {
			case unicode.IsLetter(r):
				return 0
			case unicode.IsDigit(r):
				return 1
			case unicode.IsSpace(r):
				return 2
			}
			return 3
		}
		c := class(r)
		i += n
		if c != 1 { // digits stay single
			for i < len(text) {
				r2, n2 := utf8.DecodeRuneInString(text[i:])
				if class(r2) != c {
					break
				}
				i += n2
			}
		}
		out = append(out, text[start:i])
	}
	return out
}

// trainBPE learns up to n merges on words (each split into characters): at
// each step the most frequent adjacent pair, ties broken by the smaller pair
// in string order, so that the result is deterministic. Pairs seen once are
// merged too (after all the frequent ones), so that a small corpus still
// fills the vocabulary; it stops when every word is a single symbol.
// Symbols are interned as ints and pair counts updated only for the words a
// merge touches, which keeps building the demo model fast.
func trainBPE(words []string, n int) [][2]string {
	counts := map[string]int{}
	for _, w := range words {
		counts[w]++
	}
	keys := make([]string, 0, len(counts))
	for w := range counts {
		keys = append(keys, w)
	}
	slices.Sort(keys)

	var names []string
	ids := map[string]int32{}
	intern := func(s string) int32 {
		id, ok := ids[s]
		if !ok {
			id = int32(len(names))
			ids[s] = id
			names = append(names, s)
		}
		return id
	}
	type word struct {
		syms  []int32
		count int
	}
	type pair struct{ a, b int32 }
	ws := make([]word, len(keys))
	pairs := map[pair]int{}
	where := map[pair][]int{} // words that contain (or once contained) a pair
	addPairs := func(i, sign int) {
		w := ws[i]
		for j := 0; j+1 < len(w.syms); j++ {
			p := pair{w.syms[j], w.syms[j+1]}
			pairs[p] += sign * w.count
			if pairs[p] == 0 {
				delete(pairs, p)
			}
			if sign > 0 {
				if l := where[p]; len(l) == 0 || l[len(l)-1] != i {
					where[p] = append(l, i)
				}
			}
		}
	}
	for i, k := range keys {
		for _, r := range k {
			ws[i].syms = append(ws[i].syms, intern(string(r)))
		}
		ws[i].count = counts[k]
		addPairs(i, 1)
	}
	less := func(p, q pair) bool {
		if names[p.a] != names[q.a] {
			return names[p.a] < names[q.a]
		}
		return names[p.b] < names[q.b]
	}
	var merges [][2]string
	for len(merges) < n && len(pairs) > 0 {
		var best pair
		bestN := 0
		for p, c := range pairs {
			if c > bestN || c == bestN && less(p, best) {
				best, bestN = p, c
			}
		}
		merges = append(merges, [2]string{names[best.a], names[best.b]})
		joined := intern(names[best.a] + names[best.b])
		for _, i := range where[best] {
			addPairs(i, -1)
			s := ws[i].syms
			out := s[:0]
			for j := 0; j < len(s); j++ {
				if j+1 < len(s) && s[j] == best.a && s[j+1] == best.b {
					out = append(out, joined)
					j++
				} else {
					out = append(out, s[j])
				}
			}
			ws[i].syms = out
			addPairs(i, 1)
		}
		delete(where, best)
	}
	return merges
}

// chatMLTemplate is the ChatML template used by Qwen models.
const chatMLTemplate = `{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

// llama2Template is the Llama-2 chat template with [INST] and <<SYS>>.
const llama2Template = `{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}`
