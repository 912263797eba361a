package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/policies"
)

// sseEvents returns the data of each event of an SSE body.
func sseEvents(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, data)
		} else if sc.Text() != "" {
			t.Fatalf("unexpected line %q in %s", sc.Text(), body)
		}
	}
	return out
}

// An upstream's content chunks reach the client byte for byte but for the
// gateway's id, created and model, so fields the gateway does not read
// (logprobs, system_fingerprint, ones added to the API later) survive; the
// answer is still captured whole for the cache, and chunks the gateway
// must rewrite (split over lines, carrying the finish reason or usage) are
// still encoded by it.
func TestStreamPassesUpstreamChunksThrough(t *testing.T) {
	const logprobs = `"logprobs":{"content":[{"token":"Hel","logprob":-0.5,"bytes":[72,101,108],"top_logprobs":[]}]}`
	events := []string{
		`{"id":"up-1","object":"chat.completion.chunk","created":1,"model":"up-model","system_fingerprint":"fp_9","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
		`{"id":"up-1","object":"chat.completion.chunk","created":1,"model":"up-model","system_fingerprint":"fp_9","choices":[{"index":0,"delta":{"content":"Hel"},` + logprobs + `,"finish_reason":null}],"obfuscation":"x1"}`,
		"{\"id\":\"up-1\",\"choices\":[{\"index\":0,\ndata: \"delta\":{\"content\":\"lo \\u003c\"},\"finish_reason\":null}]}", // two data lines
		`{"id":"up-1","model":"up-model","choices":[{"index":0,"delta":{"content":"!"},"finish_reason":"stop"}]}`,
		`{"id":"up-1","model":"up-model","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`,
		`[DONE]`,
	}
	var calls atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			io.WriteString(w, "data: "+e+"\n\n")
		}
	}))
	defer up.Close()
	env := newTestEnv(t, Options{}, gateway.Options{}, func(d *gateway.Deps) { d.Cache = policies.NewMemoryCache(policies.CacheOptions{}) })
	if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "rec", Kind: experts.KindOpenAI, BaseURL: up.URL, Model: "up-model"}); err != nil {
		t.Fatal(err)
	}
	const ask = `{"model":"rec","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say hello"}]}`
	w := env.do("POST", "/v1/chat/completions", ask)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := sseEvents(t, w.Body.String())
	if got[len(got)-1] != "[DONE]" {
		t.Fatalf("the stream does not end with [DONE]: %s", w.Body)
	}
	var id, content string
	finishes, passed := 0, 0
	for _, data := range got[:len(got)-1] {
		var ch struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Model   string `json:"model"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *usage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, data)
		}
		if id == "" {
			id = ch.ID
		}
		if ch.ID != id || !strings.HasPrefix(id, "chatcmpl-") || ch.Object != "chat.completion.chunk" || ch.Model != "rec" {
			t.Errorf("chunk id %q object %q model %q; want the gateway's %q, chat.completion.chunk, rec", ch.ID, ch.Object, ch.Model, id)
		}
		if strings.Contains(data, "up-1") || strings.Contains(data, "up-model") {
			t.Errorf("the upstream's id or model reached the client: %s", data)
		}
		for _, c := range ch.Choices {
			content += c.Delta.Content
			if c.FinishReason != nil {
				finishes++
			}
		}
		if strings.Contains(data, `"delta":{"content":"Hel"},`+logprobs+`,"finish_reason":null}],"obfuscation":"x1"}`) &&
			strings.Contains(data, `"system_fingerprint":"fp_9"`) {
			passed++
		}
		if ch.Usage != nil && ch.Usage.TotalTokens != 8 {
			t.Errorf("usage %+v, want the upstream's 8 tokens", ch.Usage)
		}
	}
	if content != "Hello <!" {
		t.Errorf("content %q, want %q", content, "Hello <!")
	}
	if passed != 1 {
		t.Errorf("the chunk with logprobs was not passed through byte for byte:\n%s", w.Body)
	}
	if finishes != 1 {
		t.Errorf("%d chunks carry a finish reason, want 1:\n%s", finishes, w.Body)
	}
	// The whole answer was captured: the same question is answered from
	// the cache, streamed or not, without asking the upstream.
	before := calls.Load()
	m := decode(t, env.do("POST", "/v1/chat/completions", strings.Replace(ask, `"stream":true,"stream_options":{"include_usage":true},`, "", 1)))
	if c := m["moegate"].(map[string]any)["cache"].(map[string]any); c["hit"] != true {
		t.Fatalf("not answered from the cache: %v", c)
	}
	if got := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"]; got != "Hello <!" || calls.Load() != before {
		t.Fatalf("cached answer %q (upstream called %d more times)", got, calls.Load()-before)
	}
}

// An upstream that fails after its 200 but before any content (an error
// event) has sent the client nothing: the expert's fallback answers with
// a clean stream.
func TestStreamFailureBeforeFirstByteFallsBack(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"up-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`+"\n\n")
		io.WriteString(w, `data: {"error":{"message":"overloaded"}}`+"\n\n")
	}))
	defer up.Close()
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "rec", Kind: experts.KindOpenAI, BaseURL: up.URL, Model: "m", Fallbacks: []string{"travel"}}); err != nil {
		t.Fatal(err)
	}
	w := env.do("POST", "/v1/chat/completions", `{"model":"rec","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var content strings.Builder
	for _, data := range sseEvents(t, w.Body.String()) {
		if data == "[DONE]" {
			continue
		}
		if strings.Contains(data, "up-1") {
			t.Errorf("the failed upstream's chunk reached the client: %s", data)
		}
		var ch chatChunk
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		for _, c := range ch.Choices {
			if c.Delta.Content != nil {
				content.WriteString(*c.Delta.Content)
			}
		}
	}
	if content.String() != "travel says: hi" {
		t.Errorf("content %q, want the fallback's answer", content.String())
	}
}

// Streams reuse their writers (and the writers' buffers): a stream after
// another carries its own id, model and moegate object, nothing of the
// last one's.
func TestStreamAfterStream(t *testing.T) {
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	for _, tc := range []struct{ id, expert, other string }{
		{"first-request", "banking", "travel"},
		{"second-request", "banking", "travel"},
		{"third-request", "travel", "banking"},
	} {
		w := env.do("POST", "/v1/chat/completions", `{"model":"`+tc.expert+`","stream":true,"messages":[{"role":"user","content":"hello"}]}`,
			"X-Request-Id", tc.id)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.id, w.Code, w.Body)
		}
		events := sseEvents(t, w.Body.String())
		moegates := 0
		for _, data := range events[:len(events)-1] {
			var ch struct {
				ID      string         `json:"id"`
				Model   string         `json:"model"`
				Moegate map[string]any `json:"moegate"`
			}
			if err := json.Unmarshal([]byte(data), &ch); err != nil {
				t.Fatalf("%s: event is not JSON: %v: %s", tc.id, err, data)
			}
			if ch.ID != "chatcmpl-"+tc.id || ch.Model != tc.expert || strings.Contains(data, tc.other) {
				t.Errorf("%s: event %s; want id chatcmpl-%s, model %s, no %s", tc.id, data, tc.id, tc.expert, tc.other)
			}
			if ch.Moegate != nil {
				moegates++
				if ch.Moegate["request_id"] != tc.id || !strings.Contains(data, `"name":"`+tc.expert+`"`) {
					t.Errorf("%s: moegate object %s; want request %s, expert %s", tc.id, data, tc.id, tc.expert)
				}
			}
		}
		if moegates != 2 {
			t.Errorf("%s: %d moegate objects, want 2:\n%s", tc.id, moegates, w.Body)
		}
	}
}
