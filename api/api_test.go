package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/experts/openai"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/internal/loadgen"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/router"
	"github.com/prometheus/client_golang/prometheus"
)

// echoExpert is an instant in-process expert: it answers with its name and
// the last message, word by word when streaming.
type echoExpert struct {
	name  string
	calls atomic.Int64
}

func (e *echoExpert) answer(req *experts.Request) string {
	return e.name + " says: " + req.Messages[len(req.Messages)-1].Content
}

func (e *echoExpert) Complete(ctx context.Context, req *experts.Request) (*experts.Response, error) {
	e.calls.Add(1)
	text := e.answer(req)
	return &experts.Response{Content: text, FinishReason: "stop", Usage: experts.Usage{PromptTokens: 3, CompletionTokens: len(strings.Fields(text))}}, nil
}

func (e *echoExpert) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	e.calls.Add(1)
	text := e.answer(req)
	for i, w := range strings.Fields(text) {
		if i > 0 {
			w = " " + w
		}
		if err := onDelta(experts.Delta{Content: w}); err != nil {
			return nil, err
		}
	}
	return &experts.Response{Content: text, FinishReason: "stop", Usage: experts.Usage{PromptTokens: 3, CompletionTokens: len(strings.Fields(text))}}, nil
}

// blockingExpert waits until its context ends and records that it did.
type blockingExpert struct {
	started   chan struct{}
	cancelled chan struct{}
}

func (b *blockingExpert) Complete(ctx context.Context, req *experts.Request) (*experts.Response, error) {
	close(b.started)
	<-ctx.Done()
	close(b.cancelled)
	return nil, ctx.Err()
}

func (b *blockingExpert) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	if err := onDelta(experts.Delta{Content: "first"}); err != nil {
		return nil, err
	}
	return b.Complete(ctx, req)
}

type panicExpert struct{}

func (panicExpert) Complete(context.Context, *experts.Request) (*experts.Response, error) {
	panic("boom: secret internal state")
}

func (p panicExpert) Stream(ctx context.Context, req *experts.Request, _ func(experts.Delta) error) (*experts.Response, error) {
	return p.Complete(ctx, req)
}

type testEnv struct {
	srv     *Server
	reg     *experts.Registry
	experts map[string]experts.Expert
	dir     string
}

// newTestEnv builds a server on real parts: a file-backed registry, the
// local embedder, the static router, file-backed tenants, in-process limits
// and cache. Experts of kind "local" are the in-process test experts above,
// looked up by name.
func newTestEnv(t testing.TB, opts Options, gwOpts gateway.Options, tune func(*gateway.Deps)) *testEnv {
	t.Helper()
	env := &testEnv{dir: t.TempDir(), experts: map[string]experts.Expert{
		"local":   &echoExpert{name: "local"},
		"banking": &echoExpert{name: "banking"},
		"travel":  &echoExpert{name: "travel"},
		"panicky": panicExpert{},
	}}
	factory := func(_ context.Context, s experts.Spec) (experts.Expert, error) {
		if s.Kind == experts.KindOpenAI {
			return openai.New(s, nil)
		}
		e, ok := env.experts[s.Name]
		if !ok {
			return nil, errors.New("no test expert " + s.Name)
		}
		return e, nil
	}
	env.reg = experts.NewRegistry(experts.NewFileStore(filepath.Join(env.dir, "experts.json")), experts.Factory(factory), nil)
	ctx := context.Background()
	if err := env.reg.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.reg.Seed(ctx, []experts.Spec{
		{Name: "local", Kind: experts.KindLocal},
		{Name: "banking", Kind: experts.KindLocal, DataOwner: "acme", Examples: []string{"check my balance"}},
		{Name: "travel", Kind: experts.KindLocal},
	}); err != nil {
		t.Fatal(err)
	}
	backend, err := policies.NewFileBackend(filepath.Join(env.dir, "tenants.json"))
	if err != nil {
		t.Fatal(err)
	}
	tenants, err := policies.NewTenants(nil, backend, nil)
	if err != nil {
		t.Fatal(err)
	}
	limiter := policies.NewMemoryLimiter()
	metrics := prometheus.NewRegistry()
	deps := gateway.Deps{
		Registry: env.reg, Router: router.Static{Expert: "banking"}, Embedder: embed.NewLocal(256),
		Limiter: limiter, Metrics: metrics,
	}
	if tune != nil {
		tune(&deps)
	}
	gw, err := gateway.New(gwOpts, deps)
	if err != nil {
		t.Fatal(err)
	}
	if opts.AdminToken == "" {
		opts.AdminToken = "admin-token"
	}
	env.srv, err = New(opts, Deps{Gateway: gw, Registry: env.reg, Tenants: tenants, Usage: limiter, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func (e *testEnv) do(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, req)
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("not JSON (%d): %s", w.Code, w.Body)
	}
	return m
}

func assertError(t *testing.T, w *httptest.ResponseRecorder, status int, code, param string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d: %s", w.Code, status, w.Body)
	}
	m := decode(t, w)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %s", w.Body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e[k]; !ok {
			t.Fatalf("error lacks %q: %s", k, w.Body)
		}
	}
	if code != "" && e["code"] != code {
		t.Fatalf("code = %v, want %q: %s", e["code"], code, w.Body)
	}
	if param != "" && e["param"] != param {
		t.Fatalf("param = %v, want %q: %s", e["param"], param, w.Body)
	}
}

const hello = `{"model":"auto","messages":[{"role":"user","content":"hello there"}]}`

