package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/router"
)

// passthroughCorpus is a set of rich chat requests, each for the recording
// expert: every OpenAI parameter, tools, json_schema, image parts, stream
// options and fields no version of the API has yet.
var passthroughCorpus = map[string]string{
	"sampling parameters": `{"model":"rec","messages":[{"role":"user","content":"hi"}],"temperature":0,"top_p":0.9,"presence_penalty":0.5,"frequency_penalty":-0.25,"seed":7,"stop":["END","\n\n"],"user":"u-1","n":1}`,
	"logprobs and bias":   `{"model":"rec","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":3,"logit_bias":{"50256":-100,"15":2.5}}`,
	"reasoning":           `{"model":"rec","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":"hi"}],"reasoning_effort":"low","max_completion_tokens":300}`,
	"tools": `{"model":"rec","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"-3C"}],
		"tools":[{"type":"function","function":{"name":"weather","description":"d","strict":true,"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}}],
		"tool_choice":"auto","parallel_tool_calls":false}`,
	"json schema":         `{"model":"rec","messages":[{"role":"user","content":"a number"}],"response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true,"schema":{"type":"object","properties":{"a":{"type":"number","minimum":0.5e-3}},"required":["a"]}}}}`,
	"image parts":         `{"model":"rec","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]}],"max_tokens":20}`,
	"unknown fields":      `{"model":"rec","messages":[{"role":"user","content":"hi","x_msg":1}],"service_tier":"auto","store":false,"metadata":{"k":"v"},"a_future_parameter":{"nested":[1,2.50,"\u00e9\"}"]},"moegate":{"retrieval":"never"}}`,
	"stream with options": `{"model":"rec","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"logprobs":true,"top_logprobs":2}`,
}

// TestRequestsReachUpstreamUnchanged sends the corpus through the HTTP
// handler to an openai-kind expert and compares what the upstream received
// with what the client sent, member by member and byte for byte.
func TestRequestsReachUpstreamUnchanged(t *testing.T) {
	got := make(chan []byte, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
		if bytes.Contains(b, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	defer up.Close()
	env := newTestEnv(t, Options{}, gateway.Options{}, func(d *gateway.Deps) { d.Cache = policies.NewMemoryCache(policies.CacheOptions{}) })
	if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "rec", Kind: experts.KindOpenAI, BaseURL: up.URL, Model: "gpt-4o"}); err != nil {
		t.Fatal(err)
	}
	for name, body := range passthroughCorpus {
		t.Run(name, func(t *testing.T) {
			w := env.do("POST", "/v1/chat/completions", body)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if strings.Contains(body, `"stream":true`) {
				sc := bufio.NewScanner(w.Body)
				done := false
				for sc.Scan() {
					done = done || sc.Text() == "data: [DONE]"
				}
				if !done {
					t.Fatalf("stream did not end with [DONE]: %s", w.Body)
				}
			}
			var sent, received map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &sent); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(recv(t, got), &received); err != nil {
				t.Fatal(err)
			}
			for k, v := range sent {
				switch k {
				case "model", "moegate", "stream_options":
					continue
				}
				if !bytes.Equal(received[k], v) {
					t.Errorf("%s: upstream got %s, client sent %s", k, received[k], v)
				}
			}
			for k, v := range received {
				if _, ok := sent[k]; !ok && k != "stream" && k != "stream_options" {
					t.Errorf("upstream got %s=%s the client did not send", k, v)
				}
			}
			if string(received["model"]) != `"gpt-4o"` || received["moegate"] != nil {
				t.Errorf("model %s, moegate %s", received["model"], received["moegate"])
			}
		})
	}
	// A request with an image is answered by the expert every time: the
	// cache, whose keys hold text only, stays out of it.
	for range 2 {
		if w := env.do("POST", "/v1/chat/completions", passthroughCorpus["image parts"]); w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		recv(t, got)
	}
}

// recv returns what the upstream received, failing when nothing reached
// it (the cache answered instead).
func recv(t *testing.T, got chan []byte) []byte {
	t.Helper()
	select {
	case b := <-got:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the upstream")
		return nil
	}
}

