// Package wordnet is a small lexicon derived from WordNet 3.0 (Princeton
// University; license in LICENSE-WordNet beside this file): for each
// single-word English lemma, its most frequent senses and, for each sense,
// its lexicographer class (noun.food, verb.motion, ...) and hypernyms. The
// router adds these as features so that words it never saw in an expert's
// examples still count for it ("salmon" and "steak" share noun.food and
// "food"). tools/wordnetlex writes wordnet.txt.gz.
//
// Format (gzipped text): two comment lines; then one line per synset,
// "s LEXFILE PARENT... [| GLOSSWORD...]", synset ids being their order among those lines
// (base 36); then one line per lemma, "LEMMA SYNSET...", its senses by
// frequency within each part of speech (nouns, verbs, adjectives, adverbs).
package wordnet

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

//go:embed wordnet.txt.gz
var data []byte

// Lexicon maps words to WordNet concepts. It is immutable and safe for
// concurrent use. It holds no pointers but its few arrays, so the garbage
// collector, which runs through the heap on every cycle of a busy gateway,
// does not walk its 80,000 words (as a map of strings to slices it cost a
// fifth of a routed request's CPU and 30 MB of resident memory).
type Lexicon struct {
	index     map[uint64]int32 // hash of a lemma → its number
	words     []byte           // the lemmas, concatenated
	wordEnd   []uint32         // end of lemma i in words
	senses    []int32          // each lemma's senses, concatenated
	senseEnd  []uint32         // end of lemma i's senses
	lexfile   []uint8          // lexicographer class of each synset
	parents   []int32          // each synset's hypernyms, concatenated
	parentEnd []uint32         // end of synset i's hypernyms
	gloss     string           // each synset's gloss words, concatenated (one string: one object)
	glossEnd  []uint32         // end of synset i's gloss words
}