func TestChatCompletion(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	w := env.do("POST", "/v1/chat/completions", hello, "X-Request-Id", "my-request-1")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	if m["object"] != "chat.completion" || m["model"] != "banking" {
		t.Fatalf("shape: %v", m)
	}
	msg := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	if msg["role"] != "assistant" || msg["content"] != "banking says: hello there" {
		t.Fatalf("message: %v", msg)
	}
	if u := m["usage"].(map[string]any); u["total_tokens"].(float64) != u["prompt_tokens"].(float64)+u["completion_tokens"].(float64) {
		t.Fatalf("usage: %v", u)
	}
	mg := m["moegate"].(map[string]any)
	if mg["request_id"] != "my-request-1" || w.Header().Get("X-Request-Id") != "my-request-1" {
		t.Fatalf("request id not echoed: %v / %q", mg["request_id"], w.Header().Get("X-Request-Id"))
	}
	route := mg["route"].(map[string]any)
	if route["router"] != "static" || route["experts"].([]any)[0].(map[string]any)["name"] != "banking" {
		t.Fatalf("route: %v", route)
	}
	if calls := mg["experts"].([]any); len(calls) != 1 || calls[0].(map[string]any)["status"] != "ok" {
		t.Fatalf("expert calls: %v", calls)
	}
	if h := w.Header().Get("X-Moegate-Route"); !strings.Contains(h, "experts=banking:1") || !strings.Contains(h, "aggregate=top1") {
		t.Fatalf("X-Moegate-Route = %q", h)
	}
}

func TestContentPartsAndDirectModel(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	w := env.do("POST", "/v1/chat/completions", `{"model":"travel","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"fly"},{"type":"text","text":"to rome"}]}]}`)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	if got := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"]; got != "travel says: fly\nto rome" {
		t.Fatalf("content = %q", got)
	}
	if m["moegate"].(map[string]any)["route"].(map[string]any)["router"] != "direct" {
		t.Fatalf("direct call not reported: %v", m["moegate"])
	}
}

func TestChatStream(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	srv := httptest.NewServer(env.srv.Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"auto","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			if !strings.HasPrefix(line, "data: ") {
				t.Fatalf("not an SSE data line: %q", line)
			}
			events = append(events, strings.TrimPrefix(line, "data: "))
		}
	}
	if events[len(events)-1] != "[DONE]" {
		t.Fatalf("no [DONE]: %q", events)
	}
	var text strings.Builder
	var sawUsage, sawFinish bool
	for i, ev := range events[:len(events)-1] {
		var ch chatChunk
		if err := json.Unmarshal([]byte(ev), &ch); err != nil {
			t.Fatalf("chunk %d: %v: %s", i, err, ev)
		}
		if ch.Object != "chat.completion.chunk" {
			t.Fatalf("chunk %d object %q", i, ch.Object)
		}
		if i == 0 && (ch.Moegate == nil || ch.Choices[0].Delta.Role != "assistant") {
			t.Fatalf("first chunk lacks role or moegate: %s", ev)
		}
		for _, c := range ch.Choices {
			if c.Delta.Content != nil {
				text.WriteString(*c.Delta.Content)
			}
			sawFinish = sawFinish || c.FinishReason != nil
		}
		sawUsage = sawUsage || ch.Usage != nil
	}
	if text.String() != "banking says: one two" || !sawUsage || !sawFinish {
		t.Fatalf("text %q usage %v finish %v", text.String(), sawUsage, sawFinish)
	}
}

func TestBadRequests(t *testing.T) {
	env := newTestEnv(t, Options{MaxBodyBytes: 4096, MaxMessages: 3}, gateway.Options{}, nil)
	msgs := `"messages":[{"role":"user","content":"x"}]`
	cases := []struct {
		name, body  string
		status      int
		code, param string
	}{
		{"malformed json", `{"model":"auto",`, 400, "", ""},
		{"empty body", ``, 400, "", ""},
		{"messages wrong type", `{"model":"auto","messages":"hi"}`, 400, "", "messages"},
		{"no model", `{` + msgs + `}`, 400, "", "model"},
		{"no messages", `{"model":"auto","messages":[]}`, 400, "", "messages"},
		{"too many messages", `{"model":"auto","messages":[{"role":"user","content":"a"},{"role":"user","content":"a"},{"role":"user","content":"a"},{"role":"user","content":"a"}]}`, 400, "", "messages"},
		{"n=2", `{"model":"auto","n":2,` + msgs + `}`, 400, "", "n"},
		{"temperature", `{"model":"auto","temperature":3,` + msgs + `}`, 400, "", "temperature"},
		{"top_p", `{"model":"auto","top_p":-1,` + msgs + `}`, 400, "", "top_p"},
		{"max_tokens", `{"model":"auto","max_tokens":0,` + msgs + `}`, 400, "", "max_tokens"},
		{"bad role", `{"model":"auto","messages":[{"role":"wizard","content":"x"}]}`, 400, "", "messages[0].role"},
		{"audio part", `{"model":"auto","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x"}}]}]}`, 400, "", "messages[0].content"},
		{"five stops", `{"model":"auto","stop":["a","b","c","d","e"],` + msgs + `}`, 400, "", "stop"},
		{"stream options without stream", `{"model":"auto","stream_options":{"include_usage":true},` + msgs + `}`, 400, "", "stream_options"},
		{"bad aggregate", `{"model":"auto","moegate":{"aggregate":"vote"},` + msgs + `}`, 400, "", "moegate"},
		{"bad retrieval mode", `{"model":"auto","moegate":{"retrieval":"maybe"},` + msgs + `}`, 400, "", "moegate"},
		{"unknown model", `{"model":"gpt-17",` + msgs + `}`, 404, "model_not_found", ""},
		{"too large", `{"model":"auto","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`, 413, "request_too_large", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertError(t, env.do("POST", "/v1/chat/completions", tc.body), tc.status, tc.code, tc.param)
		})
	}
	assertError(t, env.do("GET", "/v1/nothing", ""), 404, "unknown_url", "")
	assertError(t, env.do("DELETE", "/v1/chat/completions", ""), 405, "method_not_allowed", "")
}

