package aggregate

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/experts/openai"
)

// silentStream sends SSE headers and then nothing until the client leaves.
func silentStream(u *upstream, n int, w http.ResponseWriter, r *http.Request, stream bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	hang(u, n, w, r, stream)
}

func TestHedgedParallelBest(t *testing.T) {
	a := newUpstream(t, "a", slow(5*time.Second, "from a"))
	b := newUpstream(t, "b", says("from b"))
	opts := fastOpts(ParallelBest, 0)
	opts.HedgeDelay = 100 * time.Millisecond
	start := time.Now()
	out, err := Run(context.Background(), []Candidate{a.candidate(t, 0.7), b.candidate(t, 0.3)}, question(), opts)
	if err != nil || out.Answered != "b" {
		t.Fatalf("answered %q, %v", out.Answered, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v: the hedge delay did not bound the wait", d)
	}
	if got := statuses(out.Calls); got != "a:hedged:1 b:ok:1" {
		t.Fatalf("calls %s", got)
	}
	if !strings.Contains(out.FallbackReason, `"a" hedged`) {
		t.Fatalf("fallback reason %q", out.FallbackReason)
	}
	// A better-weighted answer inside the hedge delay still wins.
	c := newUpstream(t, "c", slow(50*time.Millisecond, "from c"))
	d := newUpstream(t, "d", says("from d"))
	opts.HedgeDelay = 2 * time.Second
	out, err = Run(context.Background(), []Candidate{c.candidate(t, 0.7), d.candidate(t, 0.3)}, question(), opts)
	if err != nil || out.Answered != "c" || out.FallbackReason != "" {
		t.Fatalf("answered %q (%q), %v", out.Answered, out.FallbackReason, err)
	}
}

func TestFirstByteTimeout(t *testing.T) {
	a := newUpstream(t, "a", silentStream)
	b := newUpstream(t, "b", says("from b"))
	opts := fastOpts(Top1, 0)
	opts.FirstByteTimeout = 100 * time.Millisecond
	start := time.Now()
	out, got, err := collect(t, context.Background(), []Candidate{a.candidate(t, 0.9), b.candidate(t, 0.1)}, opts)
	if err != nil || out.Answered != "b" || strings.Join(got, "") != "from b" {
		t.Fatalf("answered %q deltas %q, %v", out.Answered, got, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	if !strings.Contains(out.FallbackReason, "no first token within 100ms") {
		t.Fatalf("fallback reason %q", out.FallbackReason)
	}
	// A slow stream that has started is not cut by the first-byte timeout.
	s := newUpstream(t, "s", func(u *upstream, n int, w http.ResponseWriter, r *http.Request, stream bool) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, word := range []string{"slow ", "but ", "sure"} {
			w.Write([]byte("data: " + chunk(word) + "\n\n"))
			w.(http.Flusher).Flush()
			time.Sleep(80 * time.Millisecond)
		}
		w.Write([]byte("data: [DONE]\n\n"))
	})
	out, got, err = collect(t, context.Background(), []Candidate{s.candidate(t, 1)}, opts)
	if err != nil || strings.Join(got, "") != "slow but sure" {
		t.Fatalf("deltas %q, %v", got, err)
	}
}

// Waiting for an expert's concurrency slot counts against its attempt: a
// busy expert is passed over for the next inside the deadline.
func TestConcurrencySlotCountsAgainstTheAttempt(t *testing.T) {
	a := newUpstream(t, "a", hang)
	e, err := openai.New(experts.Spec{Name: "a", Kind: experts.KindOpenAI, BaseURL: a.srv.URL, Model: "m", MaxConcurrency: 1}, a.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	busy, stop := context.WithCancel(context.Background())
	defer stop()
	go e.Complete(busy, question())
	for a.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	b := newUpstream(t, "b", says("from b"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	out, err := Run(ctx, []Candidate{{Name: "a", Weight: 0.9, Expert: e}, b.candidate(t, 0.1)}, question(), fastOpts(Top1, 0))
	if err != nil || out.Answered != "b" || ctx.Err() != nil {
		t.Fatalf("answered %q, %v (deadline passed: %v)", out.Answered, err, ctx.Err())
	}
	if a.calls.Load() != 1 {
		t.Fatalf("a received %d calls, want only the one holding the slot", a.calls.Load())
	}
}

func TestFallbackCandidates(t *testing.T) {
	for _, s := range []Strategy{Top1, ParallelBest, Synthesize} {
		for _, streaming := range []bool{false, true} {
			t.Run(string(s)+map[bool]string{true: "/stream"}[streaming], func(t *testing.T) {
				a := newUpstream(t, "a", failWith(500))
				b := newUpstream(t, "b", failWith(503))
				f := newUpstream(t, "f", failWith(500))
				def := newUpstream(t, "default", says("from default"))
				fc := f.candidate(t, 0)
				fc.FallbackFor = "a"
				dc := def.candidate(t, 0)
				dc.FallbackFor = "a"
				cands := []Candidate{fc, b.candidate(t, 0.4), dc, a.candidate(t, 0.6)}
				var out Outcome
				var err error
				if streaming {
					var got []string
					out, got, err = collect(t, context.Background(), cands, fastOpts(s, 0))
					if strings.Join(got, "") != "from default" {
						t.Fatalf("deltas %q", got)
					}
				} else {
					out, err = Run(context.Background(), cands, question(), fastOpts(s, 0))
				}
				if err != nil || out.Answered != "default" || out.Response.Content != "from default" {
					t.Fatalf("answered %q, %v", out.Answered, err)
				}
				if got := statuses(out.Calls); got != "a:error:1 b:error:1 f:error:1 default:ok:1" {
					t.Fatalf("calls %s", got)
				}
				if out.Calls[2].FallbackFor != "a" || !strings.Contains(out.FallbackReason, `"a" error`) {
					t.Fatalf("fallback_for %q, reason %q", out.Calls[2].FallbackFor, out.FallbackReason)
				}
			})
		}
	}
	// Fallbacks are not asked when a chosen expert answers.
	a := newUpstream(t, "a", says("from a"))
	f := newUpstream(t, "f", says("from f"))
	fc := f.candidate(t, 0)
	fc.FallbackFor = "a"
	for _, s := range []Strategy{Top1, ParallelBest, Synthesize} {
		out, err := Run(context.Background(), []Candidate{a.candidate(t, 1), fc}, question(), fastOpts(s, 0))
		if err != nil || out.Answered != "a" || f.calls.Load() != 0 {
			t.Fatalf("%s: answered %q, %v; fallback asked %d times", s, out.Answered, err, f.calls.Load())
		}
	}
}

// recordingHealth denies the names in open and records every observation.
type recordingHealth struct {
	mu   sync.Mutex
	open map[string]bool
	seen []string
}

func (h *recordingHealth) Allow(name string) bool { return !h.open[name] }
func (h *recordingHealth) Observe(name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, name+":"+status(err))
}

func TestHealthSkipsEjectedExperts(t *testing.T) {
	for _, s := range []Strategy{Top1, ParallelBest} {
		a := newUpstream(t, "a", says("from a"))
		b := newUpstream(t, "b", failWith(500))
		c := newUpstream(t, "c", says("from c"))
		h := &recordingHealth{open: map[string]bool{"a": true}}
		opts := fastOpts(s, 0)
		opts.Health = h
		out, err := Run(context.Background(), []Candidate{a.candidate(t, 0.5), b.candidate(t, 0.3), c.candidate(t, 0.2)}, question(), opts)
		if err != nil || out.Answered != "c" {
			t.Fatalf("%s: answered %q, %v", s, out.Answered, err)
		}
		if a.calls.Load() != 0 || !strings.HasPrefix(statuses(out.Calls), "a:ejected:0 b:error:1 c:ok:1") {
			t.Fatalf("%s: a called %d times; calls %s", s, a.calls.Load(), statuses(out.Calls))
		}
		if !strings.Contains(out.FallbackReason, `"a" ejected`) {
			t.Fatalf("%s: reason %q", s, out.FallbackReason)
		}
		h.mu.Lock()
		seen := strings.Join(h.seen, " ")
		h.mu.Unlock()
		if !strings.Contains(seen, "b:error") || !strings.Contains(seen, "c:ok") || strings.Contains(seen, "a:") {
			t.Fatalf("%s: observed %q", s, seen)
		}
	}
	// A client that goes away says nothing about the expert.
	a := newUpstream(t, "a", says("one two"))
	h := &recordingHealth{}
	opts := fastOpts(Top1, 0)
	opts.Health = h
	_, err := RunStream(context.Background(), []Candidate{a.candidate(t, 1)}, question(), opts, func(experts.Delta) error { return errors.New("gone") })
	if err == nil || len(h.seen) != 0 {
		t.Fatalf("err %v, observed %q", err, h.seen)
	}
}
