package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRouteEvalCommand runs route-eval on the router's CLINC150 sample in
// each protocol and checks the JSON metrics it prints last.
func TestRouteEvalCommand(t *testing.T) {
	train, test := "../../router/testdata/clinc_train.jsonl", "../../router/testdata/clinc_val.jsonl"
	conv := filepath.Join(t.TempDir(), "conv.jsonl")
	if err := os.WriteFile(conv, []byte(
		`{"messages": [{"role": "user", "content": "what is the balance of my checking account"}, {"role": "assistant", "content": "$12"}, {"role": "user", "content": "and the other one?"}], "expert": "banking"}
{"messages": [{"role": "user", "content": "book me a flight from boston to denver"}, {"role": "user", "content": "and the other one?"}], "expert": "travel"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		check func(r map[string]float64) bool
	}{
		{"full", []string{"--train", train, "--test", test}, func(r map[string]float64) bool { return r["accuracy"] > 0.9 && r["in_scope"] == 600 }},
		{"k-shot", []string{"--train", train, "--test", test, "--shots", "5", "--seeds", "2", "--no-oos-train"}, func(r map[string]float64) bool { return r["accuracy"] < 0.85 && r["accuracy"] > 0.2 }},
		{"preamble", []string{"--train", train, "--test", test, "--perturb", "preamble"}, func(r map[string]float64) bool { return r["accuracy"] > 0.85 }},
		{"teacher", []string{"--train", train, "--test", test, "--shots", "3", "--teacher-labels", train, "--teacher-pool", "500", "--teacher-noise", "0"},
			func(r map[string]float64) bool { return r["teacher_labels"] == 100 && r["teacher_wrong"] == 0 }},
		{"conversations", []string{"--train", train, "--test", conv}, func(r map[string]float64) bool { return r["routed_accuracy"] == 1 && r["in_scope"] == 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runGateway(t, append([]string{"route-eval"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var r map[string]any
			dec := json.NewDecoder(strings.NewReader(stdout))
			for dec.More() { // the last object counts
				if err := dec.Decode(&r); err != nil {
					t.Fatalf("stdout %q: %v", stdout, err)
				}
			}
			nums := map[string]float64{}
			for _, k := range []string{"accuracy", "top3_accuracy", "routed_accuracy", "oos_recall", "oos_precision", "in_scope_coverage", "route_p50_us", "route_p99_us", "train_seconds"} {
				v, ok := r[k].(float64)
				if !ok {
					t.Fatalf("no %s in %s", k, stdout)
				}
				nums[k] = v
			}
			for _, k := range []string{"in_scope", "teacher_labels", "teacher_wrong"} {
				nums[k], _ = r[k].(float64)
			}
			if !tt.check(nums) {
				t.Errorf("metrics %v", nums)
			}
		})
	}

	stdout, _, code := runGateway(t, "route-eval", "--help")
	if code != 0 || !strings.Contains(stdout, "--shots") && !strings.Contains(stdout, "-shots") {
		t.Errorf("--help: exit %d, stdout %q", code, stdout)
	}
	_, stderr, code := runGateway(t, "route-eval", "--train", train, "--test", test, "--perturb", "shouting")
	if code == 0 || !strings.Contains(stderr, "unknown perturbation") {
		t.Errorf("bad perturbation: exit %d, stderr %q", code, stderr)
	}
}