func TestPanicBecomes500WithoutStack(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "panicky", Kind: experts.KindLocal}); err != nil {
		t.Fatal(err)
	}
	w := env.do("POST", "/v1/chat/completions", `{"model":"panicky","messages":[{"role":"user","content":"x"}]}`)
	if w.Code < 500 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	assertError(t, w, w.Code, "", "")
	if strings.Contains(w.Body.String(), "secret internal state") || strings.Contains(w.Body.String(), "goroutine") {
		t.Fatalf("internal detail leaked: %s", w.Body)
	}
}

func TestClientDisconnectCancelsExpert(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	blk := &blockingExpert{started: make(chan struct{}), cancelled: make(chan struct{})}
	env.experts["slow"] = blk
	if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "slow", Kind: experts.KindLocal}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(env.srv.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"slow","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-blk.started:
	case <-time.After(10 * time.Second):
		t.Fatal("expert never called")
	}
	cancel()
	select {
	case <-blk.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("client disconnect did not cancel the expert call")
	}
	<-errc
	// The cut stream is billed for what was sent, and counted as 499.
	var u policies.Usage
	var status string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		u, _ = env.srv.deps.Usage.Usage(context.Background(), policies.DefaultTenant().Key())
		status = scrape(env.do("GET", "/metrics", "").Body.String(), `moegate_http_requests_total{route="/v1/chat/completions",status=`)
		if u.Tokens > 0 && status != "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if u.Tokens == 0 {
		t.Fatalf("a stream cut by the client was not billed: %+v", u)
	}
	if status != "499" {
		t.Fatalf("cut stream counted with status %q, want 499", status)
	}
}

