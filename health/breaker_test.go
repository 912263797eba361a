package health_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/experts/openai"
	"github.com/moegate/moegate/health"
)

// TestBreakerWithRealUpstream drives a Tracker through the aggregator
// against a real HTTP upstream: ejection after consecutive failures, no
// calls while open, a probe once the cooldown ends, recovery.
func TestBreakerWithRealUpstream(t *testing.T) {
	var down atomic.Bool
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if down.Load() {
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":{"message":"down","type":"server_error"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"from a"},"finish_reason":"stop"}]}`)
	}))
	defer srv.Close()
	backup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"from backup"},"finish_reason":"stop"}]}`)
	}))
	defer backup.Close()
	mk := func(name, url string) experts.Expert {
		e, err := openai.New(experts.Spec{Name: name, Kind: experts.KindOpenAI, BaseURL: url, Model: "m"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	cands := []aggregate.Candidate{{Name: "a", Weight: 1, Expert: mk("a", srv.URL)}, {Name: "backup", FallbackFor: "a", Expert: mk("backup", backup.URL)}}
	tr := health.New(health.Options{ConsecutiveFailures: 3, Cooldown: 300 * time.Millisecond})
	opts := aggregate.Options{Health: tr}
	ask := func() aggregate.Outcome {
		t.Helper()
		out, err := aggregate.Run(context.Background(), cands, &experts.Request{Messages: []experts.Message{{Role: "user", Content: "hi"}}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	down.Store(true)
	for range 3 {
		if out := ask(); out.Answered != "backup" {
			t.Fatalf("answered %q", out.Answered)
		}
	}
	if s := tr.Status("a"); s.State != health.Ejected {
		t.Fatalf("after 3 failures: %+v", s)
	}
	before := calls.Load()
	for range 10 {
		out := ask()
		if out.Answered != "backup" || out.Calls[0].Status != aggregate.StatusEjected || !strings.Contains(out.FallbackReason, "ejected") {
			t.Fatalf("while open: %+v", out)
		}
	}
	if got := calls.Load() - before; got != 0 {
		t.Fatalf("%d calls reached the ejected upstream", got)
	}

	// The cooldown ends while the upstream is still down: one probe, and
	// it is ejected again.
	time.Sleep(350 * time.Millisecond)
	ask()
	if got := calls.Load() - before; got != 1 {
		t.Fatalf("%d probe calls, want 1", got)
	}
	if s := tr.Status("a"); s.State != health.Ejected || s.Ejections != 2 {
		t.Fatalf("after a failed probe: %+v", s)
	}

	// It recovers; the next probe (after the doubled cooldown) closes the breaker.
	down.Store(false)
	time.Sleep(650 * time.Millisecond)
	if out := ask(); out.Answered != "a" {
		t.Fatalf("probe answered by %q", out.Answered)
	}
	if s := tr.Status("a"); s.State != health.Healthy {
		t.Fatalf("after a good probe: %+v", s)
	}
	for range 3 {
		if out := ask(); out.Answered != "a" {
			t.Fatalf("after recovery answered by %q", out.Answered)
		}
	}
}