// Load parses the shipped lexicon (about 100 ms; callers load it once).
func Load() (*Lexicon, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("wordnet: %w", err)
	}
	lx := &Lexicon{index: make(map[uint64]int32, 82000)}
	sc := bufio.NewScanner(zr)
	var ids []int32
	var gloss strings.Builder
	for line := 1; sc.Scan(); line++ {
		t := sc.Bytes()
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		head, rest, _ := bytes.Cut(t, []byte{' '})
		rest, words, _ := bytes.Cut(rest, []byte(" | "))
		ids, err = parseIDs(ids[:0], rest)
		if string(head) == "s" {
			if err != nil || len(ids) == 0 {
				return nil, fmt.Errorf("wordnet: line %d: bad synset", line)
			}
			if len(words) > 0 && gloss.Len() > 0 {
				gloss.WriteByte(' ')
			}
			gloss.Write(words)
			lx.glossEnd = append(lx.glossEnd, uint32(gloss.Len()))
			// The lexicographer class is decimal; base 36 below 36 is the same number.
			lx.lexfile = append(lx.lexfile, uint8(ids[0]))
			lx.parents = append(lx.parents, ids[1:]...)
			lx.parentEnd = append(lx.parentEnd, uint32(len(lx.parents)))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("wordnet: line %d: %w", line, err)
		}
		h := hash(head)
		if _, dup := lx.index[h]; dup {
			return nil, fmt.Errorf("wordnet: line %d: lemma %q repeated or its hash taken", line, head)
		}
		lx.index[h] = int32(len(lx.wordEnd))
		lx.words = append(lx.words, head...)
		lx.wordEnd = append(lx.wordEnd, uint32(len(lx.words)))
		lx.senses = append(lx.senses, ids...)
		lx.senseEnd = append(lx.senseEnd, uint32(len(lx.senses)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("wordnet: %w", err)
	}
	lx.gloss = gloss.String()
	for _, id := range slices.Concat(lx.senses, lx.parents) {
		if id < 0 || int(id) >= len(lx.lexfile) {
			return nil, fmt.Errorf("wordnet: unknown synset %d", id)
		}
	}
	return lx, nil
}

func parseIDs(ids []int32, fields []byte) ([]int32, error) {
	for _, f := range bytes.Fields(fields) {
		n, err := strconv.ParseInt(string(f), 36, 32)
		if err != nil {
			return nil, err
		}
		ids = append(ids, int32(n))
	}
	return ids, nil
}

// hash is 64-bit FNV-1a: the index keeps hashes, not strings (Load
// refuses a collision).
func hash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// lemma returns the number of lemma w, -1 when w is not one.
func (lx *Lexicon) lemma(w []byte) int32 {
	i, ok := lx.index[hash(w)]
	if !ok {
		return -1
	}
	start := uint32(0)
	if i > 0 {
		start = lx.wordEnd[i-1]
	}
	if !bytes.Equal(lx.words[start:lx.wordEnd[i]], w) {
		return -1
	}
	return i
}

// Len is the number of lemmas.
func (lx *Lexicon) Len() int { return len(lx.wordEnd) }

// Synsets returns the senses of a lower-case word, trying the word and
// then its base forms by WordNet's detachment rules ("flights" →
// "flight", "booking" → "book"); nil when none is known. The caller must
// not modify the result.
func (lx *Lexicon) Synsets(word string) []int32 {
	var buf [64]byte // a replacement is never longer than its suffix
	if len(word) > len(buf) {
		return nil // no lemma is that long
	}
	i := lx.lemma(append(buf[:0], word...))
	for _, r := range detach {
		if i >= 0 {
			break
		}
		if len(word) > len(r.suf)+1 && strings.HasSuffix(word, r.suf) {
			i = lx.lemma(append(append(buf[:0], word[:len(word)-len(r.suf)]...), r.rep...))
		}
	}
	if i < 0 {
		return nil
	}
	start := uint32(0)
	if i > 0 {
		start = lx.senseEnd[i-1]
	}
	return lx.senses[start:lx.senseEnd[i]:lx.senseEnd[i]]
}

// Lemma reports whether word is a lemma (or an irregular form) itself,
// without detaching suffixes: "flights" is not, "flight" and "flew" are.
func (lx *Lexicon) Lemma(word string) bool {
	var buf [64]byte
	return len(word) <= len(buf) && lx.lemma(append(buf[:0], word...)) >= 0
}

// Parents returns the hypernyms of synset id. The caller must not modify
// the result.
func (lx *Lexicon) Parents(id int32) []int32 {
	start := uint32(0)
	if id > 0 {
		start = lx.parentEnd[id-1]
	}
	return lx.parents[start:lx.parentEnd[id]:lx.parentEnd[id]]
}

// Gloss returns the content words of synset id's definition, separated
// by spaces ("" when none was kept): the words that define a word tie it
// to the topic's other words ("mortgage": "conveyance property security
// repayment loan").
func (lx *Lexicon) Gloss(id int32) string {
	start := uint32(0)
	if id > 0 {
		start = lx.glossEnd[id-1]
	}
	return strings.TrimPrefix(lx.gloss[start:lx.glossEnd[id]], " ")
}

// LexFile returns the lexicographer class of synset id (0-44, as numbered
// in WordNet's lexnames file).
func (lx *Lexicon) LexFile(id int32) int { return int(lx.lexfile[id]) }

// detach are WordNet's morphological rules (morphy), nouns', verbs' and
// adjectives' together, longest suffixes first.
var detach = []struct{ suf, rep string }{
	{"ches", "ch"}, {"shes", "sh"}, {"ses", "s"}, {"xes", "x"}, {"zes", "z"},
	{"ies", "y"}, {"men", "man"}, {"ing", ""}, {"ing", "e"}, {"est", ""}, {"est", "e"},
	{"es", "e"}, {"es", ""}, {"ed", "e"}, {"ed", ""}, {"er", ""}, {"er", "e"}, {"s", ""},
}
