// Command clincsets writes the evaluation sets regrouped from CLINC150's
// intents (examples/data/clincsets/README.md): an 18-scenario set in the
// style of HWU64 and a 7-class set in the style of SNIPS, as JSON Lines
// train and val files named SET_train.jsonl and SET_val.jsonl.
//
//	go run ./tools/clincsets                                # the samples in router/testdata
//	go run ./tools/clincsets --out DIR --train 0 --val 0    # the full sets
//	go run ./tools/clincsets --out DIR --train 0 --val 0 --oos  # and CLINC's out-of-scope queries
//
// The output is a function of the CLINC files and the mapping alone: each
// intent's queries are ordered by a hash of their text, the first N kept,
// and the kept lines of a file are ordered by the same hash.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"os"
	"path/filepath"
	"slices"
)

func main() {
	var c config
	flag.StringVar(&c.src, "src", "examples/data/clinc150", "directory of CLINC150's train.jsonl and val.jsonl (with intents)")
	flag.StringVar(&c.mapping, "mapping", "examples/data/clincsets/mapping.json", "set name -> class -> CLINC intents")
	flag.StringVar(&c.out, "out", "router/testdata", "directory the sets are written to")
	flag.IntVar(&c.train, "train", 30, "training queries kept per intent (0: all)")
	flag.IntVar(&c.val, "val", 10, "validation queries kept per intent (0: all)")
	flag.BoolVar(&c.oos, "oos", false, "add CLINC's out-of-scope queries of each split (expert \"\")")
	flag.Parse()
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

type config struct {
	src, mapping, out string
	train, val        int
	oos               bool
}

// query is one line of the CLINC files and of the output.
type query struct {
	Text   string `json:"text"`
	Expert string `json:"expert"`
	Intent string `json:"intent"`
}

func run(c config) error {
	b, err := os.ReadFile(c.mapping)
	if err != nil {
		return err
	}
	var sets map[string]map[string][]string
	if err := json.Unmarshal(b, &sets); err != nil {
		return fmt.Errorf("%s: %w", c.mapping, err)
	}
	for _, split := range []struct {
		name string
		keep int
	}{{"train", c.train}, {"val", c.val}} {
		qs, err := readQueries(filepath.Join(c.src, split.name+".jsonl"))
		if err != nil {
			return err
		}
		for name, classes := range sets {
			out, err := regroup(qs, classes, split.keep)
			if err != nil {
				return fmt.Errorf("set %s: %w", name, err)
			}
			if c.oos {
				out = withOutOfScope(out, qs)
			}
			if err := writeQueries(filepath.Join(c.out, name+"_"+split.name+".jsonl"), out); err != nil {
				return err
			}
		}
	}
	return nil
}

// regroup relabels the queries of the mapped intents with their class,
// keeping the first keep of each intent (all when keep is 0) in hash order.
func regroup(qs []query, classes map[string][]string, keep int) ([]query, error) {
	class := map[string]string{}
	for c, intents := range classes {
		for _, in := range intents {
			if prev, ok := class[in]; ok {
				return nil, fmt.Errorf("intent %s in classes %s and %s", in, prev, c)
			}
			class[in] = c
		}
	}
	byIntent := map[string][]query{}
	for _, q := range qs {
		if c, ok := class[q.Intent]; ok {
			byIntent[q.Intent] = append(byIntent[q.Intent], query{Text: q.Text, Expert: c, Intent: q.Intent})
		}
	}
	var out []query
	for in := range class {
		got := byIntent[in]
		if len(got) == 0 {
			return nil, fmt.Errorf("intent %s has no queries", in)
		}
		sortByHash(got)
		if keep > 0 && keep < len(got) {
			got = got[:keep]
		}
		out = append(out, got...)
	}
	sortByHash(out)
	return out, nil
}

// withOutOfScope adds the out-of-scope queries of qs (intent oos) to out,
// with an empty expert, in hash order.
func withOutOfScope(out, qs []query) []query {
	for _, q := range qs {
		if q.Intent == "oos" {
			out = append(out, query{Text: q.Text, Intent: q.Intent})
		}
	}
	sortByHash(out)
	return out
}

// sortByHash orders queries by the FNV-1a hash of their text: a shuffle
// that depends on nothing but the text.
func sortByHash(qs []query) {
	hash := func(s string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(s))
		return h.Sum64()
	}
	slices.SortStableFunc(qs, func(a, b query) int {
		return cmp.Or(cmp.Compare(hash(a.Text), hash(b.Text)), cmp.Compare(a.Text, b.Text), cmp.Compare(a.Intent, b.Intent))
	})
}

func readQueries(path string) ([]query, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var qs []query
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		var q query
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		qs = append(qs, q)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(qs) == 0 {
		return nil, errors.New(path + ": no queries")
	}
	return qs, nil
}

func writeQueries(path string, qs []query) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, q := range qs {
		if err := enc.Encode(q); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
