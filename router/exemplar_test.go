package router

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/moegate/moegate/embed"
)

// best writes into s each class's best cosine between x and its exemplars
// (x and exemplars L2-normalised; 0 for a class without exemplars), as
// the scorer computes them, here beside a gate of zeros.
func (ix *exemplarIndex) best(x sparse, s []float64) {
	g := &Linear{Classes: ix.n, Dim: 64 * len(ix.rows.words), W: make([]float32, 64*len(ix.rows.words)*ix.n), B: make([]float32, ix.n)}
	sc := &scorer{gate: packLinear(g), ex: ix}
	sc.joinRows(g.Dim)
	sc.scores(x, make([]float64, ix.n), s)
}

func TestExemplarIndexBest(t *testing.T) {
	xs := []sparse{
		{idx: []int32{1, 3}, val: []float32{0.6, 0.8}},
		{idx: []int32{2}, val: []float32{1}},
		{idx: []int32{1}, val: []float32{1}},
	}
	ix := newExemplarIndex(xs, []int{0, 1, 1}, 3, 8)
	s := make([]float64, 3)
	ix.best(sparse{idx: []int32{1, 2}, val: []float32{0.8, 0.6}}, s)
	want := []float64{0.48, 0.8, 0} // class 1: max(0.6, 0.8); class 2 has no exemplar
	for c := range want {
		if math.Abs(s[c]-want[c]) > 1e-6 {
			t.Errorf("best = %v, want %v", s, want)
			break
		}
	}
}

// The index's best cosines are those of the plain dot products, bit for
// bit, summed in the query's feature order, whether a feature's row is
// dense (common to many exemplars) or postings (rare), whether the dot
// products fit on the stack (smallIndex) or not, and whether the dense
// rows are padded to the vector block or not.
func TestExemplarIndexExact(t *testing.T) {
	for _, n := range []int{140, smallIndex, smallIndex + 201} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { testExemplarIndexExact(t, n) })
	}
}

func testExemplarIndexExact(t *testing.T, n int) {
	r := rand.New(rand.NewPCG(3, 4))
	const dim, classes = 512, 7
	xs, ys := make([]sparse, n), make([]int, n)
	for e := range xs {
		ys[e] = r.IntN(classes - 1) // the last class has no exemplar
		for f := int32(0); f < dim; f++ {
			// Features below 32 are in most exemplars, the rest in few.
			if f < 32 && r.IntN(3) > 0 || r.IntN(40) == 0 {
				xs[e].idx = append(xs[e].idx, f)
				xs[e].val = append(xs[e].val, float32(r.NormFloat64()))
			}
		}
	}
	ix := newExemplarIndex(xs, ys, classes, dim)
	if d := len(ix.dmat) / ix.stride; d == 0 || d == ix.rows.n {
		t.Fatalf("%d dense rows of %d: both kinds must be tested", d, ix.rows.n)
	}
	got := make([]float64, classes)
	for range 200 {
		var q sparse
		for f := int32(0); f < dim+8; f++ { // some features no exemplar has
			if r.IntN(8) == 0 {
				q.idx = append(q.idx, f)
				q.val = append(q.val, float32(r.NormFloat64()))
			}
		}
		want := make([]float64, classes)
		for e, x := range xs {
			var dot float32
			for k, f := range q.idx {
				if j := slices.Index(x.idx, f); j >= 0 {
					dot += q.val[k] * x.val[j]
				}
			}
			want[ys[e]] = max(want[ys[e]], float64(dot))
		}
		ix.best(q, got)
		for c := range want {
			if math.Float64bits(got[c]) != math.Float64bits(want[c]) {
				t.Fatalf("class %d: index %v, plain %v", c, got[c], want[c])
			}
		}
	}
}

func TestExemplarWeights(t *testing.T) {
	w := exemplarWeights([]int{0, 3, 1000, 5}, 3, 1, 3)
	if w[0] != 1 || math.Abs(w[1]-math.Exp(-1)) > 1e-12 || w[2] > minExemplarWeight || w[3] != -1 {
		t.Errorf("weights %v", w)
	}
}

func TestDescriptionExamples(t *testing.T) {
	got := DescriptionExamples("kitchen_and_dining", "Cooking: recipes, cooking times (and more).")
	want := []string{"Cooking: recipes, cooking times (and more).", "kitchen and dining", "Cooking", "recipes", "cooking times", "and more"}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, ex := range got {
		if ex.Text != want[i] || ex.Expert != "kitchen_and_dining" || !ex.Description {
			t.Errorf("example %d = %+v, want text %q", i, ex, want[i])
		}
	}
}