// scrape returns the label value that follows prefix in a metrics page.
func scrape(page, prefix string) string {
	i := strings.Index(page, prefix)
	if i < 0 {
		return ""
	}
	rest := page[i+len(prefix)+1:]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestModels(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{Notes: []string{"demo model"}}, nil)
	w := env.do("GET", "/v1/models", "")
	m := decode(t, w)
	var ids []string
	for _, d := range m["data"].([]any) {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	if strings.Join(ids, ",") != "auto,banking,local,travel" {
		t.Fatalf("models = %v", ids)
	}
	w = env.do("GET", "/v1/models/local", "")
	if w.Code != 200 || decode(t, w)["note"] != "demo model" {
		t.Fatalf("local model: %d %s", w.Code, w.Body)
	}
	assertError(t, env.do("GET", "/v1/models/none", ""), 404, "model_not_found", "")
}

func TestAdminAPI(t *testing.T) {
	env := newTestEnv(t, Options{AdminToken: "s3cret"}, gateway.Options{}, nil)
	auth := []string{"Authorization", "Bearer s3cret"}
	assertError(t, env.do("GET", "/admin/experts", ""), 401, "", "")
	assertError(t, env.do("GET", "/admin/experts", "", "Authorization", "Bearer wrong"), 401, "", "")

	spec := `{"name":"legal","kind":"openai","base_url":"http://127.0.0.1:1/v1","model":"m","description":"law","tags":["law"],"examples":["can I sue"],"data_owner":"firm"}`
	w := env.do("POST", "/admin/experts", spec, auth...)
	if w.Code != 201 || decode(t, w)["data_owner"] != "firm" {
		t.Fatalf("add: %d %s", w.Code, w.Body)
	}
	before, err := os.ReadFile(filepath.Join(env.dir, "experts.json"))
	if err != nil {
		t.Fatal(err)
	}
	assertError(t, env.do("POST", "/admin/experts", spec, auth...), 409, "expert_exists", "")
	assertError(t, env.do("POST", "/admin/experts", `{"name":"x y","kind":"openai"}`, auth...), 400, "", "")
	assertError(t, env.do("POST", "/admin/experts", `{"name":"ok","kind":"openai","base_url":"not a url","model":"m"}`, auth...), 400, "", "")
	assertError(t, env.do("POST", "/admin/experts", `{"name":`, auth...), 400, "", "")
	after, _ := os.ReadFile(filepath.Join(env.dir, "experts.json"))
	if string(before) != string(after) {
		t.Fatal("failed admin calls changed the registry file")
	}
	w = env.do("PUT", "/admin/experts/legal", `{"kind":"openai","base_url":"http://127.0.0.1:1/v1","model":"m2"}`, auth...)
	if w.Code != 200 || decode(t, w)["model"] != "m2" {
		t.Fatalf("update: %d %s", w.Code, w.Body)
	}
	assertError(t, env.do("PUT", "/admin/experts/none", `{"kind":"openai","base_url":"http://x/v1","model":"m"}`, auth...), 404, "", "")
	if w := env.do("DELETE", "/admin/experts/legal", "", auth...); w.Code != 204 {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	assertError(t, env.do("GET", "/admin/experts/legal", "", auth...), 404, "", "")
	assertError(t, env.do("DELETE", "/admin/experts/local", "", auth...), 409, "default_expert", "")
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	env.srv.opts.AdminToken = ""
	assertError(t, env.do("GET", "/admin/experts", "", "Authorization", "Bearer anything"), 404, "", "")
}

func TestOptOutOfDataOwner(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	// banking's data belongs to acme: excluding acme sends the query elsewhere.
	w := env.do("POST", "/v1/chat/completions", hello, "X-Moegate-Exclude-Data", "acme")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	mg := m["moegate"].(map[string]any)
	if m["model"] == "banking" {
		t.Fatalf("excluded expert answered: %v", m)
	}
	ex := mg["excluded"].([]any)
	if len(ex) != 1 || ex[0].(map[string]any)["name"] != "banking" || !strings.Contains(ex[0].(map[string]any)["reason"].(string), "acme") {
		t.Fatalf("excluded = %v", ex)
	}
	w = env.do("POST", "/v1/chat/completions", `{"model":"banking","moegate":{"exclude_data":["acme"]},"messages":[{"role":"user","content":"x"}]}`)
	assertError(t, w, 403, "expert_excluded", "model")
}

func TestMetricsAndHealth(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	env.do("POST", "/v1/chat/completions", hello)
	if w := env.do("GET", "/healthz", ""); w.Code != 200 {
		t.Fatalf("healthz %d", w.Code)
	}
	if w := env.do("GET", "/readyz", ""); w.Code != 200 {
		t.Fatalf("readyz %d %s", w.Code, w.Body)
	}
	w := env.do("GET", "/metrics", "")
	for _, series := range []string{"moegate_http_requests_total", `moegate_expert_requests_total{expert="banking",status="ok"} 1`, "moegate_routing_decisions_total", "moegate_tokens_total"} {
		if !strings.Contains(w.Body.String(), series) {
			t.Errorf("metrics lack %s", series)
		}
	}
}

func TestReadyzFailsWithoutDefaultExpert(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{DefaultExpert: "missing"}, nil)
	if w := env.do("GET", "/readyz", ""); w.Code != 503 {
		t.Fatalf("readyz = %d, want 503: %s", w.Code, w.Body)
	}
}

func TestRateLimit(t *testing.T) {
	env := newTestEnv(t, Options{AuthRequired: true, AdminToken: "adm"}, gateway.Options{}, nil)
	w := env.do("POST", "/admin/tenants", `{"name":"acme","rpm":2}`, "Authorization", "Bearer adm")
	if w.Code != 201 {
		t.Fatalf("create tenant: %d %s", w.Code, w.Body)
	}
	key := decode(t, w)["key"].(string)
	assertError(t, env.do("POST", "/v1/chat/completions", hello), 401, "invalid_api_key", "")
	assertError(t, env.do("POST", "/v1/chat/completions", hello, "Authorization", "Bearer nope"), 401, "invalid_api_key", "")
	for i := range 2 {
		if w := env.do("POST", "/v1/chat/completions", hello, "Authorization", "Bearer "+key); w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	w = env.do("POST", "/v1/chat/completions", hello, "Authorization", "Bearer "+key)
	assertError(t, w, 429, "rate_limit_exceeded", "")
	if ra := w.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After = %q", ra)
	}

	// Each tenant sees its own usage only; the admin sees everyone's.
	w = env.do("GET", "/v1/usage", "", "Authorization", "Bearer "+key)
	if u := decode(t, w); w.Code != 200 || u["tenant"] != "acme" || u["requests"].(float64) != 2 {
		t.Fatalf("own usage: %d %s", w.Code, w.Body)
	}
	w = env.do("GET", "/admin/usage", "", "Authorization", "Bearer adm")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"acme"`) {
		t.Fatalf("admin usage: %d %s", w.Code, w.Body)
	}
}

func TestEmbeddings(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	w := env.do("POST", "/v1/embeddings", `{"model":"moegate-embed","input":["a b","c"]}`)
	m := decode(t, w)
	data := m["data"].([]any)
	if w.Code != 200 || len(data) != 2 || len(data[0].(map[string]any)["embedding"].([]any)) != 256 || m["model"] != "moegate-embed" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = env.do("POST", "/v1/embeddings", `{"model":"moegate-embed","input":"hello","encoding_format":"base64"}`)
	if s, ok := decode(t, w)["data"].([]any)[0].(map[string]any)["embedding"].(string); !ok || len(s) == 0 {
		t.Fatalf("base64: %s", w.Body)
	}
	// dimensions: the local embedder hashes into as many buckets as asked.
	w = env.do("POST", "/v1/embeddings", `{"model":"moegate-embed","input":"hello world","dimensions":64}`)
	if v := decode(t, w)["data"].([]any)[0].(map[string]any)["embedding"].([]any); w.Code != 200 || len(v) != 64 {
		t.Fatalf("dimensions 64: %d %s", w.Code, w.Body)
	}
	assertError(t, env.do("POST", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a"}`), 404, "model_not_found", "model")
	assertError(t, env.do("POST", "/v1/embeddings", `{"input":"a"}`), 400, "", "model")
	assertError(t, env.do("POST", "/v1/embeddings", `{"model":"moegate-embed","input":"a","dimensions":0}`), 400, "", "dimensions")
	assertError(t, env.do("POST", "/v1/embeddings", `{"model":"moegate-embed","input":"a","dimensions":100000000}`), 400, "", "dimensions")
	assertError(t, env.do("POST", "/v1/embeddings", `{"model":"moegate-embed","input":[1,2]}`), 400, "", "input")
}

// An embedder that cannot change its size refuses other dimensions.
func TestEmbeddingDimensionsFixedEmbedder(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{EmbedModels: []string{"moegate-embed", "remote-embed"}}, func(d *gateway.Deps) {
		d.Embedder = fixedEmbedder{embed.NewLocal(32)}
	})
	if w := env.do("POST", "/v1/embeddings", `{"model":"remote-embed","input":"a","dimensions":32}`); w.Code != 200 {
		t.Fatalf("its own size: %d %s", w.Code, w.Body)
	}
	assertError(t, env.do("POST", "/v1/embeddings", `{"model":"remote-embed","input":"a","dimensions":16}`), 400, "", "dimensions")
}

// fixedEmbedder is an embedder of one size (like a remote model).
type fixedEmbedder struct{ l *embed.Local }

