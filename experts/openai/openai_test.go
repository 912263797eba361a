package openai

import (
	"bytes"
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
	"github.com/moegate/moegate/internal/units"
)

// received is what a test upstream saw.
type received struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

// upstream is an OpenAI-compatible test server. handle writes the reply;
// nil replies with a fixed completion.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newUpstream(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body map[string]any)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("upstream got non-JSON body %q", raw)
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
		if handle == nil {
			writeCompletion(w, "hello", "stop")
			return
		}
		handle(w, r, body)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]received(nil), u.reqs...)
}

func writeCompletion(w http.ResponseWriter, content, finish string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m",
		"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":%q}],
		"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`, content, finish)
}

// writeSSE streams events as server-sent events, flushing each.
func writeSSE(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	f := w.(http.Flusher)
	for _, e := range events {
		fmt.Fprintf(w, "data: %s\n\n", e)
		f.Flush()
	}
}

func chunk(content string) string {
	return fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, content)
}

// block waits until the client goes away (or a safety limit).
func block(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func newTestOpenAI(t *testing.T, u *upstream, edit func(*experts.Spec)) *Expert {
	t.Helper()
	s := experts.Spec{Name: "up", Kind: experts.KindOpenAI, BaseURL: u.URL, Model: "gpt-test"}
	if edit != nil {
		edit(&s)
	}
	o, err := New(s, u.Client())
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	return o
}

func ptr[T any](v T) *T { return &v }

func TestOpenAICompleteMapsRequest(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":"",
			"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":1}"}}]},
			"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
	})
	t.Setenv("MOEGATE_TEST_KEY", "sk-secret")
	o := newTestOpenAI(t, u, func(s *experts.Spec) {
		s.APIKeyEnv = "MOEGATE_TEST_KEY"
		s.Headers = map[string]string{"X-Tenant": "acme"}
		s.SystemPrompt = "You are a bank."
	})
	req := &experts.Request{
		Messages: []experts.Message{
			{Role: "user", Content: "balance?", Name: "ann"},
			{Role: "assistant", ToolCalls: json.RawMessage(`[{"id":"call_0","type":"function","function":{"name":"lookup","arguments":"{}"}}]`)},
			{Role: "tool", Content: "42", ToolCallID: "call_0"},
		},
		Temperature:    ptr(float32(0)),
		TopP:           ptr(float32(0.5)),
		MaxTokens:      64,
		Stop:           []string{"END"},
		Seed:           ptr(7),
		User:           "u-1",
		Tools:          json.RawMessage(`[{"type":"function","function":{"name":"lookup","description":"d","parameters":{"type":"object","properties":{"q":{"type":"integer"}},"required":["q"]}}}]`),
		ToolChoice:     json.RawMessage(`{"type":"function","function":{"name":"lookup"}}`),
		ResponseFormat: json.RawMessage(`{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","title":"T"},"strict":true}}`),
	}
	resp, err := o.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.FinishReason != "tool_calls" || resp.Usage != (experts.Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}) {
		t.Fatalf("response %+v", resp)
	}
	var calls []map[string]any
	if err := json.Unmarshal(resp.ToolCalls, &calls); err != nil || len(calls) != 1 || calls[0]["id"] != "call_1" {
		t.Fatalf("tool calls %s (%v)", resp.ToolCalls, err)
	}

	reqs := u.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	got := reqs[0]
	if got.Path != "/v1/chat/completions" {
		t.Errorf("path %q: a base URL without a path should get /v1", got.Path)
	}
	if h := got.Header.Get("Authorization"); h != "Bearer sk-secret" {
		t.Errorf("Authorization %q", h)
	}
	if h := got.Header.Get("X-Tenant"); h != "acme" {
		t.Errorf("X-Tenant %q", h)
	}
	b := got.Body
	if b["model"] != "gpt-test" || b["max_tokens"] != 64.0 || b["seed"] != 7.0 || b["user"] != "u-1" || b["top_p"] != 0.5 {
		t.Errorf("scalar fields: %v", b)
	}
	if temp, ok := b["temperature"].(float64); !ok || temp > 1e-6 {
		t.Errorf("temperature 0 must be sent as ~0, got %v", b["temperature"])
	}
	if fmt.Sprint(b["stop"]) != "[END]" {
		t.Errorf("stop %v", b["stop"])
	}
	msgs := b["messages"].([]any)
	if len(msgs) != 4 {
		t.Fatalf("messages %v", msgs)
	}
	first := msgs[0].(map[string]any)
	if first["role"] != "system" || first["content"] != "You are a bank." {
		t.Errorf("system prompt not prepended: %v", first)
	}
	if m := msgs[1].(map[string]any); m["name"] != "ann" {
		t.Errorf("name lost: %v", m)
	}
	if m := msgs[2].(map[string]any); fmt.Sprint(m["tool_calls"]) != "[map[function:map[arguments:{} name:lookup] id:call_0 type:function]]" {
		t.Errorf("assistant tool_calls: %v", m["tool_calls"])
	}
	if m := msgs[3].(map[string]any); m["tool_call_id"] != "call_0" || m["role"] != "tool" {
		t.Errorf("tool message: %v", m)
	}
	// Pass-through fields arrive as the client sent them.
	for field, raw := range map[string]json.RawMessage{"tools": req.Tools, "tool_choice": req.ToolChoice, "response_format": req.ResponseFormat} {
		var want any
		json.Unmarshal(raw, &want)
		if fmt.Sprint(b[field]) != fmt.Sprint(want) {
			t.Errorf("%s:\n got %v\nwant %v", field, b[field], want)
		}
	}
}

func TestOpenAIBaseURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://h:8000", "http://h:8000/v1"},
		{"http://h:8000/v1", "http://h:8000/v1"},
		{"https://h/openai/v1", "https://h/openai/v1"},
		{"https://h/api", "https://h/api"},
	}
	for _, tt := range tests {
		if got := apiBase(tt.in); got != tt.want {
			t.Errorf("apiBase(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	u := newUpstream(t, nil)
	o := newTestOpenAI(t, u, func(s *experts.Spec) { s.BaseURL = u.URL + "/custom/v1/" })
	if _, err := o.Complete(context.Background(), &experts.Request{Messages: []experts.Message{{Role: "user", Content: "hi"}}}); err != nil {
		t.Fatal(err)
	}
	if p := u.requests()[0].Path; p != "/custom/v1/chat/completions" {
		t.Fatalf("path %q", p)
	}
}

// The request an expert posts is the one NewRequestWithContext makes for
// its endpoint, with a URL of its own.
func TestNewRequestAsNewRequest(t *testing.T) {
	ctx := context.WithValue(context.Background(), ptr("key"), "value")
	body := []byte(`{"model":"m"}`)
	for _, base := range []string{
		"http://h:8000", "http://h:8000/v1/", "https://h/openai/v1", "http://[::1]:8080/v1", "http://h:/v1",
		"https://h/a%20b/v1", "http://h/v1?api-version=2024", "http://h/v1#frag",
	} {
		o, err := New(experts.Spec{Name: "up", Kind: experts.KindOpenAI, BaseURL: base, Model: "m",
			Headers: map[string]string{"X-Extra": "1"}}, nil)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		want, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(apiBase(base), "/")+"/chat/completions", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			got, err := o.newRequest(ctx, body)
			if err != nil {
				t.Fatalf("%s: %v", base, err)
			}
			gotBody, _ := io.ReadAll(got.Body)
			var again []byte
			if got.GetBody != nil {
				rewound, err := got.GetBody()
				if err != nil {
					t.Fatal(err)
				}
				again, _ = io.ReadAll(rewound)
			}
			if string(again) != string(body) {
				t.Errorf("%s request %d: GetBody gave %q", base, i, again)
			}
			if got.Method != want.Method || got.URL.String() != want.URL.String() || *got.URL != *want.URL || got.Host != want.Host ||
				got.ContentLength != want.ContentLength || string(gotBody) != string(body) || got.GetBody == nil || got.Context() != ctx ||
				got.Proto != want.Proto || got.Header.Get("X-Extra") != "1" || got.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s request %d: %s %s host %q length %d body %q; want %s %s host %q length %d",
					base, i, got.Method, got.URL, got.Host, got.ContentLength, gotBody, want.Method, want.URL, want.Host, want.ContentLength)
			}
			got.URL.Path = "/changed" // by a client: not the next request's
		}
	}
}

