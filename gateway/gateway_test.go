package gateway

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/router"
)

// echo answers with its name; it is an instant in-process expert.
type echo string

func (e echo) Complete(_ context.Context, req *experts.Request) (*experts.Response, error) {
	return &experts.Response{Content: string(e) + ": " + req.Messages[len(req.Messages)-1].Content, Usage: experts.Usage{PromptTokens: 2, CompletionTokens: 3}}, nil
}

func (e echo) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	r, _ := e.Complete(ctx, req)
	return r, onDelta(experts.Delta{Content: r.Content})
}

var domains = map[string][]string{
	"banking":  {"what is my checking balance", "transfer money to savings", "show my bank statement", "open a bank account"},
	"travel":   {"book a flight to paris", "find a hotel in rome", "rent a car at the airport", "check my flight status"},
	"cooking":  {"recipe for pancakes", "how long to boil an egg", "substitute for butter in baking", "how to roast vegetables"},
	"weather":  {"will it rain tomorrow", "what is the temperature today", "weather forecast for the weekend", "is it windy outside"},
	"fitness":  {"a workout for beginners", "how many push ups a day", "stretching before running", "build muscle at the gym"},
	"shopping": {"track my order", "return a pair of shoes", "discount codes for laptops", "compare prices of phones"},
}

type env struct {
	gw  *Gateway
	reg *experts.Registry
}

// newEnv builds a gateway on real parts: a file-backed registry of echo
// experts, a learned router trained on the domains above, in-process limits.
func newEnv(t *testing.T, ropts router.Options, opts Options) *env {
	t.Helper()
	reg := seededRegistry(t)
	l := trainedRouter(t, embed.NewLocal(router.LocalFeatureDim), ropts)
	gw, err := New(opts, Deps{Registry: reg, Router: l, Embedder: embed.NewLocal(256), Limiter: policies.NewMemoryLimiter(),
		Feedback: &feedbackSink{}})
	if err != nil {
		t.Fatal(err)
	}
	return &env{gw: gw, reg: reg}
}

// seededRegistry returns a file-backed registry of echo experts: the
// default expert "local" and one expert a domain, with its examples.
func seededRegistry(t *testing.T) *experts.Registry {
	t.Helper()
	ctx := context.Background()
	factory := func(_ context.Context, s experts.Spec) (experts.Expert, error) { return echo(s.Name), nil }
	reg := experts.NewRegistry(experts.NewFileStore(filepath.Join(t.TempDir(), "experts.json")), experts.Factory(factory), nil)
	if err := reg.Load(ctx); err != nil {
		t.Fatal(err)
	}
	specs := []experts.Spec{{Name: "local", Kind: experts.KindLocal}}
	for name, ex := range domains {
		specs = append(specs, experts.Spec{Name: name, Kind: experts.KindLocal, Examples: ex, DataOwner: "owner-" + name})
	}
	if err := reg.Seed(ctx, specs); err != nil {
		t.Fatal(err)
	}
	return reg
}

// trainedRouter returns a learned router on features, trained on domains.
func trainedRouter(t *testing.T, features embed.Embedder, ropts router.Options) *router.Learned {
	t.Helper()
	var examples []router.Example
	for name, ex := range domains {
		for _, e := range ex {
			examples = append(examples, router.Example{Text: e, Expert: name})
		}
	}
	l := router.NewLearned(features, ropts)
	m, err := l.Train(context.Background(), examples)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Install(m); err != nil {
		t.Fatal(err)
	}
	return l
}

type feedbackSink struct{ got []router.Feedback }

func (f *feedbackSink) Append(_ context.Context, fb router.Feedback) error {
	f.got = append(f.got, fb)
	return nil
}

func chat(text string, ext policies.Extension) *Request {
	return &Request{ID: "req_1", Tenant: policies.DefaultTenant(), Model: "auto", Ext: ext,
		Chat: &experts.Request{Messages: []experts.Message{{Role: "user", Content: text}}}}
}

// An explicit top_k in the request beats a configured top_p: the api used
// to copy the configured top_p into every query, so a request asking for 3
// experts got the 1 or 2 that top_p allowed.
func TestRequestTopKBeatsConfiguredTopP(t *testing.T) {
	e := newEnv(t, router.Options{TopP: 0.3, MinWeight: 1e-9}, Options{})
	ctx := context.Background()
	tests := []struct {
		name string
		ext  policies.Extension
		want int
	}{
		{"request top_k 3", policies.Extension{TopK: 3}, 3},
		{"request top_k 5", policies.Extension{TopK: 5}, 5},
		{"request top_k 2 and top_p 0.3", policies.Extension{TopK: 2, TopP: 0.3}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.gw.Plan(ctx, chat("book a flight and check the weather", tt.ext))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(p.Info.Route.Experts); tt.want > 1 && got != tt.want || tt.want == 1 && got > 2 {
				t.Fatalf("chose %d experts %v, want %d", got, p.Info.Route.Experts, tt.want)
			}
		})
	}
}