// TestContentEventMatchesMarshal checks the hand-encoded content event
// against encoding/json's encoding of the same chunk.
func TestContentEventMatchesMarshal(t *testing.T) {
	w := &streamWriter{id: "chatcmpl-1", created: 1700000000, model: `bank"ing<&>`}
	for _, content := range []string{"Hello", "", "quote \" backslash \\ newline \n tab \t", "<html>&amp;</html>", "é 日本 \u2028 \x01", "emoji 🙂"} {
		c := content
		want, err := json.Marshal(chatChunk{ID: w.id, Object: "chat.completion.chunk", Created: w.created, Model: w.model,
			Choices: []chunkChoice{{Delta: chunkDelta{Content: &c}}}})
		if err != nil {
			t.Fatal(err)
		}
		w.pending = append(w.pending[:0], "before"...)
		w.appendContent(content)
		if got := string(w.pending); got != "before"+"data: "+string(want)+"\n\n" {
			t.Errorf("content %q:\n got %s\nwant data: %s", content, got, want)
		}
	}
}

// TestUpstreamErrorsReachClient checks what a client sees when the
// upstream of an openai-kind expert refuses: its own request's faults
// with the upstream's status and message (no internal address), 429 with
// the upstream's Retry-After, and the gateway's faults as 502 naming the
// expert once.
func TestUpstreamErrorsReachClient(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		want       int
		code       string
		param      string
		message    string
	}{
		{"400", 400, "", `{"error":{"message":"Invalid 'logit_bias': see http://10.1.2.3:8000/docs","type":"invalid_request_error","param":"logit_bias","code":"invalid_value"}}`,
			400, "invalid_value", "logit_bias", "Expert 'rec' rejected the request (upstream status 400): Invalid 'logit_bias': see [upstream]"},
		{"429", 429, "7", `{"error":{"message":"Too many requests"}}`, 429, "upstream_rate_limited", "", "Expert 'rec' is rate limited by its upstream: Too many requests"},
		{"401", 401, "", `{"error":{"message":"Incorrect API key provided: sk-...abc"}}`, 502, "upstream_auth_failed", "",
			"Expert 'rec' refused the gateway's credentials (upstream status 401); an operator must fix its api_key_env or headers."},
		{"500", 500, "", `{"error":{"message":"boom"}}`, 502, "expert_failed", "", "Expert 'rec' failed (upstream status 500): boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer up.Close()
			env := newTestEnv(t, Options{}, gateway.Options{}, nil)
			if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "rec", Kind: experts.KindOpenAI, BaseURL: up.URL, Model: "m"}); err != nil {
				t.Fatal(err)
			}
			for _, stream := range []string{"false", "true"} {
				w := env.do("POST", "/v1/chat/completions", `{"model":"rec","stream":`+stream+`,"messages":[{"role":"user","content":"hi"}]}`)
				if w.Code != tt.want {
					t.Fatalf("stream=%s: status %d, want %d: %s", stream, w.Code, tt.want, w.Body)
				}
				var body struct {
					Error struct {
						Message string  `json:"message"`
						Code    string  `json:"code"`
						Param   *string `json:"param"`
					} `json:"error"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
					t.Fatal(err)
				}
				e := body.Error
				if e.Message != tt.message || e.Code != tt.code || (tt.param != "" && (e.Param == nil || *e.Param != tt.param)) {
					t.Errorf("stream=%s: error %+v (param %v), want message %q code %q param %q", stream, e, e.Param, tt.message, tt.code, tt.param)
				}
				if strings.Contains(w.Body.String(), up.URL[len("http://"):]) {
					t.Errorf("the upstream's address reached the client: %s", w.Body)
				}
				if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
					t.Errorf("stream=%s: Retry-After %q, want %q", stream, got, tt.retryAfter)
				}
			}
		})
	}
}

// TestInfoEventsMatchMarshal checks the hand-encoded first and last
// events of a stream, which carry the moegate object, against
// encoding/json's encoding of the same chunks.
func TestInfoEventsMatchMarshal(t *testing.T) {
	info := &gateway.Info{RequestID: "req_1", Route: gateway.RouteInfo{Router: "learned", Model: "auto",
		Probabilities: router.Probabilities{{Name: "a<", P: 0.75}, {Name: "b", P: 0.25}}}, Aggregate: "top1",
		Experts: []gateway.ExpertCall{{Name: "a<", Status: "ok", LatencyMS: 1.5}}}
	plain := func(ch chatChunk) string {
		// The moegate object as encoding/json writes it by reflection.
		type plainInfo gateway.Info
		type chunk struct {
			chatChunk
			Moegate *plainInfo `json:"moegate,omitempty"`
		}
		b, err := json.Marshal(chunk{ch, (*plainInfo)(ch.Moegate)})
		if err != nil {
			t.Fatal(err)
		}
		return "data: " + string(b) + "\n\n"
	}
	empty := ""
	for _, finish := range []string{"", "stop", "length<&>"} {
		w := &streamWriter{id: "chatcmpl-1", created: 1700000000, model: `bank"ing`, info: info}
		var want string
		if finish == "" {
			if err := w.infoEvent(`,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"logprobs":null}]`, ""); err != nil {
				t.Fatal(err)
			}
			want = plain(chatChunk{ID: w.id, Object: "chat.completion.chunk", Created: w.created, Model: w.model,
				Choices: []chunkChoice{{Delta: chunkDelta{Role: "assistant", Content: &empty}}}, Moegate: info})
		} else {
			if err := w.infoEvent(`,"choices":[{"index":0,"delta":{},"finish_reason":`, finish); err != nil {
				t.Fatal(err)
			}
			f := finish
			want = plain(chatChunk{ID: w.id, Object: "chat.completion.chunk", Created: w.created, Model: w.model,
				Choices: []chunkChoice{{Delta: chunkDelta{}, FinishReason: &f}}, Moegate: info})
		}
		if got := string(w.pending); got != want {
			t.Errorf("finish %q:\n got %s\nwant %s", finish, got, want)
		}
	}
}