func (f fixedEmbedder) Dim() int { return f.l.Dim() }
func (f fixedEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return f.l.Embed(ctx, texts)
}

// BenchmarkChatOverhead measures the gateway's own cost per request through
// the whole handler stack with an instant in-process expert: with the static
// router, and with the learned router and the response cache (all misses).
func BenchmarkChatOverhead(b *testing.B) {
	b.Run("static", func(b *testing.B) { benchChat(b, newTestEnv(b, Options{}, gateway.Options{}, nil)) })
	b.Run("learned+cache", func(b *testing.B) {
		l := router.NewLearned(embed.NewLocal(router.LocalFeatureDim), router.Options{})
		var ex []router.Example
		for i, q := range []string{"balance", "transfer money", "my account", "credit card", "flight to rome", "hotel booking", "pack my suitcase", "passport"} {
			ex = append(ex, router.Example{Text: q + " please", Expert: []string{"banking", "travel"}[i/4]})
		}
		m, err := l.Train(context.Background(), ex)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Install(m); err != nil {
			b.Fatal(err)
		}
		benchChat(b, newTestEnv(b, Options{}, gateway.Options{}, func(d *gateway.Deps) {
			d.Router = l
			d.Cache = policies.NewMemoryCache(policies.CacheOptions{Threshold: 2}) // semantic lookup off: every request misses
		}))
	})
	// What production runs: ten openai-kind experts on an instant upstream
	// over loopback HTTP, the learned router on its default features
	// (n-grams, stems, concepts) trained on examples and descriptions, the
	// default 2,048-dimension embedder and the response cache with
	// semantic lookup on, every question new (so every lookup searches a
	// full scope and misses); answered whole and streamed.
	// What the upstream and an HTTP client alone allocate per request
	// (both run in this process, so their allocations are in the
	// gateway's figures below).
	b.Run("upstream and client alone", func(b *testing.B) {
		up := httptest.NewServer(loadgen.Upstream())
		defer up.Close()
		client := &http.Client{Transport: openai.NewTransport(32)}
		body := []byte(`{"model":"instant","messages":[{"role":"user","content":"hello"}]}`)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Post(up.URL+"/v1/chat/completions", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	for _, tt := range []struct {
		name   string
		byName bool
		stream bool
	}{
		{"routed+cache, 10 openai experts", false, false},
		{"routed+cache, 10 openai experts, stream", false, true},
		{"by name+cache, 10 openai experts", true, false},
	} {
		b.Run(tt.name, func(b *testing.B) {
			up := httptest.NewServer(loadgen.Upstream())
			defer up.Close()
			env, domains := benchOpenAIExperts(b, up.URL)
			streamed := ""
			if tt.stream {
				streamed = `,"stream":true`
			}
			benchChatBodies(b, env, func(i int) string {
				d := domains[i%len(domains)]
				model := "auto"
				if tt.byName {
					model = d + "-up"
				}
				return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"a %s question, %s, ref %x"}]%s}`, model, d, strings.Repeat(domains[(i*7+3)%10]+" ", i%5), i*2654435761, streamed)
			})
		})
	}
}

// benchOpenAIExperts is a gateway with ten openai-kind experts on the
// upstream at url, routed as a production gateway routes them.
func benchOpenAIExperts(b testing.TB, url string) (*testEnv, []string) {
	domains := []string{"banking", "medicine", "law", "cooking", "travel", "sports", "astronomy", "programming", "gardening", "music"}
	var ex []router.Example
	for _, d := range domains {
		for i := range 6 {
			ex = append(ex, router.Example{Text: fmt.Sprintf("a question about %s number %d", d, i), Expert: d + "-up"})
		}
		ex = append(ex, router.DescriptionExamples(d+"-up", "questions about "+d)...)
	}
	l := router.NewLearned(router.NewLexical(embed.NewLocal(router.LocalFeatureDim), router.LexicalOptions{}), router.Options{})
	m, err := l.Train(context.Background(), ex)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Install(m); err != nil {
		b.Fatal(err)
	}
	env := newTestEnv(b, Options{}, gateway.Options{}, func(d *gateway.Deps) {
		d.Router = l
		d.Embedder = embed.NewLocal(2048)
		d.Cache = policies.NewMemoryCache(policies.CacheOptions{})
	})
	for _, d := range domains {
		if _, err := env.reg.Add(context.Background(), experts.Spec{Name: d + "-up", Kind: experts.KindOpenAI, BaseURL: url, Model: "instant"}); err != nil {
			b.Fatal(err)
		}
	}
	return env, domains
}

func benchChat(b *testing.B, env *testEnv) {
	body := `{"model":"auto","messages":[{"role":"user","content":"what is the balance of my checking account"}]}`
	// A distinct query each time, so the cache never answers.
	benchChatBodies(b, env, func(i int) string { return strings.Replace(body, "account", fmt.Sprint("account ", i), 1) })
}

func benchChatBodies(b *testing.B, env *testEnv, body func(i int) string) {
	h := env.srv.Handler()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body(i)))
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, req)
		lat = append(lat, time.Since(start))
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sorted := append([]time.Duration(nil), lat...)
	slices.Sort(sorted)
	b.ReportMetric(float64(sorted[len(sorted)/2].Microseconds()), "p50_us")
	b.ReportMetric(float64(sorted[len(sorted)*99/100].Microseconds()), "p99_us")
}

func TestCache(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, func(d *gateway.Deps) { d.Cache = policies.NewMemoryCache(policies.CacheOptions{}) })
	first := decode(t, env.do("POST", "/v1/chat/completions", hello))
	banking := env.experts["banking"].(*echoExpert)
	calls := banking.calls.Load()
	w := env.do("POST", "/v1/chat/completions", hello)
	second := decode(t, w)
	if c := second["moegate"].(map[string]any)["cache"].(map[string]any); c["hit"] != true || c["kind"] != "exact" {
		t.Fatalf("second request not served from cache: %v", c)
	}
	if banking.calls.Load() != calls {
		t.Fatal("a cache hit called the expert")
	}
	if first["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"] != second["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"] {
		t.Fatal("cached answer differs")
	}
	if !strings.Contains(w.Header().Get("X-Moegate-Route"), "cache=exact") {
		t.Fatalf("header: %q", w.Header().Get("X-Moegate-Route"))
	}
	// Cache-Control: no-cache refreshes, no-store bypasses, a sampled
	// request is not served, and the moegate object says so.
	for _, tt := range []struct {
		body, header, mode string
	}{
		{hello, "no-cache", "refresh"},
		{hello, "no-store", "off"},
		{`{"model":"auto","temperature":1.5,"messages":[{"role":"user","content":"hello there"}]}`, "", "off"},
		{`{"model":"auto","moegate":{"cache":"off"},"messages":[{"role":"user","content":"hello there"}]}`, "max-age=0", "off"},
	} {
		before := banking.calls.Load()
		c := decode(t, env.do("POST", "/v1/chat/completions", tt.body, "Cache-Control", tt.header))["moegate"].(map[string]any)["cache"].(map[string]any)
		if c["hit"] != false || c["mode"] != tt.mode || c["reason"] == nil || banking.calls.Load() != before+1 {
			t.Fatalf("%s with Cache-Control %q: cache %v, want a fresh answer, mode %s", tt.body, tt.header, c, tt.mode)
		}
	}
	assertError(t, env.do("POST", "/v1/chat/completions", `{"model":"auto","moegate":{"cache":"sometimes"},"messages":[{"role":"user","content":"x"}]}`), 400, "", "moegate")
	// Excluding the expert that produced the cached answer: no hit, another expert answers.
	third := decode(t, env.do("POST", "/v1/chat/completions", hello, "X-Moegate-Exclude-Data", "acme"))
	if third["moegate"].(map[string]any)["cache"].(map[string]any)["hit"] != false || third["model"] == "banking" {
		t.Fatalf("excluded expert's cached answer served: %v", third["moegate"])
	}
	// Streaming requests are served from the cache too.
	srv := httptest.NewServer(env.srv.Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"auto","stream":true,"messages":[{"role":"user","content":"hello there"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"hit":true`) || !strings.Contains(string(body), "banking says: hello there") || !strings.HasSuffix(strings.TrimSpace(string(body)), "data: [DONE]") {
		t.Fatalf("stream from cache: %s", body)
	}
}

// FuzzChatRequest: no request body makes the handler panic or answer 5xx.
func FuzzChatRequest(f *testing.F) {
	for _, seed := range []string{
		hello,
		`{"model":"auto","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}]}`,
		`{"model":"banking","moegate":{"exclude_data":["acme"],"top_k":2,"aggregate":"parallel-best"},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"auto","stop":["a"],"temperature":0.5,"top_p":1,"max_tokens":3,"seed":1,"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}]}`,
		`{"model":"auto","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"1"}]},{"role":"tool","tool_call_id":"1","content":"r"}]}`,
		`{"model":1}`, `[]`, `null`, `{"messages":{}}`,
	} {
		f.Add(seed, "")
		f.Add(seed, "acme, ,x")
	}
	env := newTestEnv(f, Options{}, gateway.Options{}, func(d *gateway.Deps) { d.Cache = policies.NewMemoryCache(policies.CacheOptions{}) })
	f.Fuzz(func(t *testing.T, body, excludeHeader string) {
		w := env.do("POST", "/v1/chat/completions", body, "X-Moegate-Exclude-Data", excludeHeader)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if w.Code != 200 {
			assertError(t, w, w.Code, "", "")
		}
	})
}

// twoExperts routes every query to banking (0.7) and travel (0.3).
type twoExperts struct{}

func (twoExperts) Route(_ context.Context, q router.Query) (router.Decision, error) {
	d := router.Decision{Router: "test"}
	for _, c := range []router.Choice{{Name: "banking", Weight: 0.7}, {Name: "travel", Weight: 0.3}} {
		if slices.Contains(q.Candidates, c.Name) {
			d.Experts = append(d.Experts, c)
		}
	}
	d.Experts = router.Renormalize(d.Experts)
	return d, nil
}

func TestAggregationStrategies(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, func(d *gateway.Deps) { d.Router = twoExperts{} })
	cases := []struct {
		aggregate, wantModel, wantPrefix string
		wantCalls                        int
	}{
		{"top1", "banking", "banking says", 2},          // travel is the unused fallback
		{"parallel-best", "banking", "banking says", 2}, // both asked, best weight wins
		{"synthesize", "local", "local says", 3},        // both asked, the default expert merges
	}
	for _, tc := range cases {
		t.Run(tc.aggregate, func(t *testing.T) {
			w := env.do("POST", "/v1/chat/completions", `{"model":"auto","moegate":{"aggregate":"`+tc.aggregate+`"},"messages":[{"role":"user","content":"q"}]}`)
			m := decode(t, w)
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			content := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
			mg := m["moegate"].(map[string]any)
			if m["model"] != tc.wantModel || !strings.HasPrefix(content, tc.wantPrefix) || mg["aggregate"] != tc.aggregate {
				t.Fatalf("model %v content %q aggregate %v", m["model"], content, mg["aggregate"])
			}
			if calls := mg["experts"].([]any); len(calls) != tc.wantCalls {
				t.Fatalf("calls = %v", calls)
			}
			if len(mg["route"].(map[string]any)["experts"].([]any)) != 2 {
				t.Fatalf("route: %v", mg["route"])
			}
		})
	}
	// Excluding travel renormalises banking to the whole weight.
	m := decode(t, env.do("POST", "/v1/chat/completions", `{"model":"auto","moegate":{"exclude_experts":["travel"]},"messages":[{"role":"user","content":"q"}]}`))
	if ex := m["moegate"].(map[string]any)["route"].(map[string]any)["experts"].([]any); len(ex) != 1 || ex[0].(map[string]any)["weight"] != 1.0 {
		t.Fatalf("route after exclusion: %v", ex)
	}
}

func TestExpertTimeoutIs504(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{RequestTimeout: 200 * time.Millisecond}, nil)
	env.experts["slow"] = &blockingExpert{started: make(chan struct{}), cancelled: make(chan struct{})}
	if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "slow", Kind: experts.KindLocal}); err != nil {
		t.Fatal(err)
	}
	w := env.do("POST", "/v1/chat/completions", `{"model":"slow","messages":[{"role":"user","content":"x"}]}`)
	assertError(t, w, 504, "expert_timeout", "")
	if !strings.Contains(w.Body.String(), "slow") {
		t.Fatalf("504 does not name the expert: %s", w.Body)
	}
}

