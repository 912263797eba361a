package router

import (
	"context"
	"math"
	"testing"
)

func TestExampleWeight(t *testing.T) {
	opts := TrainOptions{}.withDefaults()
	tests := []struct {
		name string
		ex   Example
		want float64
	}{
		{"plain", Example{Text: "q", Expert: "a"}, 1},
		{"own weight", Example{Text: "q", Expert: "a", Weight: 0.3}, 0.3},
		{"out of scope", Example{Text: "q"}, opts.OOSWeight},
		{"description", Example{Text: "q", Expert: "a", Description: true}, opts.DescriptionWeight},
		{"weighted description", Example{Text: "q", Expert: "a", Description: true, Weight: 0.5}, 0.5 * opts.DescriptionWeight},
	}
	for _, tt := range tests {
		if got := exampleWeight(tt.ex, opts); got != tt.want {
			t.Errorf("%s: weight %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWeightDecay(t *testing.T) {
	tests := []struct {
		name      string
		opts      TrainOptions
		perExpert float64
		want      float64
	}{
		{"10 examples", TrainOptions{}, 10, 1e-4},
		{"50 examples", TrainOptions{}, 50, 2e-5},
		{"150 examples still decay more than L2", TrainOptions{}, 150, 1e-3 / 150},
		{"full data keeps L2", TrainOptions{}, 1500, 5e-6},
		{"no examples counts as one", TrainOptions{}, 0, 1e-3},
		{"disabled", TrainOptions{FewShotL2: -1}, 10, 5e-6},
		{"own L2 above the few-shot one", TrainOptions{L2: 1e-3}, 10, 1e-3},
	}
	for _, tt := range tests {
		got := weightDecay(tt.opts.withDefaults(), tt.perExpert)
		if math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: L2 %g, want %g", tt.name, got, tt.want)
		}
	}
}

// TestFitLogRegContinues checks that a fit continued from another's state
// keeps what that one learnt and learns what only the new data shows, and
// that its Adam steps count on.
func TestFitLogRegContinues(t *testing.T) {
	ctx := context.Background()
	const dim, classes = 8, 2
	x := func(f int32) sparse { return sparse{idx: []int32{f}, val: []float32{1}} }
	old := &dataset{x: []sparse{x(0), x(1)}, y: []int{0, 1}, w: []float32{1, 1}}
	opts := TrainOptions{Epochs: 50, BatchSize: 2, LearningRate: 0.2}.withDefaults()
	g0, st, err := fitLogReg(ctx, old, classes, dim, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.step != 50 || st.epochs != 50 {
		t.Fatalf("state after 50 epochs of one batch: step %d, epochs %d", st.step, st.epochs)
	}
	// Feature 2 is new, and class 1's.
	all := &dataset{x: []sparse{x(0), x(1), x(2)}, y: []int{0, 1, 1}, w: []float32{1, 1, 1}}
	opts.Epochs = 20
	g1, st, err := fitLogReg(ctx, all, classes, dim, opts, st)
	if err != nil {
		t.Fatal(err)
	}
	if st.step != 90 { // 50 + 20 epochs of two batches
		t.Errorf("continued fit ends at step %d, want 90", st.step)
	}
	p := make([]float64, classes)
	for f, want := range []int{0, 1, 1} {
		packLinear(g1).probs(x(int32(f)), p)
		if p[want] < 0.8 {
			t.Errorf("continued gate: feature %d gives class %d p=%.3f, want > 0.8", f, want, p[want])
		}
	}
	// The first gate had not seen feature 2: it was even.
	packLinear(g0).probs(x(2), p)
	if math.Abs(p[0]-p[1]) > 0.2 {
		t.Errorf("first gate on an unseen feature: %v, want about even", p)
	}
}