func TestPlanAndExecute(t *testing.T) {
	e := newEnv(t, router.Options{}, Options{})
	ctx := context.Background()
	tests := []struct {
		name     string
		req      *Request
		answered string
		kind     errs.Kind // 0 (Internal) means success expected
		code     string
	}{
		{"routed", chat("will it rain tomorrow in the city", policies.Extension{}), "weather", 0, ""},
		{"direct", func() *Request { r := chat("hello", policies.Extension{}); r.Model = "cooking"; return r }(), "cooking", 0, ""},
		{"unknown model", func() *Request { r := chat("hello", policies.Extension{}); r.Model = "nope"; return r }(), "", errs.NotFound, "model_not_found"},
		{"excluded model", func() *Request {
			r := chat("hello", policies.Extension{OptOut: policies.OptOut{ExcludeData: []string{"owner-cooking"}}})
			r.Model = "cooking"
			return r
		}(), "", errs.PermissionDenied, "expert_excluded"},
		{"opt-out sends elsewhere", chat("will it rain tomorrow in the city", policies.Extension{OptOut: policies.OptOut{ExcludeExperts: []string{"weather"}}}), "", 0, ""},
		{"bad aggregate", chat("hi", policies.Extension{Aggregate: "nope"}), "", errs.Invalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.gw.Plan(ctx, tt.req)
			if tt.kind != 0 {
				var ee *errs.Error
				if !errs.Is(err, tt.kind) || tt.code != "" && (!errors.As(err, &ee) || ee.Code != tt.code) {
					t.Fatalf("err = %v (kind %v), want kind %v code %q", err, errs.KindOf(err), tt.kind, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.gw.Execute(ctx, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.answered != "" && res.Answered != tt.answered {
				t.Fatalf("answered by %s, want %s (%+v)", res.Answered, tt.answered, p.Info.Route)
			}
			for _, x := range tt.req.Ext.ExcludeExperts {
				if res.Answered == x {
					t.Fatalf("excluded expert %s answered", x)
				}
			}
			if !strings.HasPrefix(res.Response.Content, res.Answered+": ") || len(res.Info.Experts) == 0 {
				t.Fatalf("result %+v %+v", res.Response, res.Info.Experts)
			}
		})
	}
}

// Feedback names a request of the caller's own: another tenant's request
// id is unknown to it.
func TestFeedbackIsScopedToTheTenant(t *testing.T) {
	e := newEnv(t, router.Options{}, Options{})
	ctx := context.Background()
	req := chat("track my order please", policies.Extension{})
	req.Tenant = policies.Tenant{Name: "acme"}
	p, err := e.gw.Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.gw.Execute(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	one := 1
	if err := e.gw.Feedback(ctx, "globex", Feedback{RequestID: req.ID, Rating: &one}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("another tenant's feedback: err = %v, want not found", err)
	}
	if err := e.gw.Feedback(ctx, "acme", Feedback{RequestID: req.ID, Expert: "shopping"}); err != nil {
		t.Fatal(err)
	}
	fb := e.gw.deps.Feedback.(*feedbackSink).got
	if len(fb) != 1 || fb[0].Text != "track my order please" || fb[0].Expert != "shopping" {
		t.Fatalf("stored feedback %+v", fb)
	}
	if err := e.gw.Feedback(ctx, "acme", Feedback{RequestID: req.ID, Expert: "nobody"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown expert: err = %v", err)
	}
	if err := e.gw.Feedback(ctx, "acme", Feedback{RequestID: req.ID}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("no rating nor expert: err = %v", err)
	}
}

func TestRoutedText(t *testing.T) {
	msgs := []experts.Message{
		{Role: "system", Content: "be brief"},
		{Role: "user", Content: "what's the weather in paris"},
		{Role: "assistant", Content: "sunny"},
		{Role: "user", Content: "and tomorrow?"},
	}
	r := routedText(msgs)
	if r.query != "and tomorrow?" || len(r.history) != 1 || r.history[0] != "what's the weather in paris" || r.system != "be brief" {
		t.Fatalf("routedText = %+v", r)
	}
	if r := routedText([]experts.Message{{Role: "assistant", Content: "hi"}}); r.query != "hi" {
		t.Fatalf("no user message: %+v", r)
	}
}

// A tenant's corrections steer its own similar queries at once and never
// another tenant's: ten corrections by acme sending card-like queries to
// travel leave globex's routing as it was.
func TestTenantFeedbackMovesOnlyItsOwnRouting(t *testing.T) {
	e := newEnv(t, router.Options{}, Options{})
	ctx := context.Background()
	acme, globex := policies.Tenant{Name: "acme"}, policies.Tenant{Name: "globex"}
	ask := func(tenant policies.Tenant, id, text string) *Plan {
		t.Helper()
		req := chat(text, policies.Extension{})
		req.ID, req.Tenant = id, tenant
		p, err := e.gw.Plan(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.gw.Execute(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const q = "transfer money to savings"
	before := ask(globex, "g0", q).Info.Route.Experts[0].Name
	if before != "banking" {
		t.Fatalf("before any feedback %q went to %s, want banking", q, before)
	}
	for i := range 10 {
		id := fmt.Sprintf("a%d", i)
		ask(acme, id, q)
		if err := e.gw.Feedback(ctx, "acme", Feedback{RequestID: id, Expert: "travel"}); err != nil {
			t.Fatal(err)
		}
	}
	if p := ask(acme, "a-after", "transfer some money to my savings"); p.Info.Route.Experts[0].Name != "travel" || p.Info.Route.Override == "" {
		t.Fatalf("acme's own similar query: %+v, want travel by its feedback", p.Info.Route)
	}
	if p := ask(globex, "g1", q); p.Info.Route.Experts[0].Name != "banking" || p.Info.Route.Override != "" {
		t.Fatalf("globex's query moved by acme's feedback: %+v", p.Info.Route)
	}
	// The corrections survive a restart from the stored feedback.
	stored := e.gw.deps.Feedback.(*feedbackSink).got
	fresh := newEnv(t, router.Options{}, Options{})
	if err := fresh.gw.LoadCorrections(ctx, stored); err != nil {
		t.Fatal(err)
	}
	req := chat(q, policies.Extension{})
	req.Tenant = acme
	if p, err := fresh.gw.Plan(ctx, req); err != nil || p.Info.Route.Experts[0].Name != "travel" {
		t.Fatalf("after reload: %v %+v", err, p.Info.Route)
	}
}