// An upstream that redirects (307) gets the request again at the new
// address: the body (from GetBody) and the expert's headers.
func TestOpenAIFollowsRedirect(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if r.URL.Path == "/v1/chat/completions" {
			http.Redirect(w, r, "/moved/chat/completions", http.StatusTemporaryRedirect)
			return
		}
		writeCompletion(w, "moved", "stop")
	})
	o := newTestOpenAI(t, u, func(s *experts.Spec) { s.Headers = map[string]string{"X-Extra": "1"} })
	for range 2 {
		resp, err := o.Complete(context.Background(), &experts.Request{Messages: []experts.Message{{Role: "user", Content: "hi"}}})
		if err != nil || resp.Content != "moved" {
			t.Fatalf("Complete = %+v, %v", resp, err)
		}
	}
	reqs := u.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i, r := range reqs {
		wantPath := []string{"/v1/chat/completions", "/moved/chat/completions"}[i%2]
		if r.Path != wantPath || r.Header.Get("X-Extra") != "1" || r.Body["model"] != "gpt-test" {
			t.Errorf("request %d: %s, X-Extra %q, body %v", i, r.Path, r.Header.Get("X-Extra"), r.Body)
		}
	}
}

func TestOpenAIReasoningModel(t *testing.T) {
	u := newUpstream(t, nil)
	o := newTestOpenAI(t, u, func(s *experts.Spec) { s.Model = "o3-mini" })
	if _, err := o.Complete(context.Background(), &experts.Request{MaxTokens: 50}); err != nil {
		t.Fatal(err)
	}
	b := u.requests()[0].Body
	if b["max_completion_tokens"] != 50.0 || b["max_tokens"] != nil {
		t.Fatalf("body %v: reasoning models take max_completion_tokens", b)
	}
	if _, err := o.Complete(context.Background(), &experts.Request{Temperature: ptr(float32(0.3))}); !errors.Is(err, experts.ErrInvalid) {
		t.Fatalf("temperature on a reasoning model: %v, want ErrInvalid", err)
	}
}

func TestOpenAIConstruction(t *testing.T) {
	u := newUpstream(t, nil)
	_, err := New(experts.Spec{Name: "x", Kind: experts.KindOpenAI, BaseURL: u.URL, Model: "m", APIKeyEnv: "MOEGATE_SURELY_UNSET_VAR"}, nil)
	if !errors.Is(err, experts.ErrInvalid) {
		t.Fatalf("unset key variable: %v, want ErrInvalid", err)
	}
	_, err = New(experts.Spec{Name: "x", Kind: experts.KindLocal}, nil)
	if !errors.Is(err, experts.ErrInvalid) {
		t.Fatalf("local spec: %v, want ErrInvalid", err)
	}
}

func TestOpenAIInvalidPassthrough(t *testing.T) {
	u := newUpstream(t, nil)
	o := newTestOpenAI(t, u, nil)
	tests := map[string]experts.Request{
		"tools":           {Tools: json.RawMessage(`{not json`)},
		"tools not list":  {Tools: json.RawMessage(`{"type":"function"}`)},
		"tool type":       {Tools: json.RawMessage(`[{"function":{"name":"f"}}]`)},
		"tool_choice":     {ToolChoice: json.RawMessage(`{"type":`)},
		"response_format": {ResponseFormat: json.RawMessage(`[1,2`)},
		"tool_calls":      {Messages: []experts.Message{{Role: "assistant", ToolCalls: json.RawMessage(`{"id":1}`)}}},
	}
	for name, req := range tests {
		if _, err := o.Complete(context.Background(), &req); !errors.Is(err, experts.ErrInvalid) {
			t.Errorf("%s: Complete = %v, want ErrInvalid", name, err)
		}
		if _, err := o.Stream(context.Background(), &req, func(experts.Delta) error { return nil }); !errors.Is(err, experts.ErrInvalid) {
			t.Errorf("%s: Stream = %v, want ErrInvalid", name, err)
		}
	}
	if n := len(u.requests()); n != 0 {
		t.Fatalf("invalid requests reached the upstream %d times", n)
	}
}

func TestOpenAIErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		retryable bool
	}{
		{"500 json", 500, `{"error":{"message":"boom","type":"server_error"}}`, true},
		{"429", 429, `{"error":{"message":"slow down","type":"rate_limit"}}`, true},
		{"400", 400, `{"error":{"message":"bad","type":"invalid_request_error"}}`, false},
		{"502 html", 502, `<html>bad gateway</html>`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			o := newTestOpenAI(t, u, nil)
			for _, mode := range []string{"complete", "stream"} {
				var err error
				if mode == "complete" {
					_, err = o.Complete(context.Background(), &experts.Request{})
				} else {
					_, err = o.Stream(context.Background(), &experts.Request{}, func(experts.Delta) error { return nil })
				}
				var ue *experts.UpstreamError
				if !errors.As(err, &ue) {
					t.Fatalf("%s: %v is not an *UpstreamError", mode, err)
				}
				if ue.Status != tt.status || ue.Expert != "up" || ue.Timeout || ue.Retryable() != tt.retryable {
					t.Fatalf("%s: %+v retryable=%v", mode, ue, ue.Retryable())
				}
			}
		})
	}
}

func TestOpenAIConnectionRefused(t *testing.T) {
	u := newUpstream(t, nil)
	o := newTestOpenAI(t, u, nil)
	u.Close()
	_, err := o.Complete(context.Background(), &experts.Request{})
	var ue *experts.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 0 || !ue.Retryable() {
		t.Fatalf("closed upstream: %v", err)
	}
}

func TestOpenAITimeout(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) { block(r) })
	o := newTestOpenAI(t, u, func(s *experts.Spec) { s.Timeout = units.Duration(100 * time.Millisecond) })
	for _, mode := range []string{"complete", "stream"} {
		start := time.Now()
		var err error
		if mode == "complete" {
			_, err = o.Complete(context.Background(), &experts.Request{})
		} else {
			_, err = o.Stream(context.Background(), &experts.Request{}, func(experts.Delta) error { return nil })
		}
		var ue *experts.UpstreamError
		if !errors.As(err, &ue) || !ue.Timeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v, want a timeout UpstreamError", mode, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s: took %v", mode, d)
		}
	}
}

func TestOpenAICancel(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if body["stream"] == true {
			writeSSE(w, chunk("partial"))
		}
		block(r)
	})
	o := newTestOpenAI(t, u, nil)
	for _, mode := range []string{"complete", "stream"} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		var err error
		if mode == "complete" {
			_, err = o.Complete(ctx, &experts.Request{})
		} else {
			_, err = o.Stream(ctx, &experts.Request{}, func(experts.Delta) error { return nil })
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: %v, want context.Canceled", mode, err)
		}
		var ue *experts.UpstreamError
		if errors.As(err, &ue) && ue.Timeout {
			t.Fatalf("%s: cancellation reported as timeout", mode)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%s: returned after %v", mode, d)
		}
	}
}

