package perturb

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestTypos(t *testing.T) {
	const text = "how do i transfer money between my accounts today"
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		n := 1 + int(seed%2)
		got := Typos(rng, text, n)
		a, b := strings.Split(text, " "), strings.Split(got, " ")
		if len(a) != len(b) {
			t.Fatalf("seed %d: %q has %d words, want %d", seed, got, len(b), len(a))
		}
		changed := 0
		for i := range a {
			if a[i] != b[i] {
				changed++
				if len(a[i]) < 4 || a[i][0] != b[i][0] {
					t.Errorf("seed %d: edited %q into %q", seed, a[i], b[i])
				}
			}
		}
		// A swap of two equal letters or a neighbour equal to the letter
		// cannot happen here except for doubled letters; allow n-1.
		if changed > n || changed < n-1 {
			t.Errorf("seed %d: %d words changed in %q, want %d", seed, changed, got, n)
		}
	}
	if got := Typos(rand.New(rand.NewPCG(1, 1)), "a to be", 2); got != "a to be" {
		t.Errorf("short words edited: %q", got)
	}
}

func TestApply(t *testing.T) {
	const q = "what is my credit score"
	tests := []struct {
		kind  string
		check func(string) bool
	}{
		{"", func(s string) bool { return s == q }},
		{"filler", func(s string) bool { return strings.HasSuffix(s, " "+q) && len(s) > len(q)+2 }},
		{"preamble", func(s string) bool {
			return strings.HasSuffix(s, ". "+q) && len(strings.Fields(s)) >= 200+5 && len(strings.Fields(s)) < 240
		}},
		{"typos", func(s string) bool { return s != q && len(strings.Fields(s)) == 5 }},
	}
	for _, tt := range tests {
		rng := rand.New(rand.NewPCG(7, 7))
		got, err := Apply(tt.kind, rng, q)
		if err != nil || !tt.check(got) {
			t.Errorf("Apply(%q) = %q, %v", tt.kind, got, err)
		}
		again, _ := Apply(tt.kind, rand.New(rand.NewPCG(7, 7)), q)
		if again != got {
			t.Errorf("Apply(%q) not deterministic: %q then %q", tt.kind, got, again)
		}
	}
	if _, err := Apply("shouting", nil, q); err == nil || !strings.Contains(err.Error(), "typos") {
		t.Errorf("unknown kind: err %v", err)
	}
}
