package router

// Porter's stemmer (M.F. Porter, "An algorithm for suffix stripping",
// 1980), for lower-case ASCII words: the router adds a feature for each
// word's stem so that "flights", "flying" and "flight" share evidence that
// the hashed n-grams only partly share.

// stem returns the Porter stem of w, a lower-case ASCII word; other words
// and words of up to two letters are returned unchanged.
func stem(w string) string {
	if len(w) <= 2 {
		return w
	}
	for i := range len(w) {
		if w[i] < 'a' || w[i] > 'z' {
			return w
		}
	}
	s := porter{b: []byte(w)}
	s.step1ab()
	s.step1c()
	s.step2()
	s.step3()
	s.step4()
	s.step5()
	return string(s.b)
}

// porter holds the word being stemmed; j marks the end of the stem a
// matched suffix leaves (b[:j]).
type porter struct {
	b []byte
	j int
}

// cons reports whether b[i] is a consonant ('y' is one after a vowel or at
// the start).
func (s *porter) cons(i int) bool {
	switch s.b[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return false
	case 'y':
		return i == 0 || !s.cons(i-1)
	}
	return true
}

// m counts the vowel-consonant sequences of b[:j]: [C](VC)^m[V].
func (s *porter) m() int {
	n, i := 0, 0
	for ; i < s.j && s.cons(i); i++ {
	}
	for i < s.j {
		for ; i < s.j && !s.cons(i); i++ {
		}
		if i >= s.j {
			break
		}
		n++
		for ; i < s.j && s.cons(i); i++ {
		}
	}
	return n
}

// vowelInStem reports whether b[:j] has a vowel.
func (s *porter) vowelInStem() bool {
	for i := range s.j {
		if !s.cons(i) {
			return true
		}
	}
	return false
}

// doubleC reports whether b[i-1:i+1] is a double consonant.
func (s *porter) doubleC(i int) bool {
	return i >= 1 && s.b[i] == s.b[i-1] && s.cons(i)
}

// cvc reports whether b[i-2:i+1] is consonant-vowel-consonant and the last
// is not w, x or y: "hop" (→ "hope" after "hoping").
func (s *porter) cvc(i int) bool {
	if i < 2 || !s.cons(i) || s.cons(i-1) || !s.cons(i-2) {
		return false
	}
	c := s.b[i]
	return c != 'w' && c != 'x' && c != 'y'
}

// ends reports whether the word ends with suf, setting j to where it starts.
func (s *porter) ends(suf string) bool {
	if len(suf) > len(s.b) || string(s.b[len(s.b)-len(suf):]) != suf {
		return false
	}
	s.j = len(s.b) - len(suf)
	return true
}

// setTo replaces the suffix after j by r.
func (s *porter) setTo(r string) {
	s.b = append(s.b[:s.j], r...)
}

// r replaces the suffix by r when the stem has m > 0.
func (s *porter) r(r string) {
	if s.m() > 0 {
		s.setTo(r)
	}
}

func (s *porter) step1ab() {
	if s.b[len(s.b)-1] == 's' {
		switch {
		case s.ends("sses"):
			s.b = s.b[:len(s.b)-2]
		case s.ends("ies"):
			s.setTo("i")
		case len(s.b) >= 2 && s.b[len(s.b)-2] != 's':
			s.b = s.b[:len(s.b)-1]
		}
	}
	if s.ends("eed") {
		if s.m() > 0 {
			s.b = s.b[:len(s.b)-1]
		}
		return
	}
	if !(s.ends("ed") || s.ends("ing")) || !s.vowelInStem() {
		return
	}
	s.b = s.b[:s.j]
	switch {
	case s.ends("at"):
		s.setTo("ate")
	case s.ends("bl"):
		s.setTo("ble")
	case s.ends("iz"):
		s.setTo("ize")
	case s.doubleC(len(s.b) - 1):
		if c := s.b[len(s.b)-1]; c != 'l' && c != 's' && c != 'z' {
			s.b = s.b[:len(s.b)-1]
		}
	default:
		s.j = len(s.b)
		if s.m() == 1 && s.cvc(len(s.b)-1) {
			s.b = append(s.b, 'e')
		}
	}
}

func (s *porter) step1c() {
	if s.ends("y") && s.vowelInStem() {
		s.b[len(s.b)-1] = 'i'
	}
}

// suffixRule replaces a suffix by another when the stem before it has m > 0.
type suffixRule struct{ suf, rep string }

var step2Rules = []suffixRule{
	{"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"}, {"anci", "ance"},
	{"izer", "ize"}, {"bli", "ble"}, {"alli", "al"}, {"entli", "ent"}, {"eli", "e"},
	{"ousli", "ous"}, {"ization", "ize"}, {"ation", "ate"}, {"ator", "ate"},
	{"alism", "al"}, {"iveness", "ive"}, {"fulness", "ful"}, {"ousness", "ous"},
	{"aliti", "al"}, {"iviti", "ive"}, {"biliti", "ble"}, {"logi", "log"},
}

var step3Rules = []suffixRule{
	{"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"}, {"ical", "ic"},
	{"ful", ""}, {"ness", ""},
}

// applyFirst applies the first rule whose suffix the word ends with.
func (s *porter) applyFirst(rules []suffixRule) {
	for _, r := range rules {
		if s.ends(r.suf) {
			s.r(r.rep)
			return
		}
	}
}

func (s *porter) step2() { s.applyFirst(step2Rules) }
func (s *porter) step3() { s.applyFirst(step3Rules) }

var step4Suffixes = []string{
	"al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent",
	"ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize",
}

func (s *porter) step4() {
	for _, suf := range step4Suffixes {
		if !s.ends(suf) {
			continue
		}
		if suf == "ion" && (s.j == 0 || s.b[s.j-1] != 's' && s.b[s.j-1] != 't') {
			return
		}
		if s.m() > 1 {
			s.b = s.b[:s.j]
		}
		return
	}
}

func (s *porter) step5() {
	s.j = len(s.b)
	if s.b[len(s.b)-1] == 'e' {
		s.j--
		if a := s.m(); a > 1 || a == 1 && !s.cvc(len(s.b)-2) {
			s.b = s.b[:len(s.b)-1]
		}
	}
	s.j = len(s.b)
	if s.b[len(s.b)-1] == 'l' && s.doubleC(len(s.b)-1) && s.m() > 1 {
		s.b = s.b[:len(s.b)-1]
	}
}
