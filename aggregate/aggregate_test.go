package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/experts/openai"
)

// upstream is an OpenAI-compatible test server behind a real OpenAI expert.
type upstream struct {
	name  string
	srv   *httptest.Server
	calls atomic.Int32 // requests received
	ended atomic.Int32 // handlers that saw the client go away
	mu    sync.Mutex
	last  map[string]any // last request body
}

// behaviour answers the n-th request (from 1); stream says whether the
// client asked for SSE.
type behaviour func(u *upstream, n int, w http.ResponseWriter, r *http.Request, stream bool)

func newUpstream(t *testing.T, name string, b behaviour) *upstream {
	t.Helper()
	u := &upstream{name: name}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(u.calls.Add(1))
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(raw, &body)
		u.mu.Lock()
		u.last = body
		u.mu.Unlock()
		b(u, n, w, r, body["stream"] == true)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) candidate(t *testing.T, weight float64) Candidate {
	t.Helper()
	e, err := openai.New(experts.Spec{Name: u.name, Kind: experts.KindOpenAI, BaseURL: u.srv.URL, Model: "m"}, u.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return Candidate{Name: u.name, Weight: weight, Expert: e}
}

func (u *upstream) lastBody() map[string]any {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// answer replies with content, as JSON or as an SSE stream of words.
func says(content string) behaviour {
	return func(u *upstream, n int, w http.ResponseWriter, r *http.Request, stream bool) {
		reply(w, content, stream)
	}
}

func reply(w http.ResponseWriter, content string, stream bool) {
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`, content)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, word := range strings.SplitAfter(content, " ") {
		fmt.Fprintf(w, "data: %s\n\n", chunk(word))
		w.(http.Flusher).Flush()
	}
	fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}\n\ndata: [DONE]\n\n")
}

func chunk(s string) string {
	return fmt.Sprintf(`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, s)
}

func failWith(code int) behaviour {
	return func(u *upstream, n int, w http.ResponseWriter, r *http.Request, stream bool) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":"status %d","type":"server_error"}}`, code)
	}
}

// failTimes fails the first k requests with 503, then answers.
func failTimes(k int, content string) behaviour {
	return func(u *upstream, n int, w http.ResponseWriter, r *http.Request, stream bool) {
		if n <= k {
			failWith(503)(u, n, w, r, stream)
			return
		}
		reply(w, content, stream)
	}
}

// hang blocks until the client goes away.
func hang(u *upstream, n int, w http.ResponseWriter, r *http.Request, stream bool) {
	select {
	case <-r.Context().Done():
		u.ended.Add(1)
	case <-time.After(10 * time.Second):
	}
}

// slow answers after d.
func slow(d time.Duration, content string) behaviour {
	return func(u *upstream, n int, w http.ResponseWriter, r *http.Request, stream bool) {
		select {
		case <-time.After(d):
			reply(w, content, stream)
		case <-r.Context().Done():
			u.ended.Add(1)
		}
	}
}

func question() *experts.Request {
	return &experts.Request{Messages: []experts.Message{{Role: "user", Content: "How do I open an account?"}}}
}

func statuses(calls []Call) string {
	var s []string
	for _, c := range calls {
		s = append(s, fmt.Sprintf("%s:%s:%d", c.Name, c.Status, c.Attempts))
	}
	return strings.Join(s, " ")
}

func fastOpts(s Strategy, retries int) Options {
	return Options{Strategy: s, Retries: retries, Backoff: time.Millisecond}
}

