package router

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/moegate/moegate/router/negatives"
)

func TestQuantile(t *testing.T) {
	tests := []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{[]float64{3, 1, 2}, 0, 1},
		{[]float64{3, 1, 2}, 1, 3},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{0, 10}, 0.25, 2.5},
		{[]float64{7}, 0.3, 7},
	}
	for _, tt := range tests {
		if got := quantile(tt.xs, tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("quantile(%v, %v) = %v, want %v", tt.xs, tt.q, got, tt.want)
		}
	}
}

func TestCalibrate(t *testing.T) {
	// 100 held-out in-scope examples over experts 0 and 1 and class 2 out
	// of scope: P(in scope) i/100, best expert 0.2 + i/200.
	var held [][]float64
	for i := range 100 {
		in := float64(i+1) / 100
		held = append(held, []float64{in * 0.8, in * 0.2, 1 - in})
	}
	o := TrainOptions{TargetCoverage: 0.9}.withDefaults()
	best, in := calibrate(held, nil, 2, o)
	passed := 0
	for _, p := range held {
		if bestExpert(p, 2) >= best && versusNull(p, 2) >= in {
			passed++
		}
	}
	if passed < 89 || passed > 91 {
		t.Errorf("thresholds %.3f, %.3f pass %d of 100, want 90", best, in, passed)
	}
	if best > o.FallbackThreshold {
		t.Errorf("best-expert threshold %.3f above the fallback", best)
	}
	// Without the out-of-scope class: the best expert's 10% quantile.
	var two [][]float64
	for i := range 100 {
		two = append(two, []float64{float64(i) / 100, 1 - float64(i)/100})
	}
	if best, in := calibrate(two, nil, -1, o); math.Abs(best-0.545) > 0.01 || in != 0 {
		t.Errorf("without out-of-scope class: %v, %v, want 0.545, 0", best, in)
	}
}

func TestKFold(t *testing.T) {
	d := &dataset{y: []int{0, 0, 0, 0, 1, 1, 1, 1, 1, 2}}
	splits := kFold(d, 3, 4, 1)
	seen := make([]int, len(d.y))
	for _, sp := range splits {
		if len(sp[0])+len(sp[1]) != len(d.y) {
			t.Fatalf("split %v does not partition %d examples", sp, len(d.y))
		}
		for _, i := range sp[1] {
			seen[i]++
		}
		if len(sp[1]) < 2 || len(sp[1]) > 3 {
			t.Errorf("fold of %d examples, want 2 or 3", len(sp[1]))
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("example %d held out %d times", i, n)
		}
	}
}

func TestClassBalance(t *testing.T) {
	exs := []Example{{Expert: "a"}, {Expert: OutOfScope}}
	for range 99 {
		exs = append(exs, Example{Expert: "b"})
	}
	w := classBalance(exs, map[string]int{"a": 0, "b": 1, OutOfScope: 2})
	// Mean in-scope count 50: a weighs sqrt(50), b sqrt(50/99); their
	// total losses are then in ratio sqrt(1/99), not 1/99.
	if math.Abs(w[0]-math.Sqrt(50)) > 1e-9 || math.Abs(w[1]-math.Sqrt(50.0/99)) > 1e-9 || w[2] != 1 {
		t.Errorf("weights %v", w)
	}
}

