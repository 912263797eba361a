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
	// A word longer than a key is never corrected (spellWords skips it),
	// not even after a word of its first maxSpellerWord letters was: its
	// key would be theirs.
	long := "abcdefghijklmnopqrstuvwx" // 24 letters, one edit from the vocabulary's
	s3 := newSpeller(map[string]int32{"abcdefghijklmnopqrstuvwz": 9}, nil)
	if got := s3.correct(long); got != "abcdefghijklmnopqrstuvwz" {
		t.Fatalf("correct(%q) = %q", long, got)
	}
	if got := s3.correct(long + "yz"); got != long+"yz" {
		t.Errorf("correct(%q) = %q, want it unchanged", long+"yz", got)
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
// allocation once it has seen them: neither known nor short unknown
// words, nor long unknown words (their verdicts are memoised; a copy per
// one-letter delete was most of a routed query's allocations), and that
// the memo stays bounded.
func TestSpellerAllocs(t *testing.T) {
	s := newSpeller(vocabulary([]string{"what is my account balance", "how is the weather"}), nil)
	for _, text := range []string{
		"what is my balance",
		"what is my balance qz xk vw",               // short unknown words
		"what is my balance zzyzxqwv plokijuhygtfr", // long unknown words, no candidate
		"what is my acount balance",                 // corrected: the result only (its builder and bytes)
	} {
		want := 0.0
		if s.correct(text) != text {
			want = 2
		}
		if n := testing.AllocsPerRun(20, func() { s.correct(text) }); n != want {
			t.Errorf("correct(%q): %v allocations, want %v", text, n, want)
		}
	}
	for i := range maxMemoWords + 10 {
		w := []byte("zqzq")
		for n := i; n > 0; n /= 26 {
			w = append(w, byte('a'+n%26)) // distinct words of letters only
		}
		s.correct(string(w))
	}
	if n := s.verdicts.len(); n != maxMemoWords {
		t.Errorf("%d verdicts memoised, want at most %d", n, maxMemoWords)
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

// BenchmarkSpellerParallel measures the speller on the sample's val
// queries (their unknown words' verdicts memoised) from every core at
// once: a vocabulary lookup a word, a verdict lookup an unknown one.
func BenchmarkSpellerParallel(b *testing.B) {
	var texts []string
	for _, ex := range clincSample(b, "train") {
		texts = append(texts, ex.Text)
	}
	s := newSpeller(vocabulary(texts), nil)
	texts = texts[:0]
	for _, ex := range clincSample(b, "val") {
		texts = append(texts, ex.Text)
		s.correct(ex.Text)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			s.correct(texts[i%len(texts)])
		}
	})
}
