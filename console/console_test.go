package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moegate/moegate/api"
	"github.com/moegate/moegate/console"
	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/health"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/retrieval"
	"github.com/moegate/moegate/router"
	"github.com/moegate/moegate/router/teacher"
)

// echo answers with its name.
type echo struct{ name string }

func (e echo) Complete(_ context.Context, req *experts.Request) (*experts.Response, error) {
	return &experts.Response{Content: e.name + " answers", FinishReason: "stop", Usage: experts.Usage{PromptTokens: 5, CompletionTokens: 2}}, nil
}

func (e echo) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	r, _ := e.Complete(ctx, req)
	return r, onDelta(experts.Delta{Content: r.Content})
}

// fakeTeacher writes numbered examples and labels nothing.
type fakeTeacher struct{}

func (fakeTeacher) Offer(string, string, router.Decision) bool { return false }

func (fakeTeacher) WriteExamples(_ context.Context, e teacher.Expert, n int) ([]string, error) {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s question %d", e.Name, i+1))
	}
	return out, nil
}

type knowledge struct {
	retrieval.Store
	*retrieval.Ingester
}

type env struct {
	h        http.Handler
	breakers *health.Tracker
	tenants  *policies.Tenants
	recorder *console.Recorder
}

const adminToken = "admin-secret"

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	reg := experts.NewRegistry(experts.NewFileStore(filepath.Join(dir, "experts.json")),
		experts.Factory(func(_ context.Context, s experts.Spec) (experts.Expert, error) { return echo{s.Name}, nil }), nil)
	if err := reg.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ex := func(prefix string) []string {
		var out []string
		for _, w := range []string{"one", "two", "three", "four", "five", "six"} {
			out = append(out, prefix+" "+w)
		}
		return out
	}
	if err := reg.Seed(ctx, []experts.Spec{{Name: "local", Kind: experts.KindLocal},
		{Name: "banking", Kind: experts.KindOpenAI, BaseURL: "http://127.0.0.1:9/v1", Model: "m", Examples: ex("check my account balance"), Headers: map[string]string{"Authorization": "Bearer upstream-secret"}},
		{Name: "travel", Kind: experts.KindLocal, Examples: ex("book a flight to rome")}}); err != nil {
		t.Fatal(err)
	}
	backend, err := policies.NewFileBackend(filepath.Join(dir, "tenants.json"))
	if err != nil {
		t.Fatal(err)
	}
	tenants, err := policies.NewTenants(nil, backend, nil)
	if err != nil {
		t.Fatal(err)
	}
	emb := embed.NewLocal(256)
	store, err := retrieval.OpenEmbedded(filepath.Join(dir, "knowledge"), emb.Dim(), retrieval.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	limiter := policies.NewMemoryLimiter()
	metrics := prometheus.NewRegistry()
	rec := console.NewRecorder(10)
	labels := teacher.NewFileStore(filepath.Join(dir, "labels.jsonl"))
	if _, err := labels.Add(ctx, teacher.Label{Text: "lost my card abroad", Expert: "banking", Tenant: "acme", Source: teacher.SourceTeacher}); err != nil {
		t.Fatal(err)
	}
	breakers := health.New(health.Options{ConsecutiveFailures: 2})
	gw, err := gateway.New(gateway.Options{}, gateway.Deps{Labels: labels, Teacher: fakeTeacher{}, Health: breakers, Registry: reg, Router: router.Static{Expert: "banking"}, Embedder: emb, Limiter: limiter,
		Retrieval: knowledge{store, &retrieval.Ingester{Store: store, Embedder: emb}}, Metrics: metrics, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	examples := func(context.Context) ([]router.Example, error) {
		var out []router.Example
		for _, s := range reg.List() {
			for _, e := range s.Examples {
				out = append(out, router.Example{Text: e, Expert: s.Name})
			}
		}
		return out, nil
	}
	c := console.New(console.Deps{Gateway: gw, Registry: reg, Recorder: rec, Examples: examples, DefaultExpert: "local", Health: breakers})
	srv, err := api.New(api.Options{AdminToken: adminToken, AuthRequired: true},
		api.Deps{Gateway: gw, Registry: reg, Tenants: tenants, Usage: limiter, Metrics: metrics, Console: c})
	if err != nil {
		t.Fatal(err)
	}
	return &env{h: srv.Handler(), tenants: tenants, recorder: rec, breakers: breakers}
}

func (e *env) do(t *testing.T, method, path, token, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, m, w.Header()
}

func (e *env) tenant(t *testing.T, name string) string {
	t.Helper()
	_, key, err := e.tenants.Create(context.Background(), policies.Tenant{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

const chat = `{"model":"auto","messages":[{"role":"user","content":"what is my balance"}]}`

func TestPagesAreServedWithStrictHeaders(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest("GET", "/ui/", nil)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "<title>moegate console</title>") {
		t.Fatalf("GET /ui/: %d %.200s", w.Code, w.Body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP = %q", csp)
	}
	for path, want := range map[string]string{"/ui/app.js": "javascript", "/ui/vendor/chart.umd.min.js": "javascript", "/ui/app.css": "text/css"} {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), want) {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	for _, path := range []string{"/", "/ui"} {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code/100 != 3 || w.Header().Get("Location") != "/ui/" {
			t.Fatalf("GET %s: %d -> %q", path, w.Code, w.Header().Get("Location"))
		}
	}
}

func TestMeAndAuth(t *testing.T) {
	e := newEnv(t)
	key := e.tenant(t, "acme")
	for _, path := range []string{"/admin/console/me", "/v1/console/me"} {
		if code, m, _ := e.do(t, "GET", path, adminToken, ""); code != 200 || m["role"] != "admin" || m["features"] == nil {
			t.Fatalf("admin %s: %d %v", path, code, m)
		}
	}
	if code, m, _ := e.do(t, "GET", "/v1/console/me", key, ""); code != 200 || m["role"] != "tenant" || m["tenant"] != "acme" {
		t.Fatalf("tenant me: %d %v", code, m)
	}
	for _, c := range []struct{ path, token string }{
		{"/admin/console/me", key}, {"/admin/console/stats", ""}, {"/admin/console/requests", key},
		{"/v1/console/me", ""}, {"/v1/console/me", "wrong"}, {"/v1/console/stats", "wrong"}, {"/v1/console/requests", adminToken},
	} {
		if code, m, _ := e.do(t, "GET", c.path, c.token, ""); code != 401 || m["error"] == nil {
			t.Fatalf("GET %s with %q: %d %v", c.path, c.token, code, m)
		}
	}
}

func TestRequestsAndStatsAreScopedToTheTenant(t *testing.T) {
	e := newEnv(t)
	acme, globex := e.tenant(t, "acme"), e.tenant(t, "globex")
	for i := 0; i < 3; i++ {
		if code, m, _ := e.do(t, "POST", "/v1/chat/completions", acme, chat); code != 200 {
			t.Fatalf("chat: %d %v", code, m)
		}
	}
	if code, _, _ := e.do(t, "POST", "/v1/chat/completions", globex, chat); code != 200 {
		t.Fatal(code)
	}
	e.do(t, "POST", "/v1/chat/completions", globex, `{"model":"nope","messages":[{"role":"user","content":"x"}]}`)

	_, m, _ := e.do(t, "GET", "/v1/console/requests", acme, "")
	reqs := m["data"].([]any)
	if len(reqs) != 3 {
		t.Fatalf("acme sees %d requests: %v", len(reqs), m)
	}
	first := reqs[0].(map[string]any)
	if first["tenant"] != "acme" || first["answered"] != "banking" || first["status"].(float64) != 200 || first["cache"] != "miss" ||
		first["prompt_tokens"].(float64) != 5 || first["moegate"] == nil || len(first["route"].([]any)) != 1 {
		t.Fatalf("record: %v", first)
	}
	id := first["request_id"].(string)
	if code, m, _ := e.do(t, "GET", "/v1/console/requests/"+id, acme, ""); code != 200 || m["moegate"].(map[string]any)["request_id"] != id {
		t.Fatalf("detail: %d %v", code, m)
	}
	// Another tenant cannot read it; the admin can.
	if code, _, _ := e.do(t, "GET", "/v1/console/requests/"+id, globex, ""); code != 404 {
		t.Fatalf("globex read acme's request: %d", code)
	}
	if code, _, _ := e.do(t, "GET", "/admin/console/requests/"+id, adminToken, ""); code != 200 {
		t.Fatalf("admin detail: %d", code)
	}
	_, m, _ = e.do(t, "GET", "/admin/console/requests", adminToken, "")
	if n := len(m["data"].([]any)); n != 5 {
		t.Fatalf("admin sees %d requests", n)
	}
	_, m, _ = e.do(t, "GET", "/admin/console/requests?tenant=globex&limit=1", adminToken, "")
	if d := m["data"].([]any); len(d) != 1 || d[0].(map[string]any)["status"].(float64) != 404 || d[0].(map[string]any)["error_kind"] != "not_found" {
		t.Fatalf("admin filtered: %v", m)
	}
	if code, _, _ := e.do(t, "GET", "/admin/console/requests?limit=-1", adminToken, ""); code != 400 {
		t.Fatalf("bad limit: %d", code)
	}

	_, s, _ := e.do(t, "GET", "/v1/console/stats", acme, "")
	tot := s["totals"].(map[string]any)
	if tot["requests"].(float64) != 3 || tot["errors"].(float64) != 0 || tot["tokens"].(float64) != 21 || s["tenant_tokens"] != nil {
		t.Fatalf("acme totals: %v", s)
	}
	if n := len(s["minutes"].([]any)); n != console.WindowMinutes {
		t.Fatalf("%d minutes", n)
	}
	_, s, _ = e.do(t, "GET", "/admin/console/stats", adminToken, "")
	tot = s["totals"].(map[string]any)
	if tot["requests"].(float64) != 5 || tot["errors"].(float64) != 1 || tot["errors_by_kind"].(map[string]any)["not_found"].(float64) != 1 ||
		tot["answered"].(map[string]any)["banking"].(float64) != 4 || s["tenant_tokens"].(map[string]any)["acme"] == nil {
		t.Fatalf("admin totals: %v", s)
	}
}

func TestExpertsListShowsStatusAndRedactsHeaders(t *testing.T) {
	e := newEnv(t)
	if code, _, _ := e.do(t, "POST", "/admin/chat/completions", adminToken, chat); code != 200 {
		t.Fatal(code)
	}
	_, m, _ := e.do(t, "PUT", "/admin/experts/travel", adminToken, `{"name":"travel","kind":"local","enabled":false}`)
	if m["enabled"] != false {
		t.Fatalf("disable: %v", m)
	}
	code, m, _ := e.do(t, "GET", "/admin/console/experts", adminToken, "")
	if code != 200 {
		t.Fatal(code, m)
	}
	byName := map[string]map[string]any{}
	for _, x := range m["data"].([]any) {
		byName[x.(map[string]any)["name"].(string)] = x.(map[string]any)
	}
	b := byName["banking"]
	if b["status"] != "ok" || b["ready"] != true || b["requests_last_hour"].(float64) != 1 || b["tokens_last_hour"].(float64) != 7 {
		t.Fatalf("banking: %v", b)
	}
	if b["headers"].(map[string]any)["Authorization"] != "[redacted]" {
		t.Fatalf("header not redacted: %v", b["headers"])
	}
	if byName["travel"]["status"] != "disabled" || byName["local"]["default"] != true {
		t.Fatalf("travel/local: %v %v", byName["travel"], byName["local"])
	}
	if h := b["health"].(map[string]any); h["state"] != health.Healthy {
		t.Fatalf("banking health: %v", h)
	}
	// Two failures open banking's breaker: the list says so, and why.
	for range 2 {
		e.breakers.Observe("banking", errors.New("upstream 500"))
	}
	_, m, _ = e.do(t, "GET", "/admin/console/experts", adminToken, "")
	for _, x := range m["data"].([]any) {
		if x := x.(map[string]any); x["name"] == "banking" {
			if x["status"] != health.Ejected || x["health"].(map[string]any)["last_error"] != "upstream 500" {
				t.Fatalf("ejected banking listed as %v", x)
			}
		}
	}
}

func TestRouterEvaluationAndInfo(t *testing.T) {
	e := newEnv(t)
	code, m, _ := e.do(t, "POST", "/admin/console/router/evaluate", adminToken, "")
	if code != 200 {
		t.Fatalf("evaluate: %d %v", code, m)
	}
	labels := m["labels"].([]any)
	if len(labels) != 3 || labels[2] != console.DefaultLabel || m["held_out"].(float64) != 2 || m["train"].(float64) != 10 {
		t.Fatalf("evaluation: %v", m)
	}
	matrix := m["matrix"].([]any)
	total := 0.0
	for _, row := range matrix {
		for _, n := range row.([]any) {
			total += n.(float64)
		}
	}
	if total != 2 || len(m["per_expert"].([]any)) != 3 {
		t.Fatalf("matrix: %v", m)
	}
	_, info, _ := e.do(t, "GET", "/admin/console/router", adminToken, "")
	if info["kind"] != "static" || info["evaluation"] == nil || info["training"].(map[string]any)["examples"].(float64) != 12 {
		t.Fatalf("router info: %v", info)
	}
}

func TestKnowledgeSearch(t *testing.T) {
	e := newEnv(t)
	if code, m, _ := e.do(t, "POST", "/admin/knowledge", adminToken, `{"id":"fees","title":"Fees","text":"Wire transfers cost five euros. Card payments are free."}`); code != 201 {
		t.Fatalf("ingest: %d %v", code, m)
	}
	code, m, _ := e.do(t, "POST", "/admin/console/knowledge/search", adminToken, `{"query":"how much does a wire transfer cost"}`)
	if code != 200 {
		t.Fatalf("search: %d %v", code, m)
	}
	hits := m["data"].([]any)
	if len(hits) == 0 || hits[0].(map[string]any)["doc"] != "fees" || !strings.Contains(hits[0].(map[string]any)["text"].(string), "five euros") {
		t.Fatalf("hits: %v", m)
	}
	if code, _, _ := e.do(t, "POST", "/admin/console/knowledge/search", adminToken, `{"query":"  "}`); code != 400 {
		t.Fatalf("empty query: %d", code)
	}
}

func TestRecorderRingAndWindow(t *testing.T) {
	r := console.NewRecorder(3)
	now := time.Now()
	for i := range 5 {
		r.Observe(gateway.Observation{Time: now, RequestID: string(rune('a' + i)), Tenant: "t", Status: 200, Latency: time.Duration(i+1) * time.Millisecond})
	}
	r.Observe(gateway.Observation{Time: now.Add(-2 * time.Hour), RequestID: "old", Tenant: "t", Status: 200})
	got := r.Recent("", 10)
	if len(got) != 3 || got[0].RequestID != "old" || got[1].RequestID != "e" || got[2].RequestID != "d" {
		t.Fatalf("ring: %+v", got)
	}
	if _, ok := r.Get("other", "e"); ok {
		t.Fatal("another tenant's record found")
	}
	s := r.Series("t")
	if s.Totals.Requests != 5 || s.Requests[len(s.Requests)-1] != 5 {
		t.Fatalf("series counts the request older than the window, or misses some: %+v", s.Totals)
	}
	if s.Totals.P50MS < 3 || s.Totals.P50MS > 3.7 || s.Totals.P99MS < 5 || s.Totals.P99MS > 6 {
		t.Fatalf("p50 %v p99 %v", s.Totals.P50MS, s.Totals.P99MS)
	}
}

func TestRouterInfoCountsLabels(t *testing.T) {
	e := newEnv(t)
	if code, m, _ := e.do(t, "POST", "/admin/labels", adminToken, `{"text":"visa for japan","expert":"travel"}`); code != 201 {
		t.Fatalf("add label: %d %v", code, m)
	}
	_, info, _ := e.do(t, "GET", "/admin/console/router", adminToken, "")
	l, ok := info["labels"].(map[string]any)
	if !ok || l["total"].(float64) != 2 || l["by_source"].(map[string]any)["teacher"].(float64) != 1 || l["by_source"].(map[string]any)["admin"].(float64) != 1 {
		t.Fatalf("router info labels: %v", info)
	}
}
