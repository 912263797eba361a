package router

import "strings"

// Spelling correction against the training vocabulary. A typo turns a
// word the gate knows into one it never saw: the word's features, its stem
// and its concepts vanish and only some of its character n-grams remain.
// Before a query is embedded, each word of letters that is not in the
// vocabulary of the training examples is replaced by the closest
// vocabulary word (a deletion, insertion, substitution or swap of adjacent
// letters away), found by the symmetric-delete method: both words share a
// form with at most one letter deleted. English words the features know
// are replaced only by frequent vocabulary words one edit away.

const (
	minTypoOf      = 20 // examples using a word that an English word is a typo of
	minVocabWord   = 3  // shorter words are not corrected, nor targets
	maxSpellerWord = 24 // longer "words" are not words
)

// speller corrects words to a vocabulary. Its vocabulary is immutable
// once built; it is safe for concurrent use.
type speller struct {
	count   wordTable           // vocabulary words and their counts
	deletes map[string][]string // a word with one letter deleted -> vocabulary words
	known   func(string) bool   // English words that are not typos (may be nil)

	// verdicts memoises word's answer (its bytes) for the words outside
	// the vocabulary, bounded by maxMemoWords: a query's unknown words
	// (names, rare words) recur, and their candidate search, a dozen map
	// lookups and edit distances each, was a third of the speller's
	// instructions.
	verdicts wordMemo[byte]
}

// vocabulary returns the words of letters of texts (lower-cased, at least
// minVocabWord letters) with their counts.
func vocabulary(texts []string) map[string]int32 {
	v := map[string]int32{}
	for _, t := range texts {
		for ws := (spellWords{text: t}); ws.next(); {
			if w := ws.buf[:ws.n]; len(w) >= minVocabWord && len(w) <= maxSpellerWord {
				v[string(w)]++
			}
		}
	}
	return v
}

// newSpeller indexes vocab; known reports words that must not be
// corrected although the vocabulary lacks them. Words that vocabulary
// leaves out (shorter than minVocabWord, longer than maxSpellerWord) are
// left out, in case a model's vocabulary has them: no query word is
// looked up or corrected to them.
func newSpeller(vocab map[string]int32, known func(string) bool) *speller {
	s := &speller{count: newWordTable(len(vocab)), deletes: make(map[string][]string, 8*len(vocab)), known: known}
	s.verdicts.limit = maxMemoWords
	var buf []byte
	for w, n := range vocab {
		if len(w) < minVocabWord || len(w) > maxSpellerWord || strings.IndexByte(w, 0) >= 0 {
			continue
		}
		s.count.put(keyOf(w), uint64(n))
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
	for ws := (spellWords{text: text}); ws.next(); {
		w := ws.buf[:ws.n]
		if len(w) < minVocabWord {
			continue // neither in the vocabulary nor corrected
		}
		k := keyOf(w)
		if _, ok := s.count.find(k); ok {
			continue // a word of the vocabulary
		}
		c := s.verdict(k, w)
		if len(c) == 0 {
			continue
		}
		if b == nil {
			b = &strings.Builder{}
			b.Grow(len(text) + 8)
		}
		b.WriteString(text[last:ws.start])
		b.Write(c)
		last = ws.end
	}
	if b == nil {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// verdict is word(w), memoised (as k), as bytes.
func (s *speller) verdict(k wordKey, w []byte) []byte {
	if c, ok := s.verdicts.get(k); ok {
		return c
	}
	c := []byte(s.word(string(w)))
	s.verdicts.put(k, c)
	return c
}

// word returns the correction of w, "" when it needs none or has none.
func (s *speller) word(w string) string {
	if len(w) < minVocabWord || len(w) > maxSpellerWord {
		return ""
	}
	if _, ok := s.count.find(keyOf(w)); ok {
		return ""
	}
	known := s.known != nil && s.known(w)
	// Rank candidates by edit distance (symmetric deletes also find some
	// at two edits), then by a shared first letter (people rarely miss
	// the first), then by frequency.
	best, bestRank := "", [3]int{}
	consider := func(c string) {
		n, ok := s.count.find(keyOf(c))
		if !ok {
			return
		}
		rank := [3]int{-editDistance(w, c), btoi(c[0] == w[0]), int(n)}
		if best == "" || rank[0] > bestRank[0] || rank[0] == bestRank[0] && (rank[1] > bestRank[1] ||
			rank[1] == bestRank[1] && (rank[2] > bestRank[2] || rank[2] == bestRank[2] && c < best)) {
			best, bestRank = c, rank
		}
	}
	// w is a vocabulary word with a letter inserted (or w with one letter
	// deleted is one).
	// The deletes are looked up without a copy, and copied only when a
	// vocabulary word (a copy each was most of a query's allocations).
	var buf [maxSpellerWord]byte
	for i := range len(w) {
		d := append(append(buf[:0], w[:i]...), w[i+1:]...)
		if _, ok := s.count.find(keyOf(d)); ok && len(d) >= minVocabWord {
			consider(string(d))
		}
		// Substitutions and swaps: both lose a letter to the same form.
		for _, c := range s.deletes[string(d)] {
			consider(c)
		}
	}
	// w lacks a letter of a vocabulary word.
	for _, c := range s.deletes[w] {
		consider(c)
	}
	// An English word the examples lack is taken for a typo only of a
	// word one edit away that they use often: "moth" is "month" in a
	// router that saw "month" a hundred times.
	if known && (bestRank[0] < -1 || bestRank[2] < minTypoOf) {
		return ""
	}
	return best
}

// spellWords iterates over the runs of ASCII letters in text that are
// not part of a longer run of letters and digits (a word with digits or
// other scripts is left alone): after each next, the run is
// text[start:end] and buf[:n] its lower-cased letters. An iterator rather
// than a callback: the callback's buffer escaped, an allocation a query.
type spellWords struct {
	text       string
	i          int
	start, end int
	n          int
	buf        [maxSpellerWord]byte
}

// next advances to the next word, false when none is left.
func (ws *spellWords) next() bool {
	text := ws.text
	for i := ws.i; i < len(text); {
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
		for k, c := range []byte(text[start:i]) {
			ws.buf[k] = c | 0x20
		}
		ws.i, ws.start, ws.end, ws.n = i, start, i, i-start
		return true
	}
	ws.i = len(text)
	return false
}

func isASCIILetter(c byte) bool {
	c |= 0x20
	return 'a' <= c && c <= 'z'
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of adjacent letters.
func editDistance(a, b string) int {
	var rows [3][maxSpellerWord + 2]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := range len(b) + 1 {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := btoi(a[i-1] != b[j-1])
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
