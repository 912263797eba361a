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
	// The most frequent candidate wins: "the" (3) over "thy" (absent) and
	// "weather" (2) for "weathr".
	if got := s.word("weathr"); got != "weather" {
		t.Errorf("word(weathr) = %q", got)
	}
}

func BenchmarkSpellerTypo(b *testing.B) {
	train, err := ReadExamplesFile("testdata/clinc_train.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	var texts []string
	for _, ex := range train {
		texts = append(texts, ex.Text)
	}
	s := newSpeller(vocabulary(texts), nil)
	for b.Loop() {
		s.correct("how do i chnage the oil in my car")
	}
}
