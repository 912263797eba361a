// Package perturb rewrites queries the way real traffic differs from an
// expert's tidy examples: typos, filler words before the request, and a
// long pasted preamble before the question. Router evaluations apply it to
// test queries; every function is deterministic given its random source.
package perturb

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// Kinds are the perturbations Apply knows.
var Kinds = []string{"typos", "filler", "preamble"}

// Apply rewrites text with the perturbation kind ("" leaves it unchanged).
func Apply(kind string, rng *rand.Rand, text string) (string, error) {
	switch kind {
	case "":
		return text, nil
	case "typos":
		return Typos(rng, text, 1+rng.IntN(2)), nil
	case "filler":
		return Filler(rng, text), nil
	case "preamble":
		return Preamble(rng, text, 200), nil
	}
	return "", fmt.Errorf("perturb: unknown perturbation %q (want one of %s)", kind, strings.Join(Kinds, ", "))
}

// neighbours are the keys next to each letter on a QWERTY keyboard: most
// substitution typos hit one of them.
var neighbours = map[byte]string{
	'a': "qwsz", 'b': "vghn", 'c': "xdfv", 'd': "serfcx", 'e': "wsdr", 'f': "drtgvc",
	'g': "ftyhbv", 'h': "gyujnb", 'i': "ujko", 'j': "huikmn", 'k': "jiolm", 'l': "kop",
	'm': "njk", 'n': "bhjm", 'o': "iklp", 'p': "ol", 'q': "wa", 'r': "edft", 's': "awedxz",
	't': "rfgy", 'u': "yhji", 'v': "cfgb", 'w': "qase", 'x': "zsdc", 'y': "tghu", 'z': "asx",
}

// Typos makes n single-character edits (swap of two adjacent letters,
// deletion, doubling, or a neighbouring key) in distinct words of at least
// four ASCII letters; text without such words is returned unchanged.
func Typos(rng *rand.Rand, text string, n int) string {
	words := strings.Split(text, " ")
	var cand []int
	for i, w := range words {
		if len(w) >= 4 && utf8.RuneCountInString(w) == len(w) && isLetters(w) {
			cand = append(cand, i)
		}
	}
	rng.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	for _, i := range cand[:min(n, len(cand))] {
		words[i] = typo(rng, words[i])
	}
	return strings.Join(words, " ")
}

func isLetters(w string) bool {
	for i := range len(w) {
		if c := w[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// typo edits one letter of w, never the first (people rarely miss it).
func typo(rng *rand.Rand, w string) string {
	b := []byte(w)
	i := 1 + rng.IntN(len(b)-1)
	switch rng.IntN(4) {
	case 0: // swap with the next letter, or the previous one at the end
		if i+1 < len(b) {
			b[i], b[i+1] = b[i+1], b[i]
		} else {
			b[i-1], b[i] = b[i], b[i-1]
		}
	case 1: // drop
		b = append(b[:i], b[i+1:]...)
	case 2: // double
		b = append(b[:i+1], b[i:]...)
	default: // neighbouring key
		if ns := neighbours[b[i]|0x20]; ns != "" {
			b[i] = ns[rng.IntN(len(ns))]
		} else {
			b = append(b[:i], b[i+1:]...)
		}
	}
	return string(b)
}

// followUps are turns that only make sense in their conversation: the
// topic is in the earlier turns.
var followUps = []string{
	"and tomorrow?",
	"what about next week?",
	"and for my wife?",
	"ok, do it again",
	"how about the other one?",
	"same question for saturday",
	"can you check again?",
	"and what about last month?",
	"are you sure?",
	"and in the evening?",
	"ok and the second one?",
	"what if it's more than that?",
	"can you explain that a bit more",
	"hmm, and after that?",
}

// FollowUp returns a follow-up turn that carries no topic of its own.
func FollowUp(rng *rand.Rand) string {
	return followUps[rng.IntN(len(followUps))]
}

// fillers are openings people type before the request itself.
var fillers = []string{
	"hey could you please tell me ",
	"hi there, quick question: ",
	"um so i was wondering ",
	"hello! i need some help. ",
	"ok so basically ",
	"good morning, can you help me with something? ",
	"sorry to bother you but ",
	"i have a question, ",
	"please help, ",
	"hey assistant, ",
	"so, uh, ",
	"yo, ",
	"excuse me, ",
	"can you do me a favour and tell me ",
	"real quick: ",
	"thanks in advance! ",
}

// Filler puts a filler opening before text.
func Filler(rng *rand.Rand, text string) string {
	return fillers[rng.IntN(len(fillers))] + text
}

// preambleSentences are the bulk of a pasted context: things people write
// before the question that carry no routing evidence of their own. They
// are written for this package.
var preambleSentences = []string{
	"I have been thinking about this for a while now and wanted to get a second opinion.",
	"Last week was really busy with family visiting and a lot of errands to run.",
	"My manager sent a long email this morning and I am still going through it.",
	"We had a team meeting where everyone talked about plans for the next quarter.",
	"The weather has been strange lately, warm one day and cold the next.",
	"I am writing this on my phone so please excuse any mistakes.",
	"A friend of mine recommended that I just ask directly instead of searching forever.",
	"There is a lot going on in my life right now and I am trying to stay organised.",
	"Yesterday I spent most of the afternoon cleaning up old notes and documents.",
	"I read an interesting article about productivity and how small habits add up.",
	"My neighbour has been renovating the house next door and it is very noisy.",
	"The kids are back at school so the mornings are finally a bit quieter.",
	"I tried to figure this out on my own but got confused by all the options.",
	"Our project deadline moved up by two weeks, which nobody was happy about.",
	"I usually keep a to-do list but this time I forgot to write things down.",
	"Here is some background so you understand where I am coming from.",
	"This might be a simple thing but I honestly do not know the answer.",
	"I copied the notes from our discussion below in case they are useful.",
	"The conference last month had some good talks and a lot of long breaks.",
	"Sometimes it feels like there are not enough hours in the day.",
	"I have been using this assistant for a few weeks and it has been helpful.",
	"My sister says I overthink everything, and she may well be right.",
	"The coffee machine at the office broke again, so everyone is a little grumpy.",
	"We are planning a small get-together at the end of the month.",
	"I went for a long walk this morning to clear my head before starting.",
	"A colleague asked me the same thing and I could not give a good answer.",
	"Please read the whole message, the important part is at the end.",
	"I know this is a lot of text, thanks for bearing with me.",
	"Things have calmed down a bit since the holidays ended.",
	"I prefer short answers, but a little explanation would not hurt.",
	"The new software update changed a few menus and I am still getting used to it.",
	"Our book club picked a very long novel this time and I am behind.",
	"It has been raining all week, so most of my plans were cancelled.",
	"I spoke to a few people about this and everyone had a different opinion.",
	"My schedule is packed, so I want to sort this out quickly.",
	"Anyway, enough about my week, let me get to the point.",
}

// Preamble puts about words words of unrelated context (whole sentences)
// before text, as in a long message whose question comes last.
func Preamble(rng *rand.Rand, text string, words int) string {
	var b strings.Builder
	for n := 0; n < words; {
		s := preambleSentences[rng.IntN(len(preambleSentences))]
		b.WriteString(s)
		b.WriteByte(' ')
		n += strings.Count(s, " ") + 1
	}
	b.WriteString(text)
	return b.String()
}
