package router

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/moegate/moegate/internal/vec"
	"github.com/moegate/moegate/router/perturb"
)

func TestSegments(t *testing.T) {
	short := "how do i transfer money. and what is my balance?"
	if s := segments(short); s != nil {
		t.Errorf("short text segmented: %v", s)
	}
	long := "First sentence here. " + strings.Repeat("Filler words go on and on. ", 12) +
		"Is this a question? More filler here. Last one which is long " + strings.Repeat("word ", 80)
	segs := segments(long)
	if len(segs) != 4 {
		t.Fatalf("%d segments: %+v", len(segs), segs)
	}
	want := []struct {
		prefix string
		weight float64
	}{
		{"First sentence", 0.5},
		{"Is this a question?", 2},
		{"More filler", 1},
		{"word word", 2},
	}
	for i, w := range want {
		if !strings.HasPrefix(strings.TrimSpace(segs[i].text), w.prefix) || segs[i].weight != w.weight {
			t.Errorf("segment %d = %q (%v), want prefix %q (%v)", i, segs[i].text, segs[i].weight, w.prefix, w.weight)
		}
	}
	if n := countWords(segs[3].text, 1000); n != segmentWords {
		t.Errorf("last segment of %d words, want %d", n, segmentWords)
	}
	// Bounded work: a huge text still yields at most 1+3+2+1 segments.
	huge := strings.Repeat("Why is this? ", 5000)
	if n := len(segments(huge)); n > 7 {
		t.Errorf("%d segments of a huge text", n)
	}
}

func TestWords(t *testing.T) {
	tests := []struct {
		s     string
		n     int
		last2 string
	}{
		{"", 0, ""},
		{"one", 1, "one"},
		{"  one  two\tthree\n", 3, "two\tthree\n"},
	}
	for _, tt := range tests {
		if got := countWords(tt.s, 100); got != tt.n {
			t.Errorf("countWords(%q) = %d, want %d", tt.s, got, tt.n)
		}
		if got := lastWords(tt.s, 2); strings.TrimSpace(got) != strings.TrimSpace(tt.last2) {
			t.Errorf("lastWords(%q, 2) = %q, want %q", tt.s, got, tt.last2)
		}
	}
	if got := countWords("a b c d e f", 3); got != 3 {
		t.Errorf("countWords stops at its limit: %d", got)
	}
}

func TestAddSparse(t *testing.T) {
	a := sparse{idx: []int32{1, 3}, val: []float32{1, 1}}
	b := sparse{idx: []int32{0, 3, 5}, val: []float32{2, 2, 2}}
	got := addSparse(a, b, 0.5)
	want := []float32{1, 1, 2, 1} // at 0, 1, 3, 5 before normalisation
	if len(got.idx) != 4 || got.idx[0] != 0 || got.idx[1] != 1 || got.idx[2] != 3 || got.idx[3] != 5 {
		t.Fatalf("indices %v", got.idx)
	}
	norm := math.Sqrt(1 + 1 + 4 + 1)
	for k, w := range want {
		if math.Abs(float64(got.val[k])-float64(w)/norm) > 1e-6 {
			t.Errorf("value %d = %v, want %v", k, got.val[k], float64(w)/norm)
		}
	}
}

// TestAddSparseFew checks that adding a much shorter vector, whose
// entries are found by binary search (addFew), gives the sums coordinate
// by coordinate, bit for bit: entries before, between, after and on a's.
func TestAddSparseFew(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	randSparse := func(n, dim int) sparse {
		var x sparse
		for i := range int32(dim) {
			if r.IntN(dim) < n {
				x.idx = append(x.idx, i)
				x.val = append(x.val, r.Float32()*2-1)
			}
		}
		return x
	}
	tests := []struct{ na, nb, dim int }{
		{0, 0, 10}, {8, 1, 10}, {200, 3, 400}, {300, 30, 1000}, {500, 60, 600}, {800, 40, 900},
	}
	for _, tt := range tests {
		a, b := randSparse(tt.na, tt.dim), randSparse(tt.nb, tt.dim)
		if len(b.idx)*fewShare > len(a.idx) {
			continue // the entry-by-entry merge
		}
		got := addSparse(a, b, 0.3)
		var want sparse // a + 0.3·b coordinate by coordinate
		for i := range int32(tt.dim) {
			ka, ina := slices.BinarySearch(a.idx, i)
			kb, inb := slices.BinarySearch(b.idx, i)
			var v float32
			switch {
			case ina && inb:
				v = a.val[ka] + float32(0.3*b.val[kb])
			case ina:
				v = a.val[ka]
			case inb:
				v = float32(0.3 * b.val[kb])
			default:
				continue
			}
			want.idx, want.val = append(want.idx, i), append(want.val, v)
		}
		vec.Normalize(want.val)
		if !slices.Equal(got.idx, want.idx) || !slices.Equal(got.val, want.val) {
			t.Errorf("%d + %d entries below %d: got %v %v, want %v %v", len(a.idx), len(b.idx), tt.dim, got.idx, got.val, want.idx, want.val)
		}
	}
}

// TestLongAndConversation routes a question after a long preamble, a
// follow-up without a topic of its own, and a change of topic, with a
// model trained on the CLINC150 sample.
func TestLongAndConversation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	train := clincSample(t, "train")
	l := NewLearned(features(), Options{})
	m, err := l.Train(ctx, train)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Install(m); err != nil {
		t.Fatal(err)
	}
	route := func(q Query) string {
		t.Helper()
		q.Candidates = m.InScope()
		d, err := l.Route(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if d.Default {
			return "default"
		}
		return d.Experts[0].Name
	}
	rng := rand.New(rand.NewPCG(3, 3))
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"question after 2,000 words", Query{Text: perturb.Preamble(rng, "how do i say thank you in italian?", 2000)}, "travel"},
		{"question after 200 words", Query{Text: perturb.Preamble(rng, "my credit card was declined, why?", 200)}, "credit_cards"},
		{"follow-up alone", Query{Text: "and the other one?"}, ""},
		{"follow-up in a travel conversation", Query{Text: "and the other one?", History: []string{"book me a flight from boston to denver"}}, "travel"},
		{"follow-up in a banking conversation", Query{Text: "and the other one?", History: []string{"what is the balance of my checking account"}}, "banking"},
		{"follow-up under a banking system prompt", Query{Text: "and the other one?", System: "You are the assistant of a bank: checking and savings accounts, transfers, balances."}, "banking"},
		{"new topic wins", Query{Text: "how many calories are in a slice of pizza", History: []string{"book me a flight from boston to denver"}}, "kitchen_and_dining"},
	}
	for _, tt := range tests {
		got := route(tt.q)
		if tt.name == "follow-up alone" {
			// The control: the follow-up alone goes anywhere but travel
			// or banking, so the conversation is what routes it above.
			if got == "travel" || got == "banking" {
				t.Errorf("%s: routed to %s without a conversation", tt.name, got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("%s: routed to %s, want %s", tt.name, got, tt.want)
		}
	}
}
