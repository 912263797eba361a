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
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/moegate/moegate/internal/offheap"
)

//go:embed wordnet.txt.gz
var data string // immutable, so in the binary's read-only segment

// source is data's bytes, for offheap.PageOut; never to be written.
func source() []byte { return unsafe.Slice(unsafe.StringData(data), len(data)) }

// Lexicon maps words to WordNet concepts. It is immutable and safe for
// concurrent use. It is a few arrays outside the Go heap, so the garbage
// collector, which runs through the heap on every cycle of a busy gateway,
// neither walks its 80,000 words (as a map of strings to slices it cost a
// fifth of a routed request's CPU and 30 MB of resident memory) nor
// counts them toward its goal.
type Lexicon struct {
	// index is an open-addressing hash table of the lemmas: slot h (or
	// the next free one) of a lemma hashing to h holds its number plus
	// one in the low lemmaBits bits and the hash's top bits above them,
	// so that a probe compares a word only when those agree. At most a
	// third full, it is 1 MB for WordNet's 81,000 lemmas, where a Go map
	// of their hashes took 2 MB.
	index     []uint32
	words     []byte   // the lemmas, concatenated
	wordEnd   []uint32 // end of lemma i in words
	senses    []int32  // each lemma's senses, concatenated
	senseEnd  []uint32 // end of lemma i's senses
	lexfile   []uint8  // lexicographer class of each synset
	parents   []int32  // each synset's hypernyms, concatenated
	parentEnd []uint32 // end of synset i's hypernyms
	// Glosses are word numbers: 363,000 words of definitions drawn from
	// 33,000 distinct ones (2.8 MB as text, 1.1 MB so).
	gloss    []uint16 // each synset's gloss words, concatenated
	glossEnd []uint32 // end of synset i's gloss words
	gword    string   // the distinct gloss words, concatenated
	gwordEnd []uint32 // end of gloss word i in gword
}

// lemmaBits is the width of a lemma's number in an index slot.
const lemmaBits = 17

// Load returns the shipped lexicon, parsed on the first call (about
// 100 ms) and shared by every caller after it: it never changes.
func Load() (*Lexicon, error) { return shared() }

// shared parses the lexicon once a process: its tables stay for the
// process's life, outside the Go heap (see offheap).
var shared = sync.OnceValues(parse)

