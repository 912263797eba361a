package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCommittedSamples: the samples in router/testdata are what the
// generator writes with its defaults from the committed CLINC files and
// mapping, byte for byte (into a directory it creates).
func TestCommittedSamples(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sets")
	root := filepath.Join("..", "..")
	c := config{src: filepath.Join(root, "examples/data/clinc150"), mapping: filepath.Join(root, "examples/data/clincsets/mapping.json"),
		out: out, train: 30, val: 10}
	if err := run(c); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"scenarios18_train", "scenarios18_val", "snips7_train", "snips7_val"} {
		got, err := os.ReadFile(filepath.Join(out, name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(root, "router/testdata", name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: generated %d bytes differ from the committed %d; rerun go run ./tools/clincsets", name, len(got), len(want))
		}
	}
}

// TestRegroup: mapped intents take their class, the rest are left out,
// keep bounds each intent, and a mapping error is reported.
func TestRegroup(t *testing.T) {
	qs := []query{
		{Text: "wake me at 7", Intent: "alarm"}, {Text: "set an alarm", Intent: "alarm"}, {Text: "alarm at noon", Intent: "alarm"},
		{Text: "a timer for 5 minutes", Intent: "timer"},
		{Text: "will it rain", Intent: "weather"},
		{Text: "what is my balance", Intent: "balance"},
	}
	cases := []struct {
		name    string
		classes map[string][]string
		keep    int
		want    map[string]int // class -> queries
		err     string
	}{
		{"all", map[string][]string{"alarm": {"alarm", "timer"}, "weather": {"weather"}}, 0, map[string]int{"alarm": 4, "weather": 1}, ""},
		{"keep 1 per intent", map[string][]string{"alarm": {"alarm", "timer"}, "weather": {"weather"}}, 1, map[string]int{"alarm": 2, "weather": 1}, ""},
		{"intent in two classes", map[string][]string{"alarm": {"alarm"}, "clock": {"alarm"}}, 0, nil, "intent alarm in classes"},
		{"unknown intent", map[string][]string{"alarm": {"alarm", "snooze"}}, 0, nil, "intent snooze has no queries"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := regroup(qs, c.classes, c.keep)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := map[string]int{}
			for _, q := range got {
				n[q.Expert]++
				if q.Intent == "balance" {
					t.Errorf("unmapped intent kept: %+v", q)
				}
			}
			if len(n) != len(c.want) {
				t.Errorf("classes %v, want %v", n, c.want)
			}
			for cl, w := range c.want {
				if n[cl] != w {
					t.Errorf("class %s: %d queries, want %d", cl, n[cl], w)
				}
			}
		})
	}
}

// TestWithOutOfScope: only the out-of-scope queries are added, with an
// empty expert, and the result is in hash order whatever came first.
func TestWithOutOfScope(t *testing.T) {
	qs := []query{{Text: "is it sunny", Intent: "weather"}, {Text: "how do i fix a bike", Intent: "oos"}, {Text: "who won the game", Intent: "oos"}}
	cases := []struct {
		name string
		out  []query
	}{
		{"empty", nil},
		{"after a class", []query{{Text: "is it sunny", Expert: "weather", Intent: "weather"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := withOutOfScope(c.out, qs)
			if len(got) != len(c.out)+2 {
				t.Fatalf("%d queries %+v, want %d", len(got), got, len(c.out)+2)
			}
			want := slices.Clone(got)
			sortByHash(want)
			if !slices.Equal(got, want) {
				t.Errorf("not in hash order: %+v", got)
			}
			oos := 0
			for _, q := range got {
				if q.Intent == "oos" {
					oos++
					if q.Expert != "" {
						t.Errorf("out-of-scope query with expert %q", q.Expert)
					}
				}
			}
			if oos != 2 {
				t.Errorf("%d out-of-scope queries, want 2", oos)
			}
		})
	}
}
