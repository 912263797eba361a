package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// wordStart is the "▁" llama.cpp's BERT vocabularies put before the first
// piece of a word (the converter turns WordPiece's "##" continuation
// marks into their absence).
const wordStart = "\u2581"

// encodeWPM is BERT WordPiece as llama.cpp does it: split the normalised
// text into words, then cover each word greedily with the longest
// vocabulary entries; a word that cannot be covered becomes UNK.
func (t *Tokenizer) encodeWPM(out []int32, text string) []int32 {
	for _, word := range wpmWords(text) {
		w := wordStart + word
		start := len(out)
		for i := 0; i < len(w); {
			j := min(len(w), i+t.maxTokenLen)
			for ; j > i; j-- {
				if id, ok := t.ids[w[i:j]]; ok {
					out = append(out, id)
					break
				}
			}
			if j == i { // no piece fits at i: the whole word is unknown
				out = out[:start]
				break
			}
			i = j
		}
		if len(out) == start && t.unk >= 0 {
			out = append(out, t.unk)
		}
	}
	return out
}

// wpmWords is the BERT normaliser and pre-tokenizer of llama.cpp: accents
// removed (each code point replaced by the first of its canonical
// decomposition), lower case, control characters dropped, split at white
// space, and every punctuation mark, ASCII symbol and CJK ideograph a word
// of its own.
func wpmWords(text string) []string {
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for _, r := range text {
		if r >= utf8.RuneSelf {
			if d := norm.NFD.String(string(r)); d != "" {
				r, _ = utf8.DecodeRuneInString(d)
			}
		}
		switch {
		case isSpace(r):
			flush()
			continue
		case r == 0 || r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs):
			continue
		}
		lr := unicode.ToLower(r)
		if unicode.IsPunct(r) || (r < 0x7F && unicode.IsSymbol(r)) || isCJK(r) {
			flush()
			words = append(words, string(lr))
			continue
		}
		cur.WriteRune(lr)
	}
	flush()
	return words
}

// isCJK reports the CJK ideograph blocks BERT splits one by one (with
// HuggingFace's 0x2B920 where the block starts at 0x2B820, as llama.cpp).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}
