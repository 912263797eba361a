package router

import (
	"context"
	"testing"
)

// TestClincSets trains on the samples of the sets regrouped from CLINC150
// intents (testdata/README.md) and checks the figures Evaluate reports
// against floors 0.01-0.03 below what the router reaches on them, so that
// a regression of a few points fails. The sets have no out-of-scope
// queries, so coverage is the share the null expert leaves routed.
func TestClincSets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		set              string
		classes, test    int
		accuracy, top3   float64
		routed, coverage float64
	}{
		// Measured: accuracy 0.954, top-3 0.994, routed 0.910, coverage 0.941.
		{"scenarios18", 18, 930, 0.93, 0.98, 0.88, 0.91},
		// Measured: 0.983, 0.994, 0.972, 0.983 (3 errors in 180).
		{"snips7", 7, 180, 0.97, 0.98, 0.95, 0.96},
	}
	for _, c := range cases {
		t.Run(c.set, func(t *testing.T) {
			t.Parallel()
			train := setSample(t, c.set, "train")
			test := setSample(t, c.set, "val")
			res, err := Evaluate(context.Background(), features(), train, test, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			if res.InScope != c.test || res.OutOfScope != 0 || len(res.ExpertRouted) != c.classes {
				t.Fatalf("test set of %d in scope, %d out of scope, %d classes; want %d, 0, %d",
					res.InScope, res.OutOfScope, len(res.ExpertRouted), c.test, c.classes)
			}
			checks := []struct {
				name     string
				got, min float64
			}{
				{"accuracy", res.Accuracy, c.accuracy},
				{"top3_accuracy", res.Top3Accuracy, c.top3},
				{"routed_accuracy", res.RoutedAccuracy, c.routed},
				{"in_scope_coverage", res.InScopeCoverage, c.coverage},
			}
			for _, ch := range checks {
				if ch.got < ch.min {
					t.Errorf("%s = %.3f, want >= %.3f", ch.name, ch.got, ch.min)
				}
			}
		})
	}
}

func setSample(tb testing.TB, set, split string) []Example {
	tb.Helper()
	ex, err := ReadExamplesFile("testdata/" + set + "_" + split + ".jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}
