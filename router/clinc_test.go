package router

import (
	"context"
	"testing"
)

// TestClincSample trains on a sample of CLINC150 (testdata/README.md) and
// checks the figures Evaluate reports against bounds measured on this
// sample (accuracy 0.93, top-3 0.99, OOS recall 0.64 at coverage 0.957)
// minus a margin.
func TestClincSample(t *testing.T) {
	t.Parallel()
	train := clincSample(t, "train")
	test := clincSample(t, "val")
	res, err := Evaluate(context.Background(), features(), train, test, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.InScope != 600 || res.OutOfScope != 50 {
		t.Fatalf("test set of %d in scope and %d out of scope, want 600 and 50", res.InScope, res.OutOfScope)
	}
	checks := []struct {
		name     string
		got, min float64
	}{
		{"accuracy", res.Accuracy, 0.90},
		{"top3_accuracy", res.Top3Accuracy, 0.97},
		{"oos_recall", res.OOSRecall, 0.55},
		{"in_scope_coverage", res.InScopeCoverage, 0.92},
	}
	for _, c := range checks {
		if c.got < c.min {
			t.Errorf("%s = %.3f, want >= %.3f", c.name, c.got, c.min)
		}
	}
	if res.RoutedAccuracy > res.Accuracy || res.RoutedAccuracy > res.InScopeCoverage {
		t.Errorf("routed accuracy %.3f above accuracy %.3f or coverage %.3f", res.RoutedAccuracy, res.Accuracy, res.InScopeCoverage)
	}
	if res.RouteP50us <= 0 || res.RouteP99us < res.RouteP50us || res.TrainSeconds <= 0 {
		t.Errorf("timings p50 %v p99 %v train %v", res.RouteP50us, res.RouteP99us, res.TrainSeconds)
	}
}