// TestDescriptionOnlyExpert: an expert known by its description alone
// receives its queries by exemplar scores; without them the gate, which
// saw its few phrases next to the other experts' hundreds of examples,
// gives it few.
func TestDescriptionOnlyExpert(t *testing.T) {
	t.Parallel()
	train := clincSample(t, "train")
	test := clincSample(t, "val")
	b, err := os.ReadFile("../examples/data/clinc150/descriptions.json")
	if err != nil {
		t.Fatal(err)
	}
	var descs map[string]string
	if err := json.Unmarshal(b, &descs); err != nil {
		t.Fatal(err)
	}
	emb := NewLexical(embed.NewLocal(LocalFeatureDim), LexicalOptions{})
	exp := Experiment{Descriptions: descs, DescribeOnly: []string{"banking"}, NoOOSTrain: true}
	routed := func(weight float64) float64 {
		res, err := exp.Run(context.Background(), emb, train, test, Options{Train: TrainOptions{ExemplarWeight: weight}})
		if err != nil {
			t.Fatal(err)
		}
		return res.ExpertRouted["banking"]
	}
	with, without := routed(0), routed(-1)
	t.Logf("banking queries routed to banking: %.2f with exemplars, %.2f without", with, without)
	if with < 0.25 || with < without+0.1 {
		t.Errorf("description-only expert gets %.2f of its queries with exemplars (%.2f without), want >= 0.25 and 0.1 more", with, without)
	}
}

// TestExemplarTemp: a model whose experts all have examples gets the
// softer default temperature; one with an expert known by its
// description alone gets sparseExemplarTemp, or a lower one asked for.
func TestExemplarTemp(t *testing.T) {
	t.Parallel()
	examples := fourEach()
	described := append(slices.Clone(examples), DescriptionExamples("cooking", "Cooking: recipes, ingredients, baking, dinner ideas")...)
	emb := NewLexical(embed.NewLocal(LocalFeatureDim), LexicalOptions{})
	for _, c := range []struct {
		name     string
		examples []Example
		temp     float64 // TrainOptions.ExemplarTemp
		want     float64
	}{
		{"experts with examples", examples, 0, 0.2},
		{"an expert known by its description", described, 0, sparseExemplarTemp},
		{"lower than the cap, asked for", described, 0.02, 0.02},
		{"higher, asked for, capped", described, 0.5, sparseExemplarTemp},
	} {
		m, err := NewLearned(emb, Options{Train: TrainOptions{ExemplarTemp: c.temp}}).Train(context.Background(), c.examples)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Exemplars) == 0 || m.ExemplarTemp != c.want {
			t.Errorf("%s: %d exemplars at temperature %v, want some at %v", c.name, len(m.Exemplars), m.ExemplarTemp, c.want)
		}
	}
}

// TestExemplarsSurviveSaveLoad: a loaded model embeds its exemplars
// again and routes as the trained one.
func TestExemplarsSurviveSaveLoad(t *testing.T) {
	t.Parallel()
	exs := append(fourEach(), DescriptionExamples("cooking", "Cooking: recipes, ingredients, baking, dinner ideas")...)
	emb := NewLexical(embed.NewLocal(LocalFeatureDim), LexicalOptions{})
	l := NewLearned(emb, Options{})
	m, err := l.Train(context.Background(), exs)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Exemplars) == 0 || len(m.Vocabulary) == 0 {
		t.Fatalf("model without exemplars (%d) or vocabulary (%d)", len(m.Exemplars), len(m.Vocabulary))
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	l2 := NewLearned(emb, Options{})
	if err := l.Install(m); err != nil {
		t.Fatal(err)
	}
	if err := l2.Install(loaded); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"a recipe for baking bread", "whats my balanse", "flights to rome"} {
		q1 := Query{Text: q, Candidates: m.InScope()}
		d1, err1 := l.Route(context.Background(), q1)
		d2, err2 := l2.Route(context.Background(), q1)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		for _, e := range d1.Probabilities {
			if p2, _ := d2.Probabilities.Get(e.Name); math.Abs(e.P-p2) > 1e-5 {
				t.Errorf("%q: P(%s) %.4f trained, %.4f loaded", q, e.Name, e.P, p2)
			}
		}
		if len(d1.Experts) == 0 || q == "a recipe for baking bread" && d1.Experts[0].Name != "cooking" {
			t.Errorf("%q routed to %+v, want cooking (its description's expert)", q, d1.Experts)
		}
	}
}

