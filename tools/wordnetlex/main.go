// Command wordnetlex writes the router's WordNet lexicon
// (router/wordnet/wordnet.txt.gz) from the WordNet 3.0 database files, as
// Debian's wordnet-base package installs them:
//
//	apt-get install wordnet-base
//	go run ./tools/wordnetlex -dict /usr/share/wordnet -out router/wordnet/wordnet.txt.gz
//
// It keeps, for every single-word lemma of letters, its most frequent
// senses of each part of speech, and for every synset they reach its
// lexicographer file (a coarse class such as noun.food) and hypernyms, and
// for the lemmas' two most frequent senses of each part of speech, and
// their hypernyms within depth, the content words of their definitions
// (gloss). See router/wordnet for the
// format.
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

type synset struct {
	lex     int
	parents []string // keys "pos:offset"
	gloss   []string // the definition's content words
}

func main() {
	dict := flag.String("dict", "/usr/share/wordnet", "WordNet dict directory")
	out := flag.String("out", "router/wordnet/wordnet.txt.gz", "output file")
	senses := flag.Int("senses", 3, "senses kept per lemma and part of speech")
	depth := flag.Int("depth", 2, "hypernym levels kept above a kept sense")
	glossed := flag.Int("gloss-senses", 2, "senses per lemma and part of speech whose definition's words are kept")
	flag.Parse()
	if err := run(*dict, *out, *senses, *depth, *glossed); err != nil {
		log.Fatal(err)
	}
}

