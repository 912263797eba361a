package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/health"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/retrieval"
	"github.com/moegate/moegate/router"
)

// Queries without a word are answered by the default expert, without
// retrieval, instead of failing (the zero query vector cannot be searched).
func TestEdgeQueries(t *testing.T) {
	e := newEnv(t, router.Options{}, Options{})
	store, err := retrieval.OpenEmbedded(t.TempDir(), 256, retrieval.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	emb := embed.NewLocal(256)
	vec, _ := emb.Embed(context.Background(), []string{"opening hours of the bank"})
	if err := store.Upsert(context.Background(), retrieval.Document{ID: "hours"}, []retrieval.Chunk{{DocID: "hours", Text: "opening hours of the bank", Embedding: vec[0]}}); err != nil {
		t.Fatal(err)
	}
	e.gw.deps.Retrieval = store
	for _, q := range []string{"???", "🙂", "", "   ", "!!! ... ---"} {
		for _, mode := range []string{policies.RetrievalAuto, policies.RetrievalAlways} {
			t.Run(fmt.Sprintf("%q/%s", q, mode), func(t *testing.T) {
				p, err := e.gw.Plan(context.Background(), chat(q, policies.Extension{Retrieval: mode}))
				if err != nil {
					t.Fatalf("Plan: %v", err)
				}
				if !p.Info.Route.Default || p.Info.Route.Experts[0].Name != "local" || p.Info.Retrieval.Used {
					t.Fatalf("route %+v retrieval %+v", p.Info.Route, p.Info.Retrieval)
				}
				res, err := e.gw.Execute(context.Background(), p, nil)
				if err != nil || res.Answered != "local" {
					t.Fatalf("Execute: %v %+v", err, res)
				}
			})
		}
	}
	// A wordless follow-up is routed by the conversation.
	req := chat("???", policies.Extension{})
	req.Chat.Messages = []experts.Message{{Role: "user", Content: "book a flight to paris"}, {Role: "assistant", Content: "Sure."}, {Role: "user", Content: "??"}}
	p, err := e.gw.Plan(context.Background(), req)
	if err != nil || p.Info.Route.Default || p.Info.Route.Experts[0].Name != "travel" {
		t.Fatalf("follow-up: %v %+v", err, p.Info.Route)
	}
}

func TestPassagesTrimmedToTheContext(t *testing.T) {
	e := newEnv(t, router.Options{}, Options{RetrievalMinScore: 0.01})
	var hits []retrieval.Hit
	for i := range 4 {
		hits = append(hits, retrieval.Hit{Score: 0.9 - float64(i)/10, Chunk: retrieval.Chunk{ID: fmt.Sprint(i), DocID: fmt.Sprintf("doc%d", i), Text: strings.Repeat(fmt.Sprintf("passage %d é ", i), 300)}})
	}
	req := &experts.Request{Messages: []experts.Message{{Role: "user", Content: "a short question"}}}
	tests := []struct {
		window, maxTokens int
		wantPassages      int // at most
	}{
		{0, 0, 4},       // unknown window: everything
		{2048, 0, 2},    // about (2048-512)*3 bytes: the first passages, the last cut short
		{2048, 1900, 1}, // the answer takes most of the window
		{300, 280, 0},   // no room at all
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("window=%d/max_tokens=%d", tt.window, tt.maxTokens), func(t *testing.T) {
			info := &Info{}
			r := *req
			r.MaxTokens = tt.maxTokens
			got := e.gw.ground(&r, hits, info, tt.window, e.gw.metrics)
			if n := len(info.Retrieval.Passages); n > tt.wantPassages || (tt.window == 0 && n != 4) {
				t.Fatalf("%d passages kept, want at most %d", n, tt.wantPassages)
			}
			if tt.window == 0 {
				return
			}
			prompt := 0
			for _, m := range got.Messages {
				prompt += len(m.Content)
			}
			answer := max(tt.maxTokens, 0)
			if answer == 0 {
				answer = max(256, tt.window/4)
			}
			// 3 bytes a token is the budget's own conservative rate.
			if prompt > (tt.window-answer)*3 {
				t.Fatalf("prompt of %d bytes does not leave %d of %d tokens for the answer", prompt, answer, tt.window)
			}
			if len(info.Retrieval.Passages) < 4 && !strings.Contains(info.Retrieval.Reason, "context") {
				t.Fatalf("trimming not reported: %q", info.Retrieval.Reason)
			}
			for _, p := range info.Retrieval.Passages {
				if !strings.HasPrefix(p.Text, "passage") || !utf8Valid(p.Text) {
					t.Fatalf("passage cut badly: %.40q", p.Text)
				}
			}
		})
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// An ejected expert is not offered to the router and is reported; its
// configured fallbacks and the default expert stand by.
func TestEjectedExpertsAndFallbacks(t *testing.T) {
	e := newEnv(t, router.Options{}, Options{})
	tr := health.New(health.Options{ConsecutiveFailures: 1})
	e.gw.deps.Health = tr
	if _, err := e.reg.Update(context.Background(), "banking", experts.Spec{Kind: experts.KindLocal, Examples: domains["banking"], DataOwner: "owner-banking", Fallbacks: []string{"shopping", "nope"}}); err != nil {
		t.Fatal(err)
	}
	p, err := e.gw.Plan(context.Background(), chat("what is my checking balance", policies.Extension{}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range p.candidates {
		names = append(names, c.Name+"/"+c.FallbackFor)
	}
	if strings.Join(names, " ") != "banking/ shopping/banking local/banking" {
		t.Fatalf("candidates %v", names)
	}

	tr.Observe("banking", errors.New("upstream status 500"))
	p, err = e.gw.Plan(context.Background(), chat("what is my checking balance", policies.Extension{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.candidates {
		if c.Name == "banking" {
			t.Fatalf("ejected expert is a candidate: %+v", p.candidates)
		}
	}
	found := false
	for _, x := range p.Info.Excluded {
		found = found || x.Name == "banking" && strings.Contains(x.Reason, "circuit open")
	}
	if !found {
		t.Fatalf("excluded %+v", p.Info.Excluded)
	}
	res, err := e.gw.Execute(context.Background(), p, nil)
	if err != nil || res.Answered == "banking" || res.Info.AnsweredBy != res.Answered {
		t.Fatalf("answered %+v, %v", res, err)
	}
}

// failingStore is an embedded retrieval store whose searches fail, as a
// database's that is out of reach, or past the store's own timeout, do.
type failingStore struct{ *retrieval.Embedded }

func (failingStore) Search(context.Context, []float32, int, retrieval.Filter) ([]retrieval.Hit, error) {
	return nil, fmt.Errorf("retrieval: searching: %w", context.DeadlineExceeded)
}

// A retrieval store that fails leaves an "auto" request without passages,
// saying why, and fails one that asked for "always".
func TestRetrievalStoreFails(t *testing.T) {
	e := newEnv(t, router.Options{}, Options{})
	store, err := retrieval.OpenEmbedded(t.TempDir(), 256, retrieval.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	e.gw.deps.Retrieval = failingStore{store}
	for _, tt := range []struct {
		mode    string
		wantErr bool
	}{{policies.RetrievalAuto, false}, {policies.RetrievalAlways, true}} {
		t.Run(tt.mode, func(t *testing.T) {
			p, err := e.gw.Plan(context.Background(), chat("when does the bank open", policies.Extension{Retrieval: tt.mode}))
			if tt.wantErr {
				if err == nil || errs.KindOf(err) != errs.UpstreamFailed || !strings.Contains(err.Error(), "retrieval") {
					t.Fatalf("always: %v, want the retrieval failure", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := p.Info.Retrieval; r.Used || !strings.Contains(r.Reason, "retrieval store failed") {
				t.Fatalf("auto: retrieval %+v, want unused with the reason", r)
			}
		})
	}
}
