package router

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func TestReadExamplesMessages(t *testing.T) {
	in := `{"text": "plain", "expert": "a"}
{"messages": [{"role": "system", "content": "you help with travel"}, {"role": "user", "content": "book a flight to rome"}, {"role": "assistant", "content": "done"}, {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]}], "expert": "travel"}
`
	exs, err := ReadExamples(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", exs)
	want := fmt.Sprintf("%+v", []Example{{Text: "plain", Expert: "a"},
		{Text: "and tomorrow?", Expert: "travel", History: []string{"book a flight to rome"}, System: "you help with travel"}})
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	for _, bad := range []string{
		`{"messages": [{"role": "assistant", "content": "hi"}], "expert": "a"}`,
		`{"text": "x", "messages": [{"role": "user", "content": "hi"}]}`,
		`{"messages": [{"role": "user", "content": 3}]}`,
	} {
		if _, err := ReadExamples(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: err %v, want an error naming line 1", bad, err)
		}
	}
}

func TestExperimentSample(t *testing.T) {
	var train []Example
	for i := range 30 {
		train = append(train, Example{Text: fmt.Sprint("a", i), Expert: "a"}, Example{Text: fmt.Sprint("b", i), Expert: "b"})
		if i < 3 {
			train = append(train, Example{Text: fmt.Sprint("o", i), Expert: OutOfScope})
		}
	}
	tests := []struct {
		e    Experiment
		want map[string]int
	}{
		{Experiment{}, map[string]int{"a": 30, "b": 30, "": 3}},
		{Experiment{Shots: 5}, map[string]int{"a": 5, "b": 5, "": 3}},
		{Experiment{Shots: 5, NoOOSTrain: true}, map[string]int{"a": 5, "b": 5}},
	}
	for _, tt := range tests {
		got := map[string]int{}
		for _, ex := range tt.e.sample(rand.New(rand.NewPCG(1, 1)), train) {
			got[ex.Expert]++
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%+v: sampled %v, want %v", tt.e, got, tt.want)
		}
	}
}

// TestExperimentRun runs each protocol on the CLINC150 sample: perturbed
// queries must cost accuracy against clean ones, k-shot must cost accuracy
// against full data, and a perfect teacher must win it back.
func TestExperimentRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains several routers")
	}
	t.Parallel()
	train := clincSample(t, "train")
	test := clincSample(t, "val")
	ctx := context.Background()
	emb := features()
	run := func(t *testing.T, e Experiment) EvalResult {
		t.Helper()
		res, err := e.Run(ctx, emb, train, test, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("shots %d perturb %q pool %d noise %.1f: accuracy %.3f routed %.3f oos recall %.3f coverage %.3f teacher %d/%d wrong",
			e.Shots, e.Perturb, len(e.Pool), e.TeacherNoise, res.Accuracy, res.RoutedAccuracy, res.OOSRecall, res.InScopeCoverage, res.TeacherWrong, res.TeacherLabels)
		return res
	}
	// Three comparisons in parallel; the 3-shot run is shared.
	few := sync.OnceValues(func() (EvalResult, error) {
		return Experiment{Shots: 3, NoOOSTrain: true}.Run(ctx, emb, train, test, Options{})
	})
	t.Run("perturbed", func(t *testing.T) {
		t.Parallel()
		full := run(t, Experiment{})
		typos := run(t, Experiment{Perturb: "typos"})
		if typos.Accuracy >= full.Accuracy {
			t.Errorf("typos accuracy %.3f not below clean %.3f: perturbation not applied", typos.Accuracy, full.Accuracy)
		}
		f, err := few()
		if err != nil {
			t.Fatal(err)
		}
		if f.Accuracy >= full.Accuracy-0.05 {
			t.Errorf("3-shot accuracy %.3f not well below full %.3f", f.Accuracy, full.Accuracy)
		}
	})
	t.Run("teacher", func(t *testing.T) {
		t.Parallel()
		taught := run(t, Experiment{Shots: 3, NoOOSTrain: true, Pool: train, PoolSize: 800, TeacherShare: 0.25, TeacherRounds: 2})
		if taught.TeacherLabels != 200 || taught.TeacherWrong != 0 {
			t.Errorf("teacher gave %d labels (%d wrong), want 200 (0)", taught.TeacherLabels, taught.TeacherWrong)
		}
		f, err := few()
		if err != nil {
			t.Fatal(err)
		}
		if taught.Accuracy < f.Accuracy+0.05 {
			t.Errorf("taught accuracy %.3f not above 3-shot %.3f", taught.Accuracy, f.Accuracy)
		}
	})
	t.Run("noisy teacher", func(t *testing.T) {
		t.Parallel()
		noisy := run(t, Experiment{Shots: 3, NoOOSTrain: true, Pool: train, PoolSize: 800, TeacherShare: 0.25, TeacherNoise: 0.5, TeacherRounds: 1})
		if noisy.TeacherWrong < 70 || noisy.TeacherWrong > 130 {
			t.Errorf("teacher with noise 0.5 was wrong %d times of %d", noisy.TeacherWrong, noisy.TeacherLabels)
		}
	})
	if _, err := (Experiment{Perturb: "shouting"}).Run(ctx, emb, train, test, Options{}); err == nil {
		t.Error("unknown perturbation accepted")
	}
}
