package router

import "testing"

func TestSpeller(t *testing.T) {
	vocab := vocabulary([]string{
		"what is my account balance", "transfer money to my savings account",
		"book a flight to Paris", "how is the weather", "the weather tomorrow", "pay my credit card bill",
	})
	known := func(w string) bool { return w == "form" || w == "accounts" }
	s := newSpeller(vocab, known)
	tests := []struct{ in, want string }{
		{"what is my acount balance", "what is my account balance"},   // deletion
		{"what is my accuont balance", "what is my account balance"},  // swap
		{"what is my accoubt balance", "what is my account balance"},  // substitution
		{"what is my acccount balance", "what is my account balance"}, // doubling
		{"Transfre Money", "transfer Money"},                          // lower case where corrected
		{"how is the weather", "how is the weather"},                  // nothing to do
		{"my accounts form", "my accounts form"},                      // known words stay
		{"the weather in zzyzx", "the weather in zzyzx"},              // no word one edit away
		{"flight ab12 to paris", "flight ab12 to paris"},              // words with digits stay
		{"my acount, the wether!", "my account, the weather!"},        // punctuation kept
	}
	for _, tt := range tests {
		if got := s.correct(tt.in); got != tt.want {
			t.Errorf("correct(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The closest candidate wins, then one with the same first letter:
	// "nmae" is "name" (a swap), not "make" (two edits).
	s2 := newSpeller(map[string]int32{"name": 1, "make": 50, "month": 20, "mouth": 5, "tie": 30, "vie": 30}, func(w string) bool { return w == "moth" || w == "mout" })
	for in, want := range map[string]string{
		"nmae": "name",
		"moth": "month", // an English word, but one edit from a frequent word
		"mout": "",      // one edit from "mouth", which is not frequent enough
		"tye":  "tie",   // tie and vie are as close and as frequent: the first letter decides
	} {
		if got := s2.word(in); got != want {
			t.Errorf("word(%q) = %q, want %q", in, got, want)
		}
	}
	// The most frequent candidate wins: "the" (3) over "thy" (absent) and
	// "weather" (2) for "weathr".
	if got := s.word("weathr"); got != "weather" {
		t.Errorf("word(weathr) = %q", got)
	}
}

// TestSpellerAllocs checks that words the speller leaves alone cost no
// allocation but a copy of each word of a vocabulary word's length that
// the vocabulary lacks: none for short words, none per one-letter delete
// (a copy each was most of a routed query's allocations).
func TestSpellerAllocs(t *testing.T) {
	s := newSpeller(vocabulary([]string{"what is my account balance", "how is the weather"}), nil)
	one := testing.AllocsPerRun(20, func() { s.correct("what is my balance") })
	tests := []struct {
		text  string
		extra float64
	}{
		{"what is my balance qz xk vw", 0},               // short unknown words
		{"what is my balance zzyzxqwv plokijuhygtfr", 2}, // long unknown words, no candidate
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(20, func() { s.correct(tt.text) }); n != one+tt.extra {
			t.Errorf("correct(%q): %v allocations, want %v", tt.text, n, one+tt.extra)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"name", "name", 0}, {"name", "nmae", 1}, {"name", "nam", 1}, {"name", "names", 1},
		{"name", "nome", 1}, {"name", "make", 2}, {"", "abc", 3}, {"abc", "", 3}, {"ca", "abc", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func BenchmarkSpellerTypo(b *testing.B) {
	train := clincSample(b, "train")
	var texts []string
	for _, ex := range train {
		texts = append(texts, ex.Text)
	}
	s := newSpeller(vocabulary(texts), nil)
	for b.Loop() {
		s.correct("how do i chnage the oil in my car")
	}
}