func TestParseStrategy(t *testing.T) {
	for in, want := range map[string]Strategy{"": Top1, "top1": Top1, " Parallel-Best ": ParallelBest, "synthesize": Synthesize} {
		if got, err := ParseStrategy(in); err != nil || got != want {
			t.Errorf("ParseStrategy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseStrategy("vote"); !errors.Is(err, experts.ErrInvalid) {
		t.Errorf("unknown strategy: %v", err)
	}
	if _, err := Run(context.Background(), nil, question(), Options{}); !errors.Is(err, ErrNoCandidates) {
		t.Errorf("no candidates: %v", err)
	}
}

func TestTop1FallbackAndRetries(t *testing.T) {
	a := newUpstream(t, "a", failWith(500))
	b := newUpstream(t, "b", failWith(400)) // not retryable
	c := newUpstream(t, "c", failTimes(1, "from c"))
	d := newUpstream(t, "d", says("from d"))
	// Given out of order: weights decide. The next candidate is preferred
	// to a retry of the same one.
	cands := []Candidate{c.candidate(t, 0.2), a.candidate(t, 0.5), d.candidate(t, 0.1), b.candidate(t, 0.3)}
	out, err := Run(context.Background(), cands, question(), fastOpts(Top1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if out.Answered != "d" || out.Response.Content != "from d" || out.Strategy != Top1 {
		t.Fatalf("answered %q: %+v", out.Answered, out.Response)
	}
	if got := statuses(out.Calls); got != "a:error:1 b:error:1 c:error:1 d:ok:1" {
		t.Fatalf("calls %s", got)
	}
	if !strings.Contains(out.FallbackReason, `"a" error`) {
		t.Fatalf("fallback reason %q", out.FallbackReason)
	}
	if out.Usage.TotalTokens != 15 {
		t.Fatalf("usage %+v", out.Usage)
	}

	// Once every candidate failed, the retry budget goes to the retryable
	// failures in weight order: a again (fails), then c (answers).
	a2 := newUpstream(t, "a", failWith(500))
	b2 := newUpstream(t, "b", failWith(400))
	c2 := newUpstream(t, "c", failTimes(1, "from c"))
	out, err = Run(context.Background(), []Candidate{a2.candidate(t, 0.5), b2.candidate(t, 0.3), c2.candidate(t, 0.2)}, question(), fastOpts(Top1, 2))
	if err != nil || out.Answered != "c" {
		t.Fatalf("answered %q, %v", out.Answered, err)
	}
	if got := statuses(out.Calls); got != "a:error:2 b:error:1 c:ok:2" {
		t.Fatalf("calls %s", got)
	}
}

func TestUnavailableCandidate(t *testing.T) {
	b := newUpstream(t, "b", says("from b"))
	out, err := Run(context.Background(), []Candidate{{Name: "gone", Weight: 0.9}, b.candidate(t, 0.1)}, question(), fastOpts(Top1, 2))
	if err != nil || out.Answered != "b" {
		t.Fatalf("answered %q, %v", out.Answered, err)
	}
	if got := statuses(out.Calls); got != "gone:error:1 b:ok:1" {
		t.Fatalf("calls %s", got)
	}
	_, err = Run(context.Background(), []Candidate{{Name: "gone", Weight: 1}}, question(), fastOpts(ParallelBest, 0))
	var ae *Error
	if !errors.As(err, &ae) || ae.Expert != "gone" || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("only candidate unavailable: %v", err)
	}
}

func TestAllFail(t *testing.T) {
	for _, s := range []Strategy{Top1, ParallelBest, Synthesize} {
		t.Run(string(s), func(t *testing.T) {
			a := newUpstream(t, "a", failWith(502))
			b := newUpstream(t, "b", failWith(500))
			_, err := Run(context.Background(), []Candidate{b.candidate(t, 0.4), a.candidate(t, 0.6)}, question(), fastOpts(s, 1))
			var ae *Error
			if !errors.As(err, &ae) || ae.Expert != "a" || ae.Timeout {
				t.Fatalf("err = %v, want *Error naming a", err)
			}
			var ue *experts.UpstreamError
			if !errors.As(err, &ue) || ue.Status != 502 {
				t.Fatalf("upstream error not reachable: %v", err)
			}
			// One retry in the budget: it goes to the best-weighted failure.
			if a.calls.Load() != 2 || b.calls.Load() != 1 {
				t.Fatalf("attempts a=%d b=%d, want 2 and 1", a.calls.Load(), b.calls.Load())
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	t.Run("top1 primary hangs", func(t *testing.T) {
		// The hanging expert gets its share of the deadline, not all of it:
		// the next one answers inside the deadline.
		a := newUpstream(t, "a", hang)
		b := newUpstream(t, "b", says("b"))
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		out, err := Run(ctx, []Candidate{a.candidate(t, 0.9), b.candidate(t, 0.1)}, question(), fastOpts(Top1, 3))
		if err != nil || out.Answered != "b" {
			t.Fatalf("answered %q, %v", out.Answered, err)
		}
		if ctx.Err() != nil {
			t.Fatal("answered after the deadline")
		}
		if got := statuses(out.Calls); got != "a:timeout:1 b:ok:1" {
			t.Fatalf("calls %s", got)
		}
		if !strings.Contains(out.FallbackReason, `"a" timeout: no answer within`) {
			t.Fatalf("fallback reason %q", out.FallbackReason)
		}
	})
	t.Run("top1 every candidate hangs", func(t *testing.T) {
		a := newUpstream(t, "a", hang)
		b := newUpstream(t, "b", hang)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		out, err := Run(ctx, []Candidate{a.candidate(t, 0.9), b.candidate(t, 0.1)}, question(), fastOpts(Top1, 3))
		var ae *Error
		if !errors.As(err, &ae) || ae.Expert != "b" || !ae.Timeout {
			t.Fatalf("err = %v, want timeout naming b", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v", d)
		}
		if got := statuses(out.Calls); got != "a:timeout:1 b:timeout:1" {
			t.Fatalf("calls %s", got)
		}
	})
	t.Run("already expired", func(t *testing.T) {
		a := newUpstream(t, "a", says("a"))
		ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
		defer cancel()
		for _, s := range []Strategy{Top1, ParallelBest, Synthesize} {
			_, err := Run(ctx, []Candidate{a.candidate(t, 1)}, question(), fastOpts(s, 3))
			var ae *Error
			if !errors.As(err, &ae) || ae.Expert != "a" || !ae.Timeout {
				t.Fatalf("%s: err = %v, want timeout naming a", s, err)
			}
		}
		if a.calls.Load() != 0 {
			t.Fatalf("upstream asked %d times after the deadline", a.calls.Load())
		}
	})
	t.Run("top1 fallback hangs", func(t *testing.T) {
		a := newUpstream(t, "a", failWith(500))
		b := newUpstream(t, "b", hang)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		_, err := Run(ctx, []Candidate{a.candidate(t, 0.9), b.candidate(t, 0.1)}, question(), fastOpts(Top1, 0))
		var ae *Error
		if !errors.As(err, &ae) || ae.Expert != "b" || !ae.Timeout {
			t.Fatalf("err = %v, want timeout naming b, the call the deadline cut", err)
		}
	})
	for _, s := range []Strategy{ParallelBest, Synthesize} {
		t.Run(string(s), func(t *testing.T) {
			a := newUpstream(t, "a", hang)
			b := newUpstream(t, "b", failWith(500))
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := Run(ctx, []Candidate{a.candidate(t, 0.9), b.candidate(t, 0.1)}, question(), fastOpts(s, 0))
			var ae *Error
			if !errors.As(err, &ae) || ae.Expert != "a" || !ae.Timeout {
				t.Fatalf("err = %v, want timeout naming a", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestCancellationStopsEveryUpstream(t *testing.T) {
	for _, s := range []Strategy{Top1, ParallelBest, Synthesize} {
		for _, streaming := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", s, streaming), func(t *testing.T) {
				ups := []*upstream{newUpstream(t, "a", hang), newUpstream(t, "b", hang), newUpstream(t, "c", hang)}
				var cands []Candidate
				for i, u := range ups {
					cands = append(cands, u.candidate(t, float64(3-i)))
				}
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				start := time.Now()
				var err error
				if streaming {
					_, err = RunStream(ctx, cands, question(), fastOpts(s, 3), func(experts.Delta) error { return nil })
				} else {
					_, err = Run(ctx, cands, question(), fastOpts(s, 3))
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v, want context.Canceled", err)
				}
				if d := time.Since(start); d > time.Second {
					t.Fatalf("returned after %v", d)
				}
				want := int32(3)
				if s == Top1 {
					want = 1 // only the first was asked
				}
				deadline := time.Now().Add(2 * time.Second)
				var got int32
				for time.Now().Before(deadline) {
					got = 0
					for _, u := range ups {
						got += u.ended.Load()
					}
					if got == want {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				if got != want {
					t.Fatalf("%d upstream calls saw the cancellation, want %d", got, want)
				}
			})
		}
	}
}

func TestParallelBest(t *testing.T) {
	t.Run("waits for the highest weight", func(t *testing.T) {
		a := newUpstream(t, "a", slow(150*time.Millisecond, "from a"))
		b := newUpstream(t, "b", says("from b"))
		c := newUpstream(t, "c", failWith(500))
		out, err := Run(context.Background(), []Candidate{a.candidate(t, 0.5), b.candidate(t, 0.3), c.candidate(t, 0.2)}, question(), fastOpts(ParallelBest, 0))
		if err != nil {
			t.Fatal(err)
		}
		if out.Answered != "a" || out.Response.Content != "from a" {
			t.Fatalf("answered %q", out.Answered)
		}
		if got := statuses(out.Calls); got != "a:ok:1 b:ok:1 c:error:1" {
			t.Fatalf("calls %s", got)
		}
		if out.Usage.TotalTokens != 30 {
			t.Fatalf("usage %+v: both successful calls count", out.Usage)
		}
	})
	t.Run("skips failed leaders", func(t *testing.T) {
		a := newUpstream(t, "a", failWith(500))
		b := newUpstream(t, "b", slow(100*time.Millisecond, "from b"))
		c := newUpstream(t, "c", says("from c"))
		out, err := Run(context.Background(), []Candidate{a.candidate(t, 0.5), b.candidate(t, 0.3), c.candidate(t, 0.2)}, question(), fastOpts(ParallelBest, 0))
		if err != nil || out.Answered != "b" {
			t.Fatalf("answered %q, %v", out.Answered, err)
		}
	})
	t.Run("does not wait for lower weights", func(t *testing.T) {
		a := newUpstream(t, "a", says("from a"))
		b := newUpstream(t, "b", hang)
		start := time.Now()
		out, err := Run(context.Background(), []Candidate{a.candidate(t, 0.7), b.candidate(t, 0.3)}, question(), fastOpts(ParallelBest, 0))
		if err != nil || out.Answered != "a" {
			t.Fatalf("answered %q, %v", out.Answered, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v", d)
		}
		if got := statuses(out.Calls); got != "a:ok:1 b:cancelled:1" {
			t.Fatalf("calls %s", got)
		}
	})
}

func TestSynthesize(t *testing.T) {
	a := newUpstream(t, "a", says("Open it online."))
	b := newUpstream(t, "b", says("Bring an ID to a branch."))
	c := newUpstream(t, "c", failWith(500))
	s := newUpstream(t, "s", says("Open it online, or bring an ID to a branch."))
	syn := s.candidate(t, 0)
	opts := fastOpts(Synthesize, 0)
	opts.Synthesizer = &syn
	out, err := Run(context.Background(), []Candidate{b.candidate(t, 0.25), a.candidate(t, 0.6), c.candidate(t, 0.15)}, question(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if out.Answered != "s" || out.Response.Content != "Open it online, or bring an ID to a branch." {
		t.Fatalf("answered %q: %q", out.Answered, out.Response.Content)
	}
	if got := statuses(out.Calls); got != "a:ok:1 b:ok:1 c:error:1 s:ok:1" || !out.Calls[3].Synthesizer {
		t.Fatalf("calls %s", got)
	}
	if out.Usage.TotalTokens != 45 {
		t.Fatalf("usage %+v, want the three successful calls", out.Usage)
	}
	// The synthesizer saw the question and both answers with their weights, best first.
	msgs := s.lastBody()["messages"].([]any)
	var all []string
	for _, m := range msgs {
		all = append(all, m.(map[string]any)["content"].(string))
	}
	prompt := strings.Join(all, "\n")
	for _, want := range []string{"How do I open an account?", "Open it online.", "Bring an ID to a branch.", "a (weight 0.60)", "b (weight 0.25)"} {
		if !strings.Contains(prompt, want) {
			t.Errorf("synthesis prompt lacks %q:\n%s", want, prompt)
		}
	}
	if strings.Index(prompt, "Open it online.") > strings.Index(prompt, "Bring an ID") {
		t.Error("answers not in weight order")
	}
	if strings.Contains(prompt, "status 500") {
		t.Error("failed expert's error leaked into the prompt")
	}
}

func TestSynthesizeShortcutsAndFallback(t *testing.T) {
	t.Run("one answer is returned as is", func(t *testing.T) {
		a := newUpstream(t, "a", says("only a"))
		b := newUpstream(t, "b", failWith(500))
		s := newUpstream(t, "s", says("merged"))
		syn := s.candidate(t, 0)
		opts := fastOpts(Synthesize, 0)
		opts.Synthesizer = &syn
		out, err := Run(context.Background(), []Candidate{a.candidate(t, 0.5), b.candidate(t, 0.5)}, question(), opts)
		if err != nil || out.Answered != "a" || out.Response.Content != "only a" || s.calls.Load() != 0 {
			t.Fatalf("answered %q %v, synthesizer called %d times", out.Answered, err, s.calls.Load())
		}
	})
	t.Run("synthesizer failure falls back to the best answer", func(t *testing.T) {
		a := newUpstream(t, "a", says("from a"))
		b := newUpstream(t, "b", says("from b"))
		s := newUpstream(t, "s", failWith(500))
		syn := s.candidate(t, 0)
		opts := fastOpts(Synthesize, 1)
		opts.Synthesizer = &syn
		out, err := Run(context.Background(), []Candidate{b.candidate(t, 0.4), a.candidate(t, 0.6)}, question(), opts)
		if err != nil || out.Answered != "a" || out.Response.Content != "from a" {
			t.Fatalf("answered %q %v", out.Answered, err)
		}
		if got := statuses(out.Calls); got != "a:ok:1 b:ok:1 s:error:2" {
			t.Fatalf("calls %s", got)
		}
	})
	t.Run("no synthesizer: the best expert merges", func(t *testing.T) {
		a := newUpstream(t, "a", says("from a"))
		b := newUpstream(t, "b", says("from b"))
		out, err := Run(context.Background(), []Candidate{b.candidate(t, 0.4), a.candidate(t, 0.6)}, question(), fastOpts(Synthesize, 0))
		if err != nil || out.Answered != "a" || a.calls.Load() != 2 || b.calls.Load() != 1 {
			t.Fatalf("answered %q %v (a asked %d times)", out.Answered, err, a.calls.Load())
		}
		if !strings.Contains(fmt.Sprint(a.lastBody()["messages"]), "from b") {
			t.Fatal("a's second request was not the synthesis")
		}
	})
}

func collect(t *testing.T, ctx context.Context, cands []Candidate, opts Options) (Outcome, []string, error) {
	t.Helper()
	var got []string
	out, err := RunStream(ctx, cands, question(), opts, func(d experts.Delta) error {
		got = append(got, d.Content)
		return nil
	})
	return out, got, err
}

func TestStreamTop1(t *testing.T) {
	t.Run("streams the chosen expert", func(t *testing.T) {
		a := newUpstream(t, "a", says("one two three"))
		out, got, err := collect(t, context.Background(), []Candidate{a.candidate(t, 1)}, fastOpts(Top1, 0))
		if err != nil || strings.Join(got, "|") != "one |two |three" || out.Response.Content != "one two three" || out.Delivered != len("one two three") {
			t.Fatalf("deltas %q (%d bytes delivered), %v", got, out.Delivered, err)
		}
	})
	t.Run("falls back before the first byte", func(t *testing.T) {
		a := newUpstream(t, "a", failWith(503))
		b := newUpstream(t, "b", says("from b"))
		out, got, err := collect(t, context.Background(), []Candidate{a.candidate(t, 0.8), b.candidate(t, 0.2)}, fastOpts(Top1, 1))
		if err != nil || out.Answered != "b" || strings.Join(got, "") != "from b" {
			t.Fatalf("answered %q, deltas %q, %v", out.Answered, got, err)
		}
		if a.calls.Load() != 1 {
			t.Fatalf("a asked %d times, want 1 (the next expert before a retry)", a.calls.Load())
		}
	})
	t.Run("an error after bytes ends the stream", func(t *testing.T) {
		a := newUpstream(t, "a", func(u *upstream, n int, w http.ResponseWriter, r *http.Request, stream bool) {
			fmt.Fprintf(w, "data: %s\n\ndata: {\"choices\":[{\"delta\":{\"content\":\n\n", chunk("partial "))
		})
		b := newUpstream(t, "b", says("from b"))
		out, got, err := collect(t, context.Background(), []Candidate{a.candidate(t, 0.8), b.candidate(t, 0.2)}, fastOpts(Top1, 2))
		var ae *Error
		if !errors.As(err, &ae) || ae.Expert != "a" {
			t.Fatalf("err = %v, want *Error naming a", err)
		}
		if strings.Join(got, "") != "partial " || out.Delivered != len("partial ") || b.calls.Load() != 0 || a.calls.Load() != 1 {
			t.Fatalf("deltas %q (%d bytes delivered); a asked %d, b asked %d times", got, out.Delivered, a.calls.Load(), b.calls.Load())
		}
	})
	t.Run("a callback error aborts", func(t *testing.T) {
		a := newUpstream(t, "a", says("one two"))
		b := newUpstream(t, "b", says("from b"))
		stop := errors.New("client gone")
		_, err := RunStream(context.Background(), []Candidate{a.candidate(t, 0.8), b.candidate(t, 0.2)}, question(), fastOpts(Top1, 2),
			func(experts.Delta) error { return stop })
		if !errors.Is(err, stop) || b.calls.Load() != 0 || a.calls.Load() != 1 {
			t.Fatalf("err = %v; a asked %d, b asked %d", err, a.calls.Load(), b.calls.Load())
		}
	})
}

func TestStreamParallelBestAndSynthesize(t *testing.T) {
	a := newUpstream(t, "a", says("from a"))
	b := newUpstream(t, "b", says("from b"))
	out, got, err := collect(t, context.Background(), []Candidate{b.candidate(t, 0.3), a.candidate(t, 0.7)}, fastOpts(ParallelBest, 0))
	if err != nil || out.Answered != "a" || strings.Join(got, "") != "from a" || out.Delivered != len("from a") {
		t.Fatalf("parallel-best: answered %q deltas %q (%d bytes delivered) %v", out.Answered, got, out.Delivered, err)
	}
	if body := a.lastBody(); body["stream"] == true {
		t.Fatal("parallel-best candidates should be asked without streaming")
	}

	s := newUpstream(t, "s", says("merged answer here"))
	syn := s.candidate(t, 0)
	opts := fastOpts(Synthesize, 0)
	opts.Synthesizer = &syn
	out, got, err = collect(t, context.Background(), []Candidate{b.candidate(t, 0.3), a.candidate(t, 0.7)}, opts)
	if err != nil || out.Answered != "s" || strings.Join(got, "|") != "merged |answer |here" || out.Delivered != len("merged answer here") {
		t.Fatalf("synthesize: answered %q deltas %q (%d bytes delivered) %v", out.Answered, got, out.Delivered, err)
	}
	if s.lastBody()["stream"] != true {
		t.Fatal("the synthesizer should stream")
	}

	// The synthesizer fails before sending anything: the best answer is sent instead.
	bad := newUpstream(t, "bad", failWith(500))
	badSyn := bad.candidate(t, 0)
	opts.Synthesizer = &badSyn
	out, got, err = collect(t, context.Background(), []Candidate{b.candidate(t, 0.3), a.candidate(t, 0.7)}, opts)
	if err != nil || out.Answered != "a" || strings.Join(got, "") != "from a" {
		t.Fatalf("synthesize fallback: answered %q deltas %q %v", out.Answered, got, err)
	}
}

// flaky is an in-test expert that fails with a given error a number of
// times, for error classes an HTTP upstream cannot produce.
type flaky struct {
	err   error
	fails int
	calls atomic.Int32
}

func (f *flaky) Complete(ctx context.Context, req *experts.Request) (*experts.Response, error) {
	if int(f.calls.Add(1)) <= f.fails {
		return nil, f.err
	}
	return &experts.Response{Content: "ok", FinishReason: "stop"}, nil
}

func (f *flaky) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	return f.Complete(ctx, req)
}

func TestRetryClassification(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		calls int32 // with Retries 2 and 5 failures queued
	}{
		{"plain error is final", errors.New("engine exploded"), 1},
		{"invalid request is final", &experts.ValidationError{Field: "tools"}, 1},
		{"timeout is retried", &experts.UpstreamError{Expert: "x", Timeout: true}, 3},
		{"429 is retried", &experts.UpstreamError{Expert: "x", Status: 429}, 3},
		{"401 is final", &experts.UpstreamError{Expert: "x", Status: 401}, 1},
		{"deadline of its own is retried", fmt.Errorf("call: %w", context.DeadlineExceeded), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &flaky{err: tt.err, fails: 5}
			_, err := Run(context.Background(), []Candidate{{Name: "x", Weight: 1, Expert: f}}, question(), fastOpts(Top1, 2))
			if err == nil || f.calls.Load() != tt.calls {
				t.Fatalf("calls %d, want %d (err %v)", f.calls.Load(), tt.calls, err)
			}
		})
	}
	// Backoff never sleeps past the deadline.
	f := &flaky{err: &experts.UpstreamError{Expert: "x", Status: 503}, fails: 100}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	Run(ctx, []Candidate{{Name: "x", Weight: 1, Expert: f}}, question(), Options{Retries: 50, Backoff: 40 * time.Millisecond})
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Fatalf("retries ran %v past a 100ms deadline", d)
	}
}

// panicking is an expert whose every call panics.
type panicking struct{}

func (panicking) Complete(context.Context, *experts.Request) (*experts.Response, error) {
	panic("boom")
}

func (panicking) Stream(context.Context, *experts.Request, func(experts.Delta) error) (*experts.Response, error) {
	panic("boom")
}

// A panicking expert is a failed call, not a crashed gateway: the next
// candidate answers, and with none left the error says what happened.
func TestPanickingExpert(t *testing.T) {
	for _, s := range []Strategy{Top1, ParallelBest, Synthesize} {
		t.Run(string(s), func(t *testing.T) {
			b := newUpstream(t, "b", says("from b"))
			out, err := Run(context.Background(), []Candidate{{Name: "p", Weight: 0.9, Expert: panicking{}}, b.candidate(t, 0.1)}, question(), fastOpts(s, 2))
			if err != nil || out.Answered != "b" {
				t.Fatalf("answered %q, %v", out.Answered, err)
			}
			_, err = RunStream(context.Background(), []Candidate{{Name: "p", Weight: 1, Expert: panicking{}}}, question(), fastOpts(s, 2), func(experts.Delta) error { return nil })
			var ae *Error
			if !errors.As(err, &ae) || ae.Expert != "p" || !errors.Is(err, ErrPanic) {
				t.Fatalf("err = %v, want ErrPanic naming p", err)
			}
		})
	}
}

// ctxExpert answers at once, recording the context it was called with.
type ctxExpert struct {
	mu  sync.Mutex
	got []context.Context
}

func (e *ctxExpert) Complete(ctx context.Context, _ *experts.Request) (*experts.Response, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ctx)
	return &experts.Response{Content: "ok", FinishReason: "stop"}, nil
}

func (e *ctxExpert) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	resp, _ := e.Complete(ctx, req)
	return resp, onDelta(experts.Delta{Content: resp.Content})
}

// A call is given a context of its own only when something of its own may
// cancel it: a share of the deadline (another candidate may need its
// turn) or a stream's first-byte timeout. Otherwise it runs on the run's.
func TestCallContext(t *testing.T) {
	deadline, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		cands  int
		stream bool
		own    bool
	}{
		{"one candidate", deadline, 1, false, false},
		{"no deadline", context.Background(), 2, false, false},
		{"a fallback left: a budget", deadline, 2, false, true},
		{"streamed", deadline, 1, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &ctxExpert{}
			var cands []Candidate
			for i := range tt.cands {
				cands = append(cands, Candidate{Name: fmt.Sprint("e", i), Weight: 1 / float64(i+1), Expert: e})
			}
			var err error
			if tt.stream {
				_, err = RunStream(tt.ctx, cands, &experts.Request{}, Options{}, func(experts.Delta) error { return nil })
			} else {
				_, err = Run(tt.ctx, cands, &experts.Request{}, Options{})
			}
			if err != nil || len(e.got) != 1 {
				t.Fatalf("err %v, %d calls", err, len(e.got))
			}
			if own := e.got[0] != tt.ctx; own != tt.own {
				t.Errorf("a context of its own: %v, want %v", own, tt.own)
			}
		})
	}
}