// TestPickExemplars: every expert keeps at most as many exemplars as the
// fewest an expert known almost by its description alone has (64
// otherwise), never a noisy copy nor an
// out-of-scope example.
func TestPickExemplars(t *testing.T) {
	// Class 0: 3 examples, class 1: 100, class 2: 40, class 3 out of scope.
	data := &dataset{}
	add := func(y, n int) {
		for range n {
			data.src = append(data.src, len(data.y))
			data.y = append(data.y, y)
		}
	}
	add(0, 3)
	add(1, 100)
	add(2, 40)
	add(3, 20)
	data.src = append(data.src, 0) // a noisy copy of example 0
	data.y = append(data.y, 0)
	all := make([]int, len(data.y))
	for i := range all {
		all[i] = i
	}
	tests := []struct {
		name    string
		weights []float64
		want    []int // exemplars per class
	}{
		{"no weight counts", []float64{0, 0, 0, -1}, []int{0, 0, 0, 0}},
		{"a 3-example expert", []float64{0.6, 0, 0, -1}, []int{3, 3, 3, 0}},
		{"a 3-example expert of small weight", []float64{0.2, 0, 0, -1}, []int{3, 64, 40, 0}},
		{"only the 40-example expert", []float64{0, 0, 0.5, -1}, []int{3, 40, 40, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make([]int, 4)
			for _, i := range pickExemplars(data, all, 3, tt.weights) {
				if data.src[i] != i {
					t.Errorf("noisy copy %d picked", i)
				}
				got[data.y[i]]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("exemplars per class %v, want %v", got, tt.want)
			}
		})
	}
}

// The scorer's single pass gives the gate's probabilities and the
// index's best cosines bit for bit, for features the gate has, the
// exemplars have, both or neither, with few exemplars and more than fit
// on the stack.
func TestScorerScoresExact(t *testing.T) {
	for _, n := range []int{60, smallIndex + 201} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			const dim, classes = 1024, 7
			g := &Linear{Classes: classes, Dim: dim, W: make([]float32, dim*classes), B: make([]float32, classes)}
			for f := range dim {
				if f%3 != 0 { // a third of the features have no gate row
					for c := range classes {
						g.W[f*classes+c] = float32(r.NormFloat64())
					}
				}
			}
			xs, ys := make([]sparse, n), make([]int, n)
			for e := range xs {
				ys[e] = r.IntN(classes - 1)
				for f := int32(0); f < dim; f++ {
					if f < 32 && r.IntN(3) > 0 || f%5 != 0 && r.IntN(60) == 0 {
						xs[e].idx = append(xs[e].idx, f)
						xs[e].val = append(xs[e].val, float32(r.NormFloat64()))
					}
				}
			}
			sc := exemplarScorer(g, xs, ys, []float64{1, 1, 1, 1, 1, 1, -1}, 0.1)
			if sc.ex == nil || sc.rows.n <= sc.gate.rows.n || sc.rows.n <= sc.ex.rows.n {
				t.Fatal("the gate and the exemplars must each have features the other lacks")
			}
			wantP, wantS := make([]float64, classes), make([]float64, classes)
			gotP, gotS := make([]float64, classes), make([]float64, classes)
			for range 300 {
				var q sparse
				for f := int32(0); f < dim+8; f++ {
					if r.IntN(6) == 0 {
						q.idx = append(q.idx, f)
						q.val = append(q.val, float32(r.NormFloat64()))
					}
				}
				sc.gate.probs(q, wantP)
				sc.ex.best(q, wantS)
				sc.scores(q, gotP, gotS)
				for c := range classes {
					if math.Float64bits(gotP[c]) != math.Float64bits(wantP[c]) || math.Float64bits(gotS[c]) != math.Float64bits(wantS[c]) {
						t.Fatalf("class %d: one pass p=%v s=%v, apart p=%v s=%v", c, gotP[c], gotS[c], wantP[c], wantS[c])
					}
				}
			}
		})
	}
}

// fourEach is four examples each of banking and travel: few enough that
// the model keeps an exemplar index.
func fourEach() []Example {
	var exs []Example
	for _, q := range []string{"what is my balance", "move money to savings", "my checking account", "send money to mom"} {
		exs = append(exs, Example{Text: q, Expert: "banking"})
	}
	for _, q := range []string{"book a flight", "hotel in rome", "do i need a visa", "pack my luggage"} {
		exs = append(exs, Example{Text: q, Expert: "travel"})
	}
	return exs
}
