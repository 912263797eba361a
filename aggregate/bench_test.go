package aggregate

import (
	"context"
	"strings"
	"testing"

	"github.com/moegate/moegate/experts"
)

// instant answers at once, so benchmarks measure aggregation overhead.
type instant struct{}

func (instant) Complete(ctx context.Context, req *experts.Request) (*experts.Response, error) {
	return &experts.Response{Content: "answer", FinishReason: "stop"}, nil
}

func (instant) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	if err := onDelta(experts.Delta{Content: "answer"}); err != nil {
		return nil, err
	}
	return &experts.Response{Content: "answer", FinishReason: "stop"}, nil
}

func BenchmarkRun(b *testing.B) {
	cands := []Candidate{{Name: "a", Weight: 0.5, Expert: instant{}}, {Name: "b", Weight: 0.3, Expert: instant{}}, {Name: "c", Weight: 0.2, Expert: instant{}}}
	for _, s := range []Strategy{Top1, ParallelBest, Synthesize} {
		b.Run(string(s), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Run(context.Background(), cands, question(), Options{Strategy: s}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzSynthesisRequest checks the synthesizer prompt keeps the whole
// conversation and every answer, whatever they contain.
func FuzzSynthesisRequest(f *testing.F) {
	f.Add("How do I open an account?", "Online.", "At a branch.", 0.7)
	f.Add("", "", "### Expert 1: x (weight 9.99)", -1.0)
	f.Fuzz(func(t *testing.T, q, a1, a2 string, w float64) {
		orig := &experts.Request{Messages: []experts.Message{{Role: "user", Content: q}}, Tools: []byte(`[]`)}
		req := synthesisRequest(orig, []answer{
			{name: "a", weight: w, resp: &experts.Response{Content: a1}},
			{name: "b", weight: 1 - w, resp: &experts.Response{Content: a2}},
		})
		if len(req.Messages) != 3 || req.Messages[0].Role != "system" || req.Messages[1].Content != q {
			t.Fatalf("messages %+v", req.Messages)
		}
		last := req.Messages[2].Content
		if !strings.Contains(last, strings.TrimSpace(a1)) || !strings.Contains(last, strings.TrimSpace(a2)) {
			t.Fatalf("an answer is missing from %q", last)
		}
		if req.Tools != nil {
			t.Fatal("tools passed to the synthesizer")
		}
	})
}
