// Package wordnet is a small lexicon derived from WordNet 3.0 (Princeton
// University; license in LICENSE-WordNet beside this file): for each
// single-word English lemma, its most frequent senses and, for each sense,
// its lexicographer class (noun.food, verb.motion, ...) and hypernyms. The
// router adds these as features so that words it never saw in an expert's
// examples still count for it ("salmon" and "steak" share noun.food and
// "food"). tools/wordnetlex writes wordnet.txt.gz.
//
// Format (gzipped text): two comment lines; then one line per synset,
// "s LEXFILE PARENT...", synset ids being their order among those lines
// (base 36); then one line per lemma, "LEMMA SYNSET...", its senses by
// frequency within each part of speech (nouns, verbs, adjectives, adverbs).
package wordnet

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

//go:embed wordnet.txt.gz
var data []byte

// Lexicon maps words to WordNet concepts. It is immutable and safe for
// concurrent use.
type Lexicon struct {
	lemmas  map[string][]int32
	lexfile []uint8
	parents [][]int32
}

// Load parses the shipped lexicon (about 100 ms; callers load it once).
func Load() (*Lexicon, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("wordnet: %w", err)
	}
	lx := &Lexicon{lemmas: make(map[string][]int32, 82000)}
	sc := bufio.NewScanner(zr)
	for line := 1; sc.Scan(); line++ {
		t := sc.Text()
		if t == "" || t[0] == '#' {
			continue
		}
		fs := strings.Fields(t)
		ids, err := parseIDs(fs[1:])
		if fs[0] == "s" {
			if err != nil || len(ids) == 0 {
				return nil, fmt.Errorf("wordnet: line %d: bad synset", line)
			}
			// The lexicographer class is decimal; base 36 below 36 is the same number.
			lx.lexfile = append(lx.lexfile, uint8(ids[0]))
			lx.parents = append(lx.parents, ids[1:])
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("wordnet: line %d: %w", line, err)
		}
		lx.lemmas[fs[0]] = ids
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("wordnet: %w", err)
	}
	for w, ids := range lx.lemmas {
		for _, id := range ids {
			if int(id) >= len(lx.parents) {
				return nil, fmt.Errorf("wordnet: lemma %q has unknown synset %d", w, id)
			}
		}
	}
	return lx, nil
}

func parseIDs(fs []string) ([]int32, error) {
	ids := make([]int32, len(fs))
	for i, f := range fs {
		n, err := strconv.ParseInt(f, 36, 32)
		if err != nil {
			return nil, err
		}
		ids[i] = int32(n)
	}
	return ids, nil
}

// Synsets returns the senses of a lower-case word, trying the word and
// then its base forms by WordNet's detachment rules ("flights" →
// "flight", "booking" → "book"); nil when none is known.
func (lx *Lexicon) Synsets(word string) []int32 {
	if ids, ok := lx.lemmas[word]; ok {
		return ids
	}
	for _, r := range detach {
		if len(word) > len(r.suf)+1 && strings.HasSuffix(word, r.suf) {
			if ids, ok := lx.lemmas[word[:len(word)-len(r.suf)]+r.rep]; ok {
				return ids
			}
		}
	}
	return nil
}

// Lemma reports whether word is a lemma (or an irregular form) itself,
// without detaching suffixes: "flights" is not, "flight" and "flew" are.
func (lx *Lexicon) Lemma(word string) bool {
	_, ok := lx.lemmas[word]
	return ok
}

// Parents returns the hypernyms of synset id.
func (lx *Lexicon) Parents(id int32) []int32 { return lx.parents[id] }

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
