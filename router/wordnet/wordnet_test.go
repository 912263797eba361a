package wordnet

import (
	"bufio"
	"compress/gzip"
	"slices"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	lx, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if n := lx.Len(); n < 50000 {
		t.Fatalf("%d lemmas, want the whole of WordNet's single words", n)
	}
	tests := []struct {
		word, same string // same senses (an inflection or an irregular form)
	}{
		{"flights", "flight"}, {"books", "book"}, {"cities", "city"}, {"flew", "fly"},
		{"mice", "mouse"}, {"watches", "watch"},
	}
	for _, tt := range tests {
		got, want := lx.Synsets(tt.word), lx.Synsets(tt.same)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("Synsets(%q) = %v, want those of %q, %v", tt.word, got, tt.same, want)
		}
	}
	if got := lx.Synsets("qwzx"); got != nil {
		t.Errorf("Synsets of a non-word: %v", got)
	}
	for w, want := range map[string]bool{"flight": true, "flew": true, "flights": false, "qwzx": false, "": false} {
		if got := lx.Lemma(w); got != want {
			t.Errorf("Lemma(%q) = %v, want %v", w, got, want)
		}
	}
	if again, err := Load(); again != lx || err != nil {
		t.Errorf("a second Load = %p, %v; want the first's lexicon %p, shared", again, err, lx)
	}
	// Routing looks words up on every request: no garbage.
	if n := testing.AllocsPerRun(100, func() { lx.Synsets("watches"); lx.Synsets("qwzxing"); lx.Lemma("flew") }); n != 0 {
		t.Errorf("lookups allocate %v times", n)
	}
	// salmon and steak are both food: some sense of each has a class or
	// an ancestor in common.
	reach := func(w string) map[int32]bool {
		out := map[int32]bool{}
		for _, s := range lx.Synsets(w) {
			out[-1-int32(lx.LexFile(s))] = true
			for _, p := range lx.Parents(s) {
				out[p] = true
				for _, g := range lx.Parents(p) {
					out[g] = true
				}
			}
		}
		return out
	}
	// A word's definitions: content words, not the word itself nor
	// function words.
	glosses := func(w string) map[string]bool {
		out := map[string]bool{}
		for _, s := range lx.Synsets(w) {
			for _, g := range lx.Gloss(s) {
				out[lx.GlossWord(g)] = true
			}
		}
		return out
	}
	for _, tt := range []struct {
		word, has string
		want      bool
	}{
		{"mortgage", "loan", true}, {"thermometer", "temperature", true},
		{"mortgage", "mortgage", false}, {"mortgage", "the", false}, {"mortgage", "of", false},
	} {
		if got := glosses(tt.word)[tt.has]; got != tt.want {
			t.Errorf("glosses of %q have %q: %v, want %v (%v)", tt.word, tt.has, got, tt.want, glosses(tt.word))
		}
	}
	a, b := reach("salmon"), reach("steak")
	shared := 0
	for k := range a {
		if b[k] {
			shared++
		}
	}
	if shared == 0 {
		t.Error("salmon and steak share no class or ancestor")
	}
}

// The lexicon keeps every synset's gloss words in order, as the file
// lists them, and finds every lemma it lists.
func TestLoadKeepsFile(t *testing.T) {
	lx, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	synset, lemmas := int32(0), 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		head, rest, _ := strings.Cut(line, " ")
		if head != "s" {
			if !lx.Lemma(head) {
				t.Fatalf("lemma %q not found", head)
			}
			lemmas++
			continue
		}
		_, want, _ := strings.Cut(rest, " | ")
		var got []string
		for _, w := range lx.Gloss(synset) {
			got = append(got, lx.GlossWord(w))
		}
		if strings.Join(got, " ") != strings.Join(strings.Fields(want), " ") {
			t.Fatalf("synset %d: gloss %q, want %q", synset, got, want)
		}
		synset++
	}
	if synset != int32(len(lx.lexfile)) || lemmas != lx.Len() {
		t.Fatalf("%d synsets and %d lemmas read, the lexicon has %d and %d", synset, lemmas, len(lx.lexfile), lx.Len())
	}
}
