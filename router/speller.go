package router

import (
	"strings"
)

// Spelling correction against the training vocabulary. A typo turns a
// word the gate knows into one it never saw: the word's features, its stem
// and its concepts vanish and only some of its character n-grams remain.
// Before a query is embedded, each word of letters that is neither in the
// vocabulary of the training examples nor an English word the features
// know is replaced by the most frequent vocabulary word one edit away
// (a deletion, insertion, substitution or swap of adjacent letters), found
// by the symmetric-delete method: both words share a form with at most one
// letter deleted.

const (
	minVocabWord   = 3  // shorter words are not corrected, nor targets
	maxSpellerWord = 24 // longer "words" are not words
)

// speller corrects words to a vocabulary. It is immutable once built.
type speller struct {
	count   map[string]int32    // vocabulary words and their counts
	deletes map[string][]string // a word with one letter deleted -> vocabulary words
	known   func(string) bool   // English words that are not typos (may be nil)
}

// vocabulary returns the words of letters of texts (lower-cased, at least
// minVocabWord letters) with their counts.
func vocabulary(texts []string) map[string]int32 {
	v := map[string]int32{}
	for _, t := range texts {
		eachWord(t, func(_, _ int, w string) {
			if len(w) >= minVocabWord && len(w) <= maxSpellerWord {
				v[w]++
			}
		})
	}
	return v
}

// newSpeller indexes vocab; known reports words that must not be
// corrected although the vocabulary lacks them.
func newSpeller(vocab map[string]int32, known func(string) bool) *speller {
	s := &speller{count: vocab, deletes: make(map[string][]string, 8*len(vocab)), known: known}
	var buf []byte
	for w := range vocab {
		for i := range len(w) {
			buf = append(append(buf[:0], w[:i]...), w[i+1:]...)
			d := string(buf)
			s.deletes[d] = append(s.deletes[d], w)
		}
	}
	return s
}

// correct returns text with its misspelt words corrected, or text itself
// when none is.
func (s *speller) correct(text string) string {
	var b *strings.Builder
	last := 0
	eachWord(text, func(start, end int, w string) {
		c := s.word(w)
		if c == "" {
			return
		}
		if b == nil {
			b = &strings.Builder{}
			b.Grow(len(text) + 8)
		}
		b.WriteString(text[last:start])
		b.WriteString(c)
		last = end
	})
	if b == nil {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// word returns the correction of w, "" when it needs none or has none.
func (s *speller) word(w string) string {
	if len(w) < minVocabWord || len(w) > maxSpellerWord {
		return ""
	}
	if _, ok := s.count[w]; ok || s.known != nil && s.known(w) {
		return ""
	}
	best, bestN := "", int32(0)
	consider := func(c string) {
		if n := s.count[c]; n > bestN || n == bestN && n > 0 && c < best {
			best, bestN = c, n
		}
	}
	// w is a vocabulary word with a letter inserted (or w with one letter
	// deleted is one).
	var buf [maxSpellerWord]byte
	for i := range len(w) {
		d := string(append(append(buf[:0], w[:i]...), w[i+1:]...))
		if len(d) >= minVocabWord {
			consider(d)
		}
		// Substitutions and swaps: both lose a letter to the same form.
		for _, c := range s.deletes[d] {
			consider(c)
		}
	}
	// w lacks a letter of a vocabulary word.
	for _, c := range s.deletes[w] {
		consider(c)
	}
	return best
}

// eachWord calls f with the byte span and lower-cased text of each run of
// ASCII letters in text that is not part of a longer run of letters and
// digits (a word with digits or other scripts is left alone).
func eachWord(text string, f func(start, end int, w string)) {
	var buf [maxSpellerWord]byte
	for i := 0; i < len(text); {
		if !isASCIILetter(text[i]) {
			i++
			continue
		}
		start := i
		for i < len(text) && isASCIILetter(text[i]) {
			i++
		}
		if i < len(text) && (text[i] >= 0x80 || '0' <= text[i] && text[i] <= '9') ||
			start > 0 && (text[start-1] >= 0x80 || '0' <= text[start-1] && text[start-1] <= '9') {
			for i < len(text) && text[i] != ' ' {
				i++
			}
			continue
		}
		if i-start > maxSpellerWord {
			continue
		}
		w := buf[:0]
		for _, c := range []byte(text[start:i]) {
			w = append(w, c|0x20)
		}
		f(start, i, string(w))
	}
}

func isASCIILetter(c byte) bool {
	c |= 0x20
	return 'a' <= c && c <= 'z'
}