func run(dict, out string, senses, depth, glossed int) error {
	pos := []struct{ name, tag string }{{"noun", "n"}, {"verb", "v"}, {"adj", "a"}, {"adv", "r"}}
	synsets := map[string]synset{}
	for _, p := range pos {
		if err := readData(filepath.Join(dict, "data."+p.name), p.tag, synsets); err != nil {
			return err
		}
	}
	words := map[string][]string{} // lemma -> synset keys, by rank across parts of speech
	glossy := map[string]bool{}    // synsets whose gloss is kept
	for _, p := range pos {
		if err := readIndex(filepath.Join(dict, "index."+p.name), p.tag, senses, glossed, words, glossy); err != nil {
			return err
		}
	}
	// Irregular forms (flew, mice, better) take their base forms' senses.
	for _, p := range pos {
		if err := readExceptions(filepath.Join(dict, p.name+".exc"), words); err != nil {
			return err
		}
	}
	// Keep the synsets the senses reach within depth, numbered densely.
	ids := map[string]int{}
	var order []string
	var visit func(k string, d int)
	visit = func(k string, d int) {
		if _, ok := ids[k]; !ok {
			ids[k] = len(order)
			order = append(order, k)
		}
		if d < depth {
			for _, p := range synsets[k].parents {
				visit(p, d+1)
			}
		}
	}
	// Their hypernyms' glosses too, within depth: the router weighs them
	// as it weighs the hypernyms themselves.
	senseKeys := slices.Collect(maps.Keys(glossy))
	var mark func(k string, d int)
	mark = func(k string, d int) {
		glossy[k] = true
		if d < depth {
			for _, p := range synsets[k].parents {
				mark(p, d+1)
			}
		}
	}
	for _, k := range senseKeys {
		mark(k, 0)
	}
	// Visit in lemma order so that the synset numbering, and so the file,
	// is the same on every run.
	lemmas := slices.Sorted(maps.Keys(words))
	for _, w := range lemmas {
		for _, k := range words[w] {
			visit(k, 0)
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	fmt.Fprintf(bw, "# From WordNet 3.0, Copyright 2006 by Princeton University (see LICENSE-WordNet).\n")
	fmt.Fprintf(bw, "# Synset lines: s lexfile parent... [| gloss word...]; lemma lines: lemma synset... (ids are line numbers of s lines from 0).\n")
	for _, k := range order {
		s := synsets[k]
		fmt.Fprintf(bw, "s %d", s.lex)
		for _, p := range s.parents {
			if id, ok := ids[p]; ok {
				fmt.Fprintf(bw, " %s", strconv.FormatInt(int64(id), 36))
			}
		}
		if glossy[k] && len(s.gloss) > 0 {
			fmt.Fprintf(bw, " | %s", strings.Join(s.gloss, " "))
		}
		bw.WriteByte('\n')
	}
	for _, w := range lemmas {
		bw.WriteString(w)
		for _, k := range words[w] {
			fmt.Fprintf(bw, " %s", strconv.FormatInt(int64(ids[k]), 36))
		}
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	log.Printf("%d lemmas, %d synsets", len(lemmas), len(order))
	return f.Close()
}

// readData reads a data.* file: offset lexfile type n word lex_id ... p ptr... | gloss.
func readData(path, tag string, synsets map[string]synset) error {
	return eachLine(path, func(line string) {
		var gloss string
		if i := strings.Index(line, " | "); i >= 0 {
			line, gloss = line[:i], line[i+3:]
		}
		fs := strings.Fields(line)
		lex, _ := strconv.Atoi(fs[1])
		n, _ := strconv.ParseInt(fs[3], 16, 32)
		i := 4 + 2*int(n)
		p, _ := strconv.Atoi(fs[i])
		s := synset{lex: lex, gloss: glossWords(gloss, fs[4:4+2*int(n)])}
		for j := range p {
			sym, off, ptag := fs[i+1+4*j], fs[i+2+4*j], fs[i+3+4*j]
			if (sym == "@" || sym == "@i") && len(s.parents) < 2 {
				if ptag == "s" {
					ptag = "a"
				}
				s.parents = append(s.parents, ptag+":"+off)
			}
		}
		synsets[tag+":"+fs[0]] = s
	})
}

// maxGloss bounds the words kept of a definition: its first words say
// what the thing is, later ones qualify it.
const maxGloss = 8

// glossStop are function words and definitions' boilerplate ("something",
// "especially"), which say nothing of a topic.
var glossStop = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but if of to in on at by for with from up about into over
	after as such other than any some all no not one two is are was were be been being it its that which who whom
	whose this these those there their them they used especially something someone person thing act make
	usually often etc very more most less can may will would has have had do does did also out off`) {
		glossStop[w] = true
	}
}

// glossWords returns the content words of a synset's gloss (its
// definition, before the first ';' or quoted example): lower-case words
// of letters, neither stop words nor the synset's own lemmas.
func glossWords(gloss string, lemmaFields []string) []string {
	own := map[string]bool{}
	for i := 0; i < len(lemmaFields); i += 2 {
		own[strings.ToLower(lemmaFields[i])] = true
	}
	if i := strings.IndexAny(gloss, ";\""); i >= 0 {
		gloss = gloss[:i]
	}
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(gloss), func(r rune) bool { return r < 'a' || r > 'z' }) {
		if len(w) > 2 && !glossStop[w] && !own[w] && !slices.Contains(out, w) {
			out = append(out, w)
		}
		if len(out) == maxGloss {
			break
		}
	}
	return out
}

// readIndex reads an index.* file: lemma pos synset_cnt p_cnt ptr... sense_cnt tagsense_cnt offset...
// The first glossed senses of each lemma are marked in glossy.
func readIndex(path, tag string, senses, glossed int, words map[string][]string, glossy map[string]bool) error {
	return eachLine(path, func(line string) {
		fs := strings.Fields(line)
		lemma := fs[0]
		if !letters(lemma) {
			return
		}
		cnt, _ := strconv.Atoi(fs[2])
		offs := fs[len(fs)-cnt:]
		for i, off := range offs[:min(senses, len(offs))] {
			words[lemma] = append(words[lemma], tag+":"+off)
			if i < glossed {
				glossy[tag+":"+off] = true
			}
		}
	})
}

// eachLine calls fn with each line of a WordNet database file but its
// license header (the lines that start with two spaces).
func eachLine(path string, fn func(line string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "  ") {
			fn(line)
		}
	}
	return sc.Err()
}

func letters(w string) bool {
	for i := range len(w) {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return len(w) > 1
}

// readExceptions reads an *.exc file (inflected form, base forms) and
// gives each form that is not a lemma itself its first base form's senses.
func readExceptions(path string, words map[string][]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 || !letters(fs[0]) {
			continue
		}
		if _, ok := words[fs[0]]; ok {
			continue
		}
		if base, ok := words[fs[1]]; ok {
			words[fs[0]] = base
		}
	}
	return sc.Err()
}