// stalledRouter stands for a routing step whose store stopped answering.
type stalledRouter struct{}

func (stalledRouter) Route(ctx context.Context, _ router.Query) (router.Decision, error) {
	<-ctx.Done()
	return router.Decision{}, ctx.Err()
}

// The request timeout bounds the whole request, planning included, not
// only the experts' answers: a stalled routing step ends in a 504.
func TestRequestTimeoutCoversPlanning(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{RequestTimeout: 200 * time.Millisecond}, func(d *gateway.Deps) {
		d.Router = stalledRouter{}
	})
	for _, path := range []string{"/v1/chat/completions", "/admin/chat/completions"} {
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() {
			done <- env.do("POST", path, `{"model":"auto","messages":[{"role":"user","content":"x"}]}`, "Authorization", "Bearer admin-token")
		}()
		select {
		case w := <-done:
			assertError(t, w, 504, "timeout", "")
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer 10 s after a 200 ms request timeout", path)
		}
	}
}

// The Responses and legacy completions endpoints answer through the same
// pipeline as chat, and refuse what they cannot honour with a 400 naming
// the parameter.
func TestResponsesAndCompletions(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	r := decode(t, env.do("POST", "/v1/responses", `{"model":"auto","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"hello there"}]}]}`))
	out := r["output"].([]any)[0].(map[string]any)
	if r["object"] != "response" || r["status"] != "completed" || r["model"] != "banking" || out["content"].([]any)[0].(map[string]any)["text"] != "banking says: hello there" || r["moegate"] == nil {
		t.Fatalf("response: %v", r)
	}
	c := decode(t, env.do("POST", "/v1/completions", `{"model":"travel","prompt":"once upon","echo":true}`))
	if c["object"] != "text_completion" || c["choices"].([]any)[0].(map[string]any)["text"] != "once upontravel says: once upon" {
		t.Fatalf("completion: %v", c)
	}
	for _, tt := range []struct{ path, body, param string }{
		{"/v1/responses", `{"model":"auto"}`, "input"},
		{"/v1/responses", `{"model":"auto","input":"x","previous_response_id":"resp_1"}`, "previous_response_id"},
		{"/v1/responses", `{"model":"auto","input":"x","tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{"/v1/responses", `{"model":"auto","input":[{"type":"reasoning"}]}`, "input[0].type"},
		{"/v1/responses", `{"model":"auto","input":"x","text":{"format":{"type":"yaml"}}}`, "text.format.type"},
		{"/v1/responses", `{"model":"auto","input":"x","temperature":3}`, "temperature"},
		{"/v1/responses", `{"model":"auto","input":"x","max_output_tokens":0}`, "max_output_tokens"},
		{"/v1/completions", `{"model":"auto"}`, "prompt"},
		{"/v1/completions", `{"model":"auto","prompt":["a","b"]}`, "prompt"},
		{"/v1/completions", `{"model":"auto","prompt":[1,2]}`, "prompt"},
		{"/v1/completions", `{"model":"auto","prompt":"a","suffix":"b"}`, "suffix"},
		{"/v1/completions", `{"model":"auto","prompt":"a","logprobs":2}`, "logprobs"},
		{"/v1/completions", `{"model":"auto","prompt":"a","n":2}`, "n"},
	} {
		assertError(t, env.do("POST", tt.path, tt.body), 400, "", tt.param)
	}
}

// PATCH is a JSON merge patch: a partial patch keeps everything it does not
// name (examples, description, system prompt); null removes a member; an
// invalid result is refused with nothing stored. PUT replaces the whole
// spec. The same holds for tenants.
func TestAdminPatch(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	auth := []string{"Authorization", "Bearer admin-token"}
	var examples []string
	for i := range 1500 {
		examples = append(examples, fmt.Sprintf("banking example %d", i))
	}
	spec, _ := json.Marshal(map[string]any{"name": "legal", "kind": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m",
		"description": "Contracts and law", "system_prompt": "You are a lawyer.", "examples": examples, "tags": []string{"law"}})
	if w := env.do("POST", "/admin/experts", string(spec), auth...); w.Code != 201 {
		t.Fatalf("add: %d %s", w.Code, w.Body)
	}
	w := env.do("PATCH", "/admin/experts/legal", `{"model":"m2","timeout":"30s","tags":null,"capabilities":{"vision":false}}`, auth...)
	if w.Code != 200 {
		t.Fatalf("patch: %d %s", w.Code, w.Body)
	}
	e, _ := env.reg.Get("legal")
	s := e.Spec
	if s.Model != "m2" || s.Timeout.Std() != 30*time.Second || len(s.Tags) != 0 || s.Capabilities.Vision == nil || *s.Capabilities.Vision ||
		len(s.Examples) != 1500 || s.Description != "Contracts and law" || s.SystemPrompt != "You are a lawyer." || s.BaseURL != "http://127.0.0.1:1/v1" {
		t.Fatalf("after a partial patch: %+v", s)
	}
	for _, tt := range []struct {
		body   string
		status int
		param  string
	}{
		{`{"timeout":"forever"}`, 400, ""},
		{`{"kind":null}`, 400, "kind"},
		{`{"max_concurrency":-1}`, 400, "max_concurrency"},
		{`{"name":"other"}`, 400, "name"},
		{`{"modle":"typo"}`, 400, "modle"},
		{`{"max_concurrency":"many"}`, 400, "max_concurrency"},
		{`["not","an","object"]`, 400, ""},
	} {
		assertError(t, env.do("PATCH", "/admin/experts/legal", tt.body, auth...), tt.status, "", tt.param)
	}
	if e2, _ := env.reg.Get("legal"); !e2.Spec.UpdatedAt.Equal(s.UpdatedAt) || e2.Spec.Model != "m2" {
		t.Fatalf("a refused patch changed the expert: %+v", e2.Spec)
	}
	assertError(t, env.do("PATCH", "/admin/experts/none", `{"model":"x"}`, auth...), 404, "", "")
	// PUT is a full replacement: what it leaves out is gone.
	if w := env.do("PUT", "/admin/experts/legal", `{"kind":"openai","base_url":"http://127.0.0.1:1/v1","model":"m3"}`, auth...); w.Code != 200 {
		t.Fatalf("put: %d %s", w.Code, w.Body)
	}
	if e, _ := env.reg.Get("legal"); len(e.Spec.Examples) != 0 || e.Spec.Description != "" || e.Spec.Model != "m3" {
		t.Fatalf("PUT did not replace: %+v", e.Spec)
	}

	// Tenants.
	w = env.do("POST", "/admin/tenants", `{"name":"acme","rpm":10,"denied_data":["globex"],"max_k":2}`, auth...)
	if w.Code != 201 {
		t.Fatalf("create tenant: %d %s", w.Code, w.Body)
	}
	key := decode(t, w)["key"].(string)
	w = env.do("PATCH", "/admin/tenants/acme", `{"rpm":20,"max_k":null}`, auth...)
	if got := decode(t, w); w.Code != 200 || got["rpm"] != 20.0 || got["max_k"] != nil || got["denied_data"].([]any)[0] != "globex" {
		t.Fatalf("patch tenant: %d %v", w.Code, got)
	}
	assertError(t, env.do("PATCH", "/admin/tenants/acme", `{"rpm":-5}`, auth...), 400, "", "")
	assertError(t, env.do("PATCH", "/admin/tenants/nobody", `{"rpm":5}`, auth...), 404, "", "")
	if w := env.do("PUT", "/admin/tenants/acme", `{"rpm":7}`, auth...); w.Code != 200 || decode(t, w)["denied_data"] != nil {
		t.Fatalf("put tenant: %d %s", w.Code, w.Body)
	}
	if tn, err := env.srv.deps.Tenants.Authenticate(context.Background(), key); err != nil || tn.RPM != 7 {
		t.Fatalf("the key after updates: %+v %v", tn, err)
	}
}

// With auth "none" a tenant's key is still honoured (its limits apply), an
// unknown key is the default tenant, and answers carry OpenAI's
// x-ratelimit-* headers for the limits the tenant has.
func TestRateLimitHeadersAndKeysWithoutAuth(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	w := env.do("POST", "/admin/tenants", `{"name":"acme","rpm":2,"tpm":1000}`, "Authorization", "Bearer admin-token")
	if w.Code != 201 {
		t.Fatalf("create tenant: %d %s", w.Code, w.Body)
	}
	key := decode(t, w)["key"].(string)
	for i, want := range []string{"1", "0"} {
		w := env.do("POST", "/v1/chat/completions", hello, "Authorization", "Bearer "+key)
		h := w.Header()
		if w.Code != 200 || decode(t, w)["moegate"].(map[string]any)["tenant"] != "acme" {
			t.Fatalf("request %d with the tenant's key: %d %s", i, w.Code, w.Body)
		}
		if h.Get("x-ratelimit-limit-requests") != "2" || h.Get("x-ratelimit-remaining-requests") != want || h.Get("x-ratelimit-limit-tokens") != "1000" {
			t.Fatalf("request %d headers: %v", i, h)
		}
		if d, err := time.ParseDuration(h.Get("x-ratelimit-reset-requests")); err != nil || d <= 0 || d > time.Minute {
			t.Fatalf("x-ratelimit-reset-requests %q", h.Get("x-ratelimit-reset-requests"))
		}
	}
	w = env.do("POST", "/v1/chat/completions", hello, "Authorization", "Bearer "+key)
	assertError(t, w, 429, "rate_limit_exceeded", "")
	if w.Header().Get("x-ratelimit-remaining-requests") != "0" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("429 headers: %v", w.Header())
	}
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer sk-not-a-tenant"}} {
		w := env.do("POST", "/v1/chat/completions", hello, hdr...)
		if w.Code != 200 || decode(t, w)["moegate"].(map[string]any)["tenant"] != "default" || w.Header().Get("x-ratelimit-limit-requests") != "" {
			t.Fatalf("without a tenant key (%v): %d %v %s", hdr, w.Code, w.Header(), w.Body)
		}
	}
}