func parse() (*Lexicon, error) {
	zr, err := gzip.NewReader(strings.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("wordnet: %w", err)
	}
	lx := &Lexicon{}
	sc := bufio.NewScanner(zr)
	var ids []int32
	var gwords strings.Builder
	gwordNum := map[string]uint16{}
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
			for _, w := range bytes.Fields(words) {
				n, ok := gwordNum[string(w)]
				if !ok {
					if len(lx.gwordEnd) > math.MaxUint16 {
						return nil, fmt.Errorf("wordnet: line %d: more than %d gloss words", line, math.MaxUint16+1)
					}
					n = uint16(len(lx.gwordEnd))
					gwordNum[string(w)] = n
					gwords.Write(w)
					lx.gwordEnd = append(lx.gwordEnd, uint32(gwords.Len()))
				}
				lx.gloss = append(lx.gloss, n)
			}
			lx.glossEnd = append(lx.glossEnd, uint32(len(lx.gloss)))
			// The lexicographer class is decimal; base 36 below 36 is the same number.
			lx.lexfile = append(lx.lexfile, uint8(ids[0]))
			lx.parents = append(lx.parents, ids[1:]...)
			lx.parentEnd = append(lx.parentEnd, uint32(len(lx.parents)))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("wordnet: line %d: %w", line, err)
		}
		if len(lx.wordEnd)+1 >= 1<<lemmaBits {
			return nil, fmt.Errorf("wordnet: line %d: more than %d lemmas", line, 1<<lemmaBits-2)
		}
		lx.words = append(lx.words, head...)
		lx.wordEnd = append(lx.wordEnd, uint32(len(lx.words)))
		lx.senses = append(lx.senses, ids...)
		lx.senseEnd = append(lx.senseEnd, uint32(len(lx.senses)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("wordnet: %w", err)
	}
	lx.gword = gwords.String()
	lx.index = make([]uint32, max(1024, 1<<bits.Len(uint(3*len(lx.wordEnd)))))
	for i := range lx.wordEnd {
		if !lx.insert(int32(i)) {
			return nil, fmt.Errorf("wordnet: lemma %q repeated", lx.word(int32(i)))
		}
	}
	for _, id := range slices.Concat(lx.senses, lx.parents) {
		if id < 0 || int(id) >= len(lx.lexfile) {
			return nil, fmt.Errorf("wordnet: unknown synset %d", id)
		}
	}
	offheap.PageOut(source()) // 1.9 MB of resident memory, read once
	// Exact sizes (appends leave up to a quarter of each array unused),
	// off the heap: 4.7 MB there would be 9 MB of resident memory.
	lx.index, lx.words, lx.wordEnd = offheap.Clone(lx.index), offheap.Clone(lx.words), offheap.Clone(lx.wordEnd)
	lx.senses, lx.senseEnd, lx.lexfile = offheap.Clone(lx.senses), offheap.Clone(lx.senseEnd), offheap.Clone(lx.lexfile)
	lx.parents, lx.parentEnd = offheap.Clone(lx.parents), offheap.Clone(lx.parentEnd)
	lx.gloss, lx.glossEnd = offheap.Clone(lx.gloss), offheap.Clone(lx.glossEnd)
	lx.gword, lx.gwordEnd = offheap.CloneString(lx.gword), offheap.Clone(lx.gwordEnd)
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

// hash is 64-bit FNV-1a.
func hash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// slotOf returns the first slot to probe for hash h and the tag its
// lemma's slot carries.
func (lx *Lexicon) slotOf(h uint64) (slot int, tag uint32) {
	return int(h & uint64(len(lx.index)-1)), uint32(h>>(64-(32-lemmaBits))) << lemmaBits
}

// word returns lemma i.
func (lx *Lexicon) word(i int32) []byte {
	start := uint32(0)
	if i > 0 {
		start = lx.wordEnd[i-1]
	}
	return lx.words[start:lx.wordEnd[i]]
}

// insert adds lemma i to the index, which has a free slot; false if the
// word is there already.
func (lx *Lexicon) insert(i int32) bool {
	w := lx.word(i)
	if lx.lemma(w) >= 0 {
		return false
	}
	slot, tag := lx.slotOf(hash(w))
	for lx.index[slot] != 0 {
		slot = (slot + 1) & (len(lx.index) - 1)
	}
	lx.index[slot] = tag | uint32(i+1)
	return true
}

// lemma returns the number of lemma w, -1 when w is not one.
func (lx *Lexicon) lemma(w []byte) int32 {
	slot, tag := lx.slotOf(hash(w))
	for {
		s := lx.index[slot]
		if s == 0 {
			return -1
		}
		if s&^(1<<lemmaBits-1) == tag {
			if i := int32(s&(1<<lemmaBits-1)) - 1; bytes.Equal(lx.word(i), w) {
				return i
			}
		}
		slot = (slot + 1) & (len(lx.index) - 1)
	}
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

// Gloss returns the content words of synset id's definition, as numbers
// for GlossWord (none when none was kept): the words that define a word
// tie it to the topic's other words ("mortgage": "conveyance property
// security repayment loan"). The caller must not modify the result.
func (lx *Lexicon) Gloss(id int32) []uint16 {
	start := uint32(0)
	if id > 0 {
		start = lx.glossEnd[id-1]
	}
	return lx.gloss[start:lx.glossEnd[id]:lx.glossEnd[id]]
}

// GlossWord returns gloss word w.
func (lx *Lexicon) GlossWord(w uint16) string {
	start := uint32(0)
	if w > 0 {
		start = lx.gwordEnd[w-1]
	}
	return lx.gword[start:lx.gwordEnd[w]]
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