func TestOpenAIStream(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		writeSSE(w,
			`{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}`,
			chunk("Hel"),
			chunk("lo"),
			`{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"f","arguments":"{\"a\""}}]},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
			`{"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}`,
			`[DONE]`)
	})
	o := newTestOpenAI(t, u, nil)
	var deltas []experts.Delta
	resp, err := o.Stream(context.Background(), &experts.Request{Messages: []experts.Message{{Role: "user", Content: "hi"}}}, func(d experts.Delta) error {
		deltas = append(deltas, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(deltas) != 4 || deltas[0].Content != "Hel" || deltas[1].Content != "lo" || deltas[2].ToolCalls == nil {
		t.Fatalf("deltas %+v", deltas)
	}
	if got := string(deltas[3].ToolCalls); got != `[{"index":0,"function":{"arguments":":1}"}}]` {
		t.Fatalf("second tool-call fragment %s", got)
	}
	if got := string(deltas[2].ToolCalls); !strings.Contains(got, `"id":"call_9","type":"function"`) {
		t.Fatalf("first tool-call fragment %s", got)
	}
	if resp.Content != "Hello" || resp.FinishReason != "tool_calls" || resp.Usage != (experts.Usage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9}) {
		t.Fatalf("response %+v", resp)
	}
	var calls []struct {
		ID       string
		Type     string
		Function struct{ Name, Arguments string }
	}
	if err := json.Unmarshal(resp.ToolCalls, &calls); err != nil || len(calls) != 1 ||
		calls[0].ID != "call_9" || calls[0].Function.Name != "f" || calls[0].Function.Arguments != `{"a":1}` || calls[0].Type != "function" {
		t.Fatalf("accumulated tool calls %s", resp.ToolCalls)
	}
	b := u.requests()[0].Body
	if b["stream"] != true || fmt.Sprint(b["stream_options"]) != "map[include_usage:true]" {
		t.Fatalf("stream request body %v", b)
	}
}

func TestOpenAIStreamFailures(t *testing.T) {
	tests := []struct {
		name   string
		events []string
	}{
		{"malformed json", []string{chunk("a"), `{"choices":[{"delta":{"content":`}},
		{"error event", []string{chunk("a"), `{"error":{"message":"overloaded","type":"server_error"}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) { writeSSE(w, tt.events...) })
			o := newTestOpenAI(t, u, nil)
			var got []string
			_, err := o.Stream(context.Background(), &experts.Request{}, func(d experts.Delta) error {
				got = append(got, d.Content)
				return nil
			})
			var ue *experts.UpstreamError
			if !errors.As(err, &ue) || ue.Expert != "up" {
				t.Fatalf("err = %v, want *UpstreamError", err)
			}
			if strings.Join(got, "") != "a" {
				t.Fatalf("deltas before the failure: %q", got)
			}
		})
	}
}

func TestOpenAIStreamIdleTimeout(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		for i := 0; i < 3; i++ { // chunks arrive faster than the timeout
			writeSSE(w, chunk("x"))
			time.Sleep(100 * time.Millisecond)
		}
		block(r)
	})
	o := newTestOpenAI(t, u, func(s *experts.Spec) { s.Timeout = units.Duration(250 * time.Millisecond) })
	var n int
	_, err := o.Stream(context.Background(), &experts.Request{}, func(experts.Delta) error { n++; return nil })
	var ue *experts.UpstreamError
	if !errors.As(err, &ue) || !ue.Timeout {
		t.Fatalf("err = %v, want timeout", err)
	}
	if n != 3 {
		t.Fatalf("got %d deltas before the stall, want 3 (total time exceeded the timeout, gaps did not)", n)
	}
}

func TestOpenAIStreamCallbackError(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		writeSSE(w, chunk("a"), chunk("b"), "[DONE]")
	})
	o := newTestOpenAI(t, u, nil)
	stop := errors.New("client gone")
	_, err := o.Stream(context.Background(), &experts.Request{}, func(experts.Delta) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the callback's error", err)
	}
}

func TestOpenAIMaxConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		inFlight.Add(-1)
		writeCompletion(w, "ok", "stop")
	})
	o := newTestOpenAI(t, u, func(s *experts.Spec) { s.MaxConcurrency = 2 })
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := o.Complete(context.Background(), &experts.Request{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrency %d, want 2", p)
	}

	// A caller waiting for a slot gives up when its context does.
	release := make(chan struct{})
	blocked := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		writeCompletion(w, "ok", "stop")
	})
	one := newTestOpenAI(t, blocked, func(s *experts.Spec) { s.MaxConcurrency = 1 })
	done := make(chan error, 1)
	go func() { _, err := one.Complete(context.Background(), &experts.Request{}); done <- err }()
	for len(blocked.requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := one.Complete(ctx, &experts.Request{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("waiting for a slot: %v after %v", err, time.Since(start))
	}
	if n := len(blocked.requests()); n != 1 {
		t.Fatalf("upstream saw %d requests, want 1", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	valid := experts.Spec{Name: "banking", Kind: experts.KindOpenAI, BaseURL: "http://127.0.0.1:8000", Model: "m"}
	tests := []struct {
		name  string
		edit  func(*experts.Spec)
		field string // "" = valid
	}{
		{"valid", func(s *experts.Spec) {}, ""},
		{"other kind", func(s *experts.Spec) { s.Kind = experts.KindLocal }, "kind"},
		{"missing base_url", func(s *experts.Spec) { s.BaseURL = "" }, "base_url"},
		{"ftp base_url", func(s *experts.Spec) { s.BaseURL = "ftp://x" }, "base_url"},
		{"base_url without host", func(s *experts.Spec) { s.BaseURL = "http://" }, "base_url"},
		{"base_url with credentials", func(s *experts.Spec) { s.BaseURL = "http://u:p@h" }, "base_url"},
		{"missing model", func(s *experts.Spec) { s.Model = "" }, "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid
			tt.edit(&s)
			err := Check(s)
			var ve *experts.ValidationError
			switch {
			case tt.field == "" && err != nil:
				t.Fatal(err)
			case tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field || !errors.Is(err, experts.ErrInvalid)):
				t.Fatalf("Check = %v, want invalid %s", err, tt.field)
			}
		})
	}
}
