package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/moegate/moegate/embed"
)

// handModel builds a model over one-hot inputs of dimension len(dists):
// input i yields exactly the expert probabilities dists[i].
func handModel(experts []string, dists [][]float64) *Model {
	c := len(experts)
	g := &Linear{Classes: c, Dim: len(dists), W: make([]float32, c*len(dists)), B: make([]float32, c)}
	for i, d := range dists {
		for j, p := range d {
			g.W[i*c+j] = float32(math.Log(max(p, 1e-30)))
		}
	}
	oos := slices.Index(experts, OutOfScope)
	return &Model{Kind: KindLogReg, Dim: len(dists), Features: embed.LocalFeatures, Experts: experts, OOSClass: oos, Gate: g, Threshold: 0.3}
}

func oneHot(dim, i int) []float32 {
	v := make([]float32, dim)
	v[i] = 1
	return v
}

func TestSelection(t *testing.T) {
	experts := []string{"a", "b", "c", "d", OutOfScope}
	dists := [][]float64{
		{0.5, 0.3, 0.15, 0.05, 0},     // 0: clear order
		{0.1, 0.1, 0.05, 0.05, 0.7},   // 1: out of scope
		{0.05, 0.6, 0.2, 0.15, 0},     // 2: b best
		{0.4, 0.35, 0.2, 0.05, 0},     // 3: close call
		{0.6, 0.15, 0.05, 0.05, 0.15}, // 4: a clear expert, but 15% out of scope
	}
	type want struct {
		experts []Choice
		dflt    string // substring of DefaultReason, "" = not default
	}
	all := []string{"a", "b", "c", "d"}
	tests := []struct {
		name  string
		opts  Options
		null  float64 // Model.NullThreshold
		input int
		q     Query
		want  want
	}{
		{"top1", Options{}, 0, 0, Query{Candidates: all}, want{experts: []Choice{{"a", 1}}}},
		{"top2 renormalised", Options{TopK: 2}, 0, 0, Query{Candidates: all}, want{experts: []Choice{{"a", 0.625}, {"b", 0.375}}}},
		{"query top_k beats options", Options{TopK: 1, TopP: 0.9}, 0, 0, Query{Candidates: all, TopK: 2}, want{experts: []Choice{{"a", 0.625}, {"b", 0.375}}}},
		{"min weight drops third", Options{TopK: 3, MinWeight: 0.2}, 0, 0, Query{Candidates: all}, want{experts: []Choice{{"a", 0.625}, {"b", 0.375}}}},
		{"top_p 0.75 needs two", Options{}, 0, 0, Query{Candidates: all, TopP: 0.75}, want{experts: []Choice{{"a", 0.625}, {"b", 0.375}}}},
		{"top_p 0.5 needs one", Options{}, 0, 0, Query{Candidates: all, TopP: 0.5}, want{experts: []Choice{{"a", 1}}}},
		{"top_p 0.9 needs three", Options{MinWeight: 0.01}, 0, 0, Query{Candidates: all, TopP: 0.9}, want{experts: []Choice{{"a", 0.5 / 0.95}, {"b", 0.3 / 0.95}, {"c", 0.15 / 0.95}}}},
		{"out of scope", Options{}, 0, 1, Query{Candidates: all}, want{dflt: "out of scope"}},
		{"excluded best expert", Options{}, 0, 2, Query{Candidates: []string{"a", "c", "d"}}, want{dflt: `best expert "b"`}},
		{"exclusion renormalises", Options{TopK: 2}, 0, 3, Query{Candidates: []string{"a", "c", "d"}}, want{experts: []Choice{{"a", 0.4 / 0.6}, {"c", 0.2 / 0.6}}}},
		{"top_p over remaining candidates", Options{}, 0, 3, Query{Candidates: []string{"b", "c", "d"}, TopP: 0.6}, want{experts: []Choice{{"b", 0.35 / 0.55}, {"c", 0.2 / 0.55}}}},
		{"threshold override", Options{Threshold: 0.55}, 0, 0, Query{Candidates: all}, want{dflt: "out of scope"}},
		// Input 4 is 85% in scope, but its best expert has 0.6 against the
		// out-of-scope class's 0.15: a share of 0.8.
		{"null threshold", Options{}, 0.84, 4, Query{Candidates: all}, want{dflt: "P(best)/(P(best)+P(out of scope))=0.800"}},
		{"null threshold passed", Options{}, 0.78, 4, Query{Candidates: all}, want{experts: []Choice{{"a", 1}}}},
		{"null threshold ignores clear queries", Options{}, 0.9, 0, Query{Candidates: all}, want{experts: []Choice{{"a", 1}}}},
		{"no candidates", Options{}, 0, 0, Query{}, want{dflt: "no candidate experts"}},
		{"unknown candidates", Options{}, 0, 0, Query{Candidates: []string{"zz"}}, want{dflt: "known to the router"}},
		{"duplicate candidates", Options{TopK: 3, MinWeight: 0.01}, 0, 0, Query{Candidates: []string{"b", "b", "a"}}, want{experts: []Choice{{"a", 0.625}, {"b", 0.375}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLearned(embed.NewLocal(len(dists)), tt.opts)
			m := handModel(experts, dists)
			m.NullThreshold = tt.null
			if err := l.Install(m); err != nil {
				t.Fatal(err)
			}
			q := tt.q
			q.Vector = oneHot(len(dists), tt.input)
			d, err := l.Route(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if d.Router != "learned" || d.Version != 1 {
				t.Errorf("router %q version %d", d.Router, d.Version)
			}
			if tt.want.dflt != "" {
				if !d.Default || !strings.Contains(d.DefaultReason, tt.want.dflt) || len(d.Experts) != 0 {
					t.Fatalf("got default=%v reason %q experts %v, want default with %q", d.Default, d.DefaultReason, d.Experts, tt.want.dflt)
				}
				return
			}
			if d.Default {
				t.Fatalf("unexpected default: %s", d.DefaultReason)
			}
			if len(d.Experts) != len(tt.want.experts) {
				t.Fatalf("experts %v, want %v", d.Experts, tt.want.experts)
			}
			var sum float64
			for i, c := range d.Experts {
				w := tt.want.experts[i]
				if c.Name != w.Name || math.Abs(c.Weight-w.Weight) > 1e-5 {
					t.Errorf("expert %d = %v, want %v", i, c, w)
				}
				sum += c.Weight
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("weights sum to %v", sum)
			}
			// Probabilities are the model's, restricted to the candidates,
			// sorted by name (their JSON is a map's).
			if !slices.IsSortedFunc(d.Probabilities, func(a, b Probability) int { return strings.Compare(a.Name, b.Name) }) {
				t.Errorf("probabilities not sorted by name: %v", d.Probabilities)
			}
			for _, e := range d.Probabilities {
				name, p := e.Name, e.P
				if !slices.Contains(q.Candidates, name) {
					t.Errorf("probability for non-candidate %q", name)
				}
				if want := dists[tt.input][slices.Index(experts, name)]; math.Abs(p-want) > 1e-5 {
					t.Errorf("P(%s) = %v, want %v", name, p, want)
				}
			}
		})
	}
}

func TestUntrained(t *testing.T) {
	l := NewLearned(embed.NewLocal(64), Options{RetrievalThreshold: 0.6})
	d, err := l.Route(context.Background(), Query{Text: "hello", Candidates: []string{"a"}, RetrievalScore: 0.7})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Default || d.DefaultReason != "router not trained" {
		t.Errorf("got %+v, want default 'router not trained'", d)
	}
	if !d.Retrieve || d.RetrieveScore != 0.7 {
		t.Errorf("retrieve %v score %v: the knowledge score alone should decide", d.Retrieve, d.RetrieveScore)
	}
	if l.Version() != 0 || l.Model() != nil {
		t.Error("untrained router has a model")
	}
}

// TestInstalledModelKeepsNoWeights checks that the active model is a
// description: the gate's weights live packed in the scorer only, so
// routing is unchanged, the trained model can still be saved, and the
// description cannot be installed as though it were a model.
func TestInstalledModelKeepsNoWeights(t *testing.T) {
	ctx := context.Background()
	l := NewLearned(embed.NewLocal(4096), Options{Train: TrainOptions{Epochs: 60}})
	m, err := l.Train(ctx, toyExamples())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Install(m); err != nil {
		t.Fatal(err)
	}
	active := l.Model()
	if active == m || active.Gate.W != nil || active.exemplarX != nil {
		t.Errorf("the active model keeps the gate's weights (%d) or the exemplars' features (%d)", len(active.Gate.W), len(active.exemplarX))
	}
	if active.Version != m.Version || active.Version != l.Version() || !slices.Equal(active.Experts, m.Experts) {
		t.Errorf("description version %d experts %q, model %d %q", active.Version, active.Experts, m.Version, m.Experts)
	}
	if len(m.Gate.W) != m.Gate.Dim*m.Gate.Classes {
		t.Errorf("Install took the caller's weights: %d", len(m.Gate.W))
	}
	d, err := l.Route(ctx, Query{Text: "book a flight to paris", Candidates: []string{"banking", "kitchen", "travel"}})
	if err != nil || d.Default || len(d.Experts) == 0 || d.Experts[0].Name != "travel" {
		t.Errorf("route %+v, %v: want travel", d, err)
	}
	if err := l.Install(active); !errors.Is(err, ErrBadModel) {
		t.Errorf("installing the description: %v, want ErrBadModel", err)
	}
	if err := m.SaveFile(filepath.Join(t.TempDir(), "model.json")); err != nil {
		t.Errorf("saving the trained model after Install: %v", err)
	}
}

// toyExamples is a small three-expert training set with out-of-scope
// queries and retrieval labels on the policy questions.
func toyExamples() []Example {
	var ex []Example
	add := func(expert string, retrieve bool, texts ...string) {
		for _, t := range texts {
			ex = append(ex, Example{Text: t, Expert: expert, Retrieve: retrieve})
		}
	}
	add("banking", false, "what is my checking account balance", "transfer money to my savings account",
		"how much money do i have in the bank", "send 50 dollars from checking to savings",
		"show my recent bank transactions", "what's the balance of my savings")
	add("banking", true, "what is the bank's overdraft fee policy", "according to the bank policy how long do transfers take",
		"what does the policy say about wire transfer limits")
	add("travel", false, "book a flight to paris", "find me a hotel in rome", "i need a plane ticket to tokyo",
		"reserve a hotel room for two nights", "what flights go to london tomorrow", "book a rental car at the airport")
	add("travel", true, "what is the visa policy for travel to japan", "what does the travel policy say about baggage",
		"policy on flight cancellations")
	add("kitchen", false, "how do i bake bread", "give me a recipe for pasta", "how long to boil an egg",
		"what can i cook with chicken and rice", "substitute for butter in cookies", "how to make pancake batter")
	add(OutOfScope, false, "what is the meaning of life", "tell me about dinosaurs", "who won the world cup")
	return ex
}

func TestTrainCalibration(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{KindLogReg, KindCentroid} {
		t.Run(kind, func(t *testing.T) {
			l := NewLearned(embed.NewLocal(4096), Options{Train: TrainOptions{Kind: kind, Epochs: 60}})
			m, err := l.Train(ctx, toyExamples())
			if err != nil {
				t.Fatal(err)
			}
			if m.OOSClass != len(m.Experts)-1 || !slices.Equal(m.Experts, []string{"banking", "kitchen", "travel", OutOfScope}) {
				t.Fatalf("experts %q oos %d", m.Experts, m.OOSClass)
			}
			if m.Retrieval == nil {
				t.Fatal("no retrieval gate despite retrieval labels")
			}
			if err := l.Install(m); err != nil {
				t.Fatal(err)
			}
			cands := []string{"banking", "kitchen", "travel"}
			var minP float64 = 1
			for _, ex := range toyExamples() {
				if ex.Expert == OutOfScope {
					continue
				}
				x, _ := embed.NewLocal(4096).Embed(ctx, []string{ex.Text})
				p := make([]float64, len(m.Experts))
				xs := toSparse(x[0])
				m.Gate.probs(xs, p)
				var sum float64
				for _, v := range p {
					if v < 0 || v > 1 {
						t.Fatalf("probability %v", v)
					}
					sum += v
				}
				if math.Abs(sum-1) > 1e-6 {
					t.Fatalf("probabilities sum to %v", sum)
				}
				d, err := l.Route(ctx, Query{Text: ex.Text, Candidates: cands})
				if err != nil {
					t.Fatal(err)
				}
				best, bestP := "", 0.0
				for _, e := range d.Probabilities {
					if best == "" || e.P > bestP {
						best, bestP = e.Name, e.P
					}
				}
				if best != ex.Expert {
					t.Errorf("%q: best %q, want %q", ex.Text, best, ex.Expert)
				}
				pe, _ := d.Probabilities.Get(ex.Expert)
				minP = min(minP, pe)
			}
			// Logistic regression fits its training data confidently; the
			// centroid model is a smoother similarity.
			if kind == KindLogReg && minP < 0.6 {
				t.Errorf("least confident training example p=%v, want >= 0.6", minP)
			}
		})
	}
}

func TestRetrievalGate(t *testing.T) {
	ctx := context.Background()
	l := NewLearned(embed.NewLocal(4096), Options{Train: TrainOptions{Epochs: 60}, RetrievalThreshold: 0.8})
	m, err := l.Train(ctx, toyExamples())
	if err != nil {
		t.Fatal(err)
	}
	l.Install(m)
	route := func(text string, ks float64) Decision {
		d, err := l.Route(ctx, Query{Text: text, Candidates: []string{"banking", "travel", "kitchen"}, RetrievalScore: ks})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := route("what does the bank policy say about overdraft fees", 0); !d.Retrieve || d.RetrieveScore < 0.5 {
		t.Errorf("policy question: retrieve=%v score=%v, want the trained gate to fire", d.Retrieve, d.RetrieveScore)
	}
	if d := route("how do i bake bread", 0.1); d.Retrieve {
		t.Errorf("recipe question retrieves (score %v)", d.RetrieveScore)
	}
	if d := route("how do i bake bread", 0.9); !d.Retrieve || d.RetrieveScore != 0.9 {
		t.Errorf("high knowledge score: retrieve=%v score=%v, want the knowledge rule to fire", d.Retrieve, d.RetrieveScore)
	}

	// Without retrieval labels only the knowledge score counts.
	var plain []Example
	for _, ex := range toyExamples() {
		ex.Retrieve = false
		plain = append(plain, ex)
	}
	m2, err := l.Train(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Retrieval != nil {
		t.Fatal("retrieval gate trained without labels")
	}
	l.Install(m2)
	for _, ks := range []float64{0.3, 0.85} {
		d := route("what does the bank policy say about overdraft fees", ks)
		if d.Retrieve != (ks >= 0.8) || d.RetrieveScore != ks {
			t.Errorf("knowledge %v: retrieve=%v score=%v", ks, d.Retrieve, d.RetrieveScore)
		}
	}
}

func TestTrainErrors(t *testing.T) {
	ctx := context.Background()
	emb := embed.NewLocal(256)
	if _, err := Train(ctx, emb, nil, TrainOptions{}); err != ErrNoExamples {
		t.Errorf("no examples: %v", err)
	}
	if _, err := Train(ctx, emb, []Example{{Text: "x"}}, TrainOptions{}); err != ErrNoExamples {
		t.Errorf("only out-of-scope: %v", err)
	}
	if _, err := Train(ctx, emb, toyExamples(), TrainOptions{Kind: "forest"}); err == nil {
		t.Error("unknown kind accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Train(cctx, emb, toyExamples(), TrainOptions{}); err == nil {
		t.Error("cancelled context accepted")
	}
	// A model for another dimension is refused.
	m, err := Train(ctx, emb, toyExamples(), TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := NewLearned(embed.NewLocal(512), Options{}).Install(m); err == nil {
		t.Error("model of dimension 256 installed for a 512 embedder")
	}
	// So is a model trained on other features (an older embed.Local).
	if m.Features != embed.LocalFeatures {
		t.Errorf("model features %q, want %q", m.Features, embed.LocalFeatures)
	}
	m.Features = "local-v1"
	if err := NewLearned(emb, Options{}).Install(m); !errors.Is(err, ErrBadModel) {
		t.Errorf("model of features local-v1 installed: %v", err)
	}
}

func TestPersistenceRoundTrip(t *testing.T) {
	ctx := context.Background()
	emb := embed.NewLocal(4096)
	l := NewLearned(emb, Options{TopK: 2})
	m, err := l.Train(ctx, toyExamples())
	if err != nil {
		t.Fatal(err)
	}
	m.Version = 41
	if err := l.Install(m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "router.json")
	if err := m.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	l2 := NewLearned(emb, Options{TopK: 2})
	if err := l2.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if l2.Version() != 41 {
		t.Errorf("loaded version %d, want 41", l2.Version())
	}
	queries := []string{"transfer 20 dollars to savings", "cheap flights to berlin", "recipe for soup",
		"what is the policy on baggage", "who is the president", ""}
	for _, q := range queries {
		a, err1 := l.Route(ctx, Query{Text: q, Candidates: []string{"banking", "travel", "kitchen"}, RetrievalScore: 0.5})
		b, err2 := l2.Route(ctx, Query{Text: q, Candidates: []string{"banking", "travel", "kitchen"}, RetrievalScore: 0.5})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%q: before save %+v, after load %+v", q, a, b)
		}
	}
	// Installing a fresh model after a loaded one bumps the version.
	m2, _ := l2.Train(ctx, toyExamples())
	l2.Install(m2)
	if l2.Version() != 42 {
		t.Errorf("version after retrain %d, want 42", l2.Version())
	}
}

func TestLoadRejectsBadModels(t *testing.T) {
	for _, s := range []string{
		``, `{}`, `not json`,
		`{"dim":4,"experts":["a"],"oos_class":-1,"gate":{"classes":1,"dim":4,"w":"AAAA","b":"AAAA"}}`,
		`{"dim":1,"experts":["a"],"oos_class":0,"gate":{"classes":1,"dim":1,"w":"AAAAAA==","b":"AAAAAA=="}}`,
		`{"dim":1,"experts":["a","b"],"oos_class":-1,"gate":{"classes":1,"dim":1,"w":"AAAAAA==","b":"AAAAAA=="}}`,
		// Saved before the null-class test: its threshold is on another score.
		`{"dim":1,"experts":["a",""],"oos_class":1,"in_scope_threshold":0.4,"gate":{"classes":2,"dim":1,"w":"AAAAAAAAAAA=","b":"AAAAAAAAAAA="}}`,
	} {
		if _, err := Load(strings.NewReader(s)); err == nil {
			t.Errorf("Load(%q) accepted", s)
		}
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file accepted")
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(`{"dim":1,"features":"local-v2","experts":["a"],"oos_class":-1,"gate":{"classes":1,"dim":1,"w":"AAAAAA==","b":"AAAAAA=="}}`)
	f.Add(`{"dim":2,"features":"local-v2","experts":["a",""],"oos_class":1,"gate":{"classes":2,"dim":2,"w":"AAAAAAAAAAAAAAAAAAAAAA==","b":"AAAAAAAAAAA="}}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Load(strings.NewReader(s))
		if err != nil {
			return
		}
		// A model that loads must route without panicking.
		l := NewLearned(embed.NewLocal(m.Dim), Options{})
		if err := l.Install(m); err != nil {
			return
		}
		if _, err := l.Route(context.Background(), Query{Text: "hello world", Candidates: m.Experts}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConcurrentSwap routes from many goroutines while models are swapped:
// every decision must come whole from one model (odd versions route to
// "a", even to "b").
func TestConcurrentSwap(t *testing.T) {
	experts := []string{"a", "b"}
	toA := handModel(experts, [][]float64{{0.9, 0.1}})
	l := NewLearned(embed.NewLocal(1), Options{})
	if err := l.Install(toA); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := l.Route(ctx, Query{Vector: []float32{1}, Candidates: experts})
				if err != nil {
					errs <- err
					return
				}
				want := "a"
				if d.Version%2 == 0 {
					want = "b"
				}
				if d.Default || d.Experts[0].Name != want {
					errs <- fmt.Errorf("version %d routed to %v", d.Version, d.Experts)
					return
				}
			}
		})
	}
	for v := 2; v <= 200; v++ {
		p := [][]float64{{0.9, 0.1}}
		if v%2 == 0 {
			p = [][]float64{{0.1, 0.9}}
		}
		m := handModel(experts, p)
		m.Version = int64(v)
		if err := l.Install(m); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if l.Version() != 200 {
		t.Errorf("final version %d", l.Version())
	}
}

func TestSortByP(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 2, 10, maxInsertion, maxInsertion + 1, 300} {
		cs := make([]cand, n)
		for k := range cs {
			cs[k] = cand{name: strconv.Itoa(k), p: float64(r.IntN(4)) / 4} // ties, whose order must be kept
			if r.IntN(10) == 0 {
				cs[k].p = math.NaN()
			}
		}
		want := slices.Clone(cs)
		slices.SortStableFunc(want, func(a, b cand) int { return cmp.Compare(b.p, a.p) })
		sortByP(cs)
		for k := range cs {
			if cs[k].name != want[k].name {
				t.Fatalf("%d candidates: got %v, want %v", n, cs, want)
			}
		}
	}
}