// TestCompletionJSONMatchesMarshal checks the hand-encoded chat completion
// against encoding/json's encoding, and that shapes it does not handle
// are left to encoding/json.
func TestCompletionJSONMatchesMarshal(t *testing.T) {
	info := &gateway.Info{RequestID: "req_1", Route: gateway.RouteInfo{Router: "learned", Model: "auto",
		Probabilities: router.Probabilities{{Name: "a<", P: 0.75}, {Name: "b", P: 0.25}}}, Aggregate: "top1"}
	text, refusal := "Hello <world> & \u2028 \xff", "no"
	one := func(m responseMessage) []chatChoice {
		return []chatChoice{{Index: 0, FinishReason: "stop", Message: m}}
	}
	for _, tc := range []struct {
		name string
		cc   chatCompletion
		ok   bool
	}{
		{"common", chatCompletion{ID: "chatcmpl-1", Object: "chat.completion", Created: 1700000000, Model: "travel",
			Choices: one(responseMessage{Role: "assistant", Content: &text}), Usage: &usage{1, 2, 3}, Moegate: info}, true},
		{"null content, refusal, no usage or moegate", chatCompletion{ID: `a"b`, Model: "m",
			Choices: one(responseMessage{Role: "assistant", Refusal: &refusal})}, true},
		{"tool calls", chatCompletion{Choices: one(responseMessage{Role: "assistant", ToolCalls: json.RawMessage(`[{"id":"x"}]`)})}, false},
		{"no choices", chatCompletion{Choices: []chatChoice{}}, false},
		{"two choices", chatCompletion{Choices: append(one(responseMessage{}), one(responseMessage{})...)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.cc.appendJSON(nil)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			want, err := json.Marshal(tc.cc)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

// appendMembers sends an upstream chunk's members after the gateway's own
// id, object, created and model, every byte kept.
func TestAppendMembers(t *testing.T) {
	w := &streamWriter{id: "chatcmpl-1", created: 1700000000, model: "banking"}
	for _, tc := range []struct{ members, want string }{
		{`,"choices":[{"delta":{"content":"a"}}],"extra":1`,
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"banking","choices":[{"delta":{"content":"a"}}],"extra":1}` + "\n\n"},
		{`, "choices" : [ {"delta":{"content":"\u00e9"}} ]`,
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"banking", "choices" : [ {"delta":{"content":"\u00e9"}} ]}` + "\n\n"},
	} {
		w.pending = append(w.pending[:0], "before"...)
		w.appendMembers([]byte(tc.members))
		if got := string(w.pending); got != "before"+tc.want {
			t.Errorf("%s: pending %q; want %q", tc.members, got, "before"+tc.want)
		}
	}
}