// TestGenericNegatives checks the null expert learnt from the shipped
// negatives: a model trained without out-of-scope examples gets an
// out-of-scope class, drops the negatives that resemble an expert's data,
// and sends general-knowledge queries to the default expert while routing
// the experts' own.
func TestGenericNegatives(t *testing.T) {
	t.Parallel()
	emb := features()
	ctx := context.Background()
	train := clincSample(t, "train")
	var in []Example
	for _, ex := range train {
		if ex.Expert != OutOfScope {
			in = append(in, ex)
		}
	}
	// An expert whose examples are some of the negatives: those must go.
	gen := negatives.Generic()
	for _, q := range gen[:20] {
		in = append(in, Example{Text: q, Expert: "trivia"})
	}
	m, err := Train(ctx, emb, in, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.OOSClass < 0 || m.Negatives == 0 || m.Negatives > len(gen)-20 {
		t.Fatalf("out-of-scope class %d with %d negatives of %d (20 are an expert's examples)", m.OOSClass, m.Negatives, len(gen))
	}
	l := NewLearned(emb, Options{})
	if err := l.Install(m); err != nil {
		t.Fatal(err)
	}
	route := func(text string) Decision {
		d, err := l.Route(ctx, Query{Text: text, Candidates: m.InScope()})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, q := range []string{"who was the first president of france", "how do i repot an orchid"} {
		if d := route(q); !d.Default {
			t.Errorf("%q routed to %v, want the default expert", q, d.Experts)
		}
	}
	if d := route("transfer 100 dollars from checking to savings"); d.Default || d.Experts[0].Name != "banking" {
		t.Errorf("banking query: %+v", d)
	}
	if d := route(gen[3]); d.Default || d.Experts[0].Name != "trivia" {
		t.Errorf("trivia expert's own example: %+v", d)
	}

	// One epoch: only the model's shape is checked.
	noNeg, err := Train(ctx, emb, in, TrainOptions{NoNegatives: true, Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if noNeg.OOSClass >= 0 || noNeg.Negatives != 0 {
		t.Errorf("NoNegatives: out-of-scope class %d, %d negatives", noNeg.OOSClass, noNeg.Negatives)
	}
}

func TestAugment(t *testing.T) {
	var exs []Example
	for i := range 10 {
		exs = append(exs, Example{Text: fmt.Sprintf("please transfer money number %d now", i), Expert: "bank", Retrieve: i == 0})
	}
	exs = append(exs, Example{Text: "who won the cup", Expert: OutOfScope})
	out, src := augment(exs, TrainOptions{Augment: 4, Seed: 1})
	if len(out) != 15 || len(src) != 15 {
		t.Fatalf("%d examples, %d sources, want 15", len(out), len(src))
	}
	for i := range exs {
		if src[i] != i || out[i].Text != exs[i].Text {
			t.Errorf("original %d changed: %q (source %d)", i, out[i].Text, src[i])
		}
	}
	for i := len(exs); i < len(out); i++ {
		orig := exs[src[i]]
		if orig.Expert != "bank" || out[i].Expert != "bank" || out[i].Weight != 0.5 || out[i].Text == orig.Text || out[i].Retrieve != orig.Retrieve {
			t.Errorf("copy %d = %+v of %+v", i, out[i], orig)
		}
	}
	if out, _ := augment(exs, TrainOptions{Augment: -1}); len(out) != len(exs) {
		t.Errorf("Augment -1 made %d examples", len(out))
	}

	// Calibration never sees a copy, nor trains on the copy of a held-out
	// example.
	d := &dataset{src: []int{0, 1, 2, 0, 2}}
	got := withoutCopies(d, [2][]int{{1, 2, 3, 4}, {0}})
	if fmt.Sprint(got) != "[[1 2 4] [0]]" {
		t.Errorf("split %v, want [[1 2 4] [0]]", got)
	}
	got = withoutCopies(d, [2][]int{{0, 1}, {2, 3, 4}})
	if fmt.Sprint(got) != "[[0 1] [2]]" {
		t.Errorf("split %v, want [[0 1] [2]]", got)
	}
}

// TestCalibrateByHeldOutOOS: when held-out out-of-scope queries look in
// scope (1 − P(out of scope) high) but spread over the experts (best
// expert low), the best expert's test takes the share left out.
func TestCalibrateByHeldOutOOS(t *testing.T) {
	// Experts 0-2, class 3 out of scope. In scope: P(in scope) 0.5..1 and
	// the best expert's share of it 0.4..0.9, independently.
	var held, oos [][]float64
	for i := range 100 {
		in, f := 0.5+float64(i)/200, 0.4+0.5*float64(i*37%100)/100
		held = append(held, []float64{in * f, in * (1 - f) / 2, in * (1 - f) / 2, 1 - in})
	}
	for range 10 {
		oos = append(oos, []float64{0.27, 0.27, 0.27, 0.19}) // confidently "in scope", no expert stands out
	}
	o := TrainOptions{TargetCoverage: 0.9}.withDefaults()
	best, in := calibrate(held, oos, 3, o)
	caught := 0
	for _, p := range oos {
		if bestExpert(p, 3) < best || versusNull(p, 3) < in {
			caught++
		}
	}
	passed := 0
	for _, p := range held {
		if bestExpert(p, 3) >= best && versusNull(p, 3) >= in {
			passed++
		}
	}
	if caught != len(oos) || passed < 88 || passed > 92 {
		t.Errorf("thresholds %.3f, %.3f catch %d of %d held-out out-of-scope queries and pass %d of 100 in scope, want all and 90", best, in, caught, len(oos), passed)
	}
	if b0, _ := calibrate(held, nil, 3, o); b0 >= best {
		t.Errorf("best-expert threshold %.3f without held-out out-of-scope queries, %.3f with them: want it raised", b0, best)
	}
}

// TestLowerCoverage: a few-shot model's target coverage falls towards
// FewShotCoverage only when held-out out-of-scope queries say it pays.
func TestLowerCoverage(t *testing.T) {
	// Experts 0 and 1, class 2 out of scope; P(in scope) i/100.
	var held [][]float64
	for i := range 100 {
		in := float64(i+1) / 100
		held = append(held, []float64{in * 0.8, in * 0.2, 1 - in})
	}
	oosAt := func(in float64) [][]float64 { return [][]float64{{in * 0.8, in * 0.2, 1 - in}} }
	o := TrainOptions{}.withDefaults()
	low := o.TargetCoverage - (o.TargetCoverage-o.FewShotCoverage)*math.Exp(-10/o.CoverageExamples)
	tests := []struct {
		name      string
		heldOOS   [][]float64
		perExpert float64
		want      float64
	}{
		{"caught only below the default target", oosAt(0.045), 10, low},
		{"caught by neither", oosAt(0.5), 10, o.TargetCoverage},
		{"caught by both", oosAt(0.01), 10, o.TargetCoverage},
		{"no held-out out-of-scope queries", nil, 10, o.TargetCoverage},
		{"full data", oosAt(0.045), 1500, o.TargetCoverage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lowerCoverage(held, tt.heldOOS, 2, tt.perExpert, o)
			if math.Abs(got-tt.want) > 1e-6 {
				t.Errorf("target %.4f, want %.4f", got, tt.want)
			}
		})
	}
}

// TestExamplesPerExpert: noisy copies, description phrases and out-of-scope
// examples do not make an expert look better known than its example
// queries do.
func TestExamplesPerExpert(t *testing.T) {
	var examples []Example
	for range 10 {
		examples = append(examples, Example{Text: "what is my balance", Expert: "banking"})
	}
	examples = append(examples, Example{Text: "pay a bill", Expert: "utility"}, Example{Text: "weather", Expert: "utility"})
	examples = append(examples, Example{Text: "tell me a poem", Expert: OutOfScope})
	examples = append(examples, DescriptionExamples("banking", "Bank accounts: balances, transfers, bills.")...)
	copies, src := augment(examples, TrainOptions{Augment: 100, Seed: 1})
	if len(copies) == len(examples) {
		t.Fatal("augment made no copies; the test needs some")
	}
	if got := examplesPerExpert(copies, src, 2); got != 6 {
		t.Errorf("examples per expert %v, want 6 (12 example queries of 2 experts)", got)
	}
}
