package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/errs"
)

// richBody uses every chat parameter, tools, a JSON schema, image parts,
// stream options and fields no version of the API has yet.
const richBody = `{
  "model": "auto",
  "messages": [
    {"role": "developer", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}], "name": "ann"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "42"}
  ],
  "temperature": 0, "top_p": 0.9, "n": 1, "max_completion_tokens": 300, "max_tokens": 200,
  "presence_penalty": 0.5, "frequency_penalty": -0.25, "logprobs": true, "top_logprobs": 3,
  "logit_bias": {"50256": -100, "15": 2.5}, "parallel_tool_calls": false, "reasoning_effort": "low",
  "seed": 7, "stop": ["END", "\n\n"], "user": "u-1", "service_tier": "auto", "store": false,
  "metadata": {"k": "v"}, "prediction": {"type": "content", "content": "x"}, "modalities": ["text"],
  "tools": [{"type": "function", "function": {"name": "lookup", "description": "d", "strict": true,
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"], "additionalProperties": false}}}],
  "tool_choice": {"type": "function", "function": {"name": "lookup"}},
  "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
    "schema": {"type": "object", "properties": {"a": {"type": "number", "minimum": 0.5e-3}}, "required": ["a"]}}},
  "stream": true, "stream_options": {"include_usage": false},
  "a_future_parameter": {"nested": [1, 2.50, "\u00e9\"}"]},
  "moegate": {"top_k": 2, "retrieval": "never"}
}`

// rawRecorder is an upstream that keeps the raw bodies it received.
type rawRecorder struct {
	*httptest.Server
	bodies chan []byte
}

func newRawRecorder(t *testing.T) *rawRecorder {
	r := &rawRecorder{bodies: make(chan []byte, 16)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.bodies <- b
		if bytes.Contains(b, []byte(`"stream":true`)) {
			writeSSE(w, chunk("ok"), `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, "[DONE]")
			return
		}
		writeCompletion(w, "ok", "stop")
	}))
	t.Cleanup(r.Close)
	return r
}

func bodyMembers(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m
}

// TestForwardKeepsEveryByte checks, member by member and byte for byte,
// that the client's body reaches the upstream unchanged but for the model,
// the moegate extension, the stream settings of the call and the messages
// the gateway prepends.
func TestForwardKeepsEveryByte(t *testing.T) {
	rec := newRawRecorder(t)
	o, err := New(experts.Spec{Name: "rec", Kind: experts.KindOpenAI, BaseURL: rec.URL, Model: "gpt-4o", SystemPrompt: "You are a bank."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := bodyMembers(t, []byte(richBody))
	var clientMsgs []json.RawMessage
	json.Unmarshal(client["messages"], &clientMsgs)
	passages := experts.Message{Role: "system", Content: "[1] (doc) passage"}

	for _, stream := range []bool{false, true} {
		for _, prepended := range []int{0, 1} {
			req := &experts.Request{Body: []byte(richBody), Prepended: prepended, Messages: []experts.Message{passages, {Role: "user", Content: "flattened"}}}
			if prepended == 0 {
				req.Messages = req.Messages[1:]
			}
			var err error
			if stream {
				_, err = o.Stream(context.Background(), req, func(experts.Delta) error { return nil })
			} else {
				_, err = o.Complete(context.Background(), req)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := bodyMembers(t, <-rec.bodies)
			for k, want := range client {
				switch k {
				case "model", "moegate", "stream", "stream_options", "messages":
					continue
				}
				if !bytes.Equal(got[k], want) {
					t.Errorf("stream=%v: %s arrived as %s, sent as %s", stream, k, got[k], want)
				}
			}
			if len(got) != len(client)-1-map[bool]int{true: 0, false: 2}[stream] {
				var keys []string
				for k := range got {
					keys = append(keys, k)
				}
				t.Errorf("stream=%v: upstream got members %v", stream, keys)
			}
			if string(got["model"]) != `"gpt-4o"` || got["moegate"] != nil {
				t.Errorf("model %s, moegate %s", got["model"], got["moegate"])
			}
			if stream && (string(got["stream"]) != "true" || string(got["stream_options"]) != `{"include_usage":true}`) {
				t.Errorf("stream settings %s %s", got["stream"], got["stream_options"])
			}
			var msgs []json.RawMessage
			json.Unmarshal(got["messages"], &msgs)
			want := []string{`{"role":"system","content":"You are a bank."}`}
			if prepended == 1 {
				want = append(want, `{"role":"system","content":"[1] (doc) passage"}`)
			}
			for _, m := range clientMsgs {
				want = append(want, string(m))
			}
			if len(msgs) != len(want) {
				t.Fatalf("messages %s", got["messages"])
			}
			for i := range want {
				if string(msgs[i]) != want[i] {
					t.Errorf("message %d: %s, want %s", i, msgs[i], want[i])
				}
			}
		}
	}
}

func TestForwardReasoningModelMaxTokens(t *testing.T) {
	rec := newRawRecorder(t)
	o, err := New(experts.Spec{Name: "rec", Kind: experts.KindOpenAI, BaseURL: rec.URL, Model: "o3-mini"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"auto","messages":[{"role":"user","content":"hi"}],"max_tokens":50}`
	if _, err := o.Complete(context.Background(), &experts.Request{Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	got := bodyMembers(t, <-rec.bodies)
	if string(got["max_completion_tokens"]) != "50" || got["max_tokens"] != nil {
		t.Errorf("reasoning model got %v", got)
	}
}

func TestUpstreamStatusMapping(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     string
		body       string
		kind       errs.Kind
		code       string
		retryAfter time.Duration
		param      string
		contains   string
	}{
		{"400 passes through sanitised", 400, "", `{"error":{"message":"Invalid value for 'logit_bias' (see http://10.0.0.7:8000/docs or 10.0.0.7:8000)","type":"invalid_request_error","param":"logit_bias","code":"invalid_value"}}`,
			errs.Invalid, "invalid_value", 0, "logit_bias", "Expert 'up' rejected the request (upstream status 400): Invalid value for 'logit_bias'"},
		{"404", 404, "", `{"error":{"message":"The model 'x' does not exist"}}`, errs.NotFound, "upstream_rejected_request", 0, "", "does not exist"},
		{"422 without body", 422, "", ``, errs.Invalid, "upstream_rejected_request", 0, "", "Unprocessable Entity"},
		{"401 is the gateway's problem", 401, "", `{"error":{"message":"Incorrect API key provided: sk-abc"}}`, errs.UpstreamFailed, "upstream_auth_failed", 0, "", "refused the gateway's credentials"},
		{"403", 403, "", `forbidden`, errs.UpstreamFailed, "upstream_auth_failed", 0, "", "upstream status 403"},
		{"429 keeps Retry-After", 429, "7", `{"error":{"message":"slow down"}}`, errs.RateLimited, "upstream_rate_limited", 7 * time.Second, "", "rate limited by its upstream: slow down"},
		{"500 names the expert", 500, "", `{"error":{"message":"boom"}}`, errs.UpstreamFailed, "expert_failed", 0, "", "Expert 'up' failed (upstream status 500): boom"},
		{"502 html", 502, "", `<html>bad gateway</html>`, errs.UpstreamFailed, "expert_failed", 0, "", "Expert 'up' failed (upstream status 502)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			o := newTestOpenAI(t, u, nil)
			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					_, err = o.Stream(context.Background(), &experts.Request{}, func(experts.Delta) error { return nil })
				} else {
					_, err = o.Complete(context.Background(), &experts.Request{})
				}
				ue, ok := errors.AsType[*experts.UpstreamError](err)
				if !ok || ue.Status != tt.status {
					t.Fatalf("err = %v, want an UpstreamError with status %d", err, tt.status)
				}
				e, ok := errors.AsType[*errs.Error](err)
				if !ok || e.Kind != tt.kind || e.Code != tt.code || e.RetryAfter != tt.retryAfter || e.Param != tt.param {
					t.Fatalf("errs.Error %+v, want kind %v code %q retry %v param %q", e, tt.kind, tt.code, tt.retryAfter, tt.param)
				}
				msg := e.Error()
				if !strings.Contains(msg, tt.contains) || strings.Contains(msg, "10.0.0.7") || strings.Contains(msg, "http://") ||
					strings.Contains(msg, u.URL[len("http://"):]) || strings.Count(msg, "'up'") != 1 {
					t.Fatalf("message %q: want it to contain %q, name the expert once and hold no address", msg, tt.contains)
				}
			}
		})
	}
}

func TestStreamValidation(t *testing.T) {
	done := `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`
	tests := []struct {
		name   string
		handle func(w http.ResponseWriter)
		ok     bool
		want   string
	}{
		{"json instead of a stream", func(w http.ResponseWriter) { writeCompletion(w, "hello", "stop") }, false, "application/json instead of server-sent events"},
		{"html page", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>Welcome to nginx</body></html>")
		}, false, "text/html instead of server-sent events"},
		{"nothing at all", func(w http.ResponseWriter) { w.Header().Set("Content-Type", "text/event-stream") }, false, "without any content or [DONE]"},
		{"only [DONE]", func(w http.ResponseWriter) { writeSSE(w, "[DONE]") }, false, "without any content"},
		{"cut before the end", func(w http.ResponseWriter) { writeSSE(w, chunk("Hel"), chunk("lo")) }, false, "cut off before [DONE]"},
		{"complete", func(w http.ResponseWriter) { writeSSE(w, chunk("Hel"), chunk("lo"), done, "[DONE]") }, true, ""},
		{"finish reason without [DONE]", func(w http.ResponseWriter) { writeSSE(w, chunk("Hello"), done) }, true, ""},
		{"events without a content type", func(w http.ResponseWriter) {
			w.Header()["Content-Type"] = nil
			io.WriteString(w, "data: "+chunk("Hello")+"\n\ndata: [DONE]\n\n")
		}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) { tt.handle(w) })
			o := newTestOpenAI(t, u, nil)
			var sent int
			resp, err := o.Stream(context.Background(), &experts.Request{}, func(experts.Delta) error { sent++; return nil })
			if tt.ok {
				if err != nil || resp.Content != "Hello" {
					t.Fatalf("Stream = %+v, %v", resp, err)
				}
				return
			}
			ue, ok := errors.AsType[*experts.UpstreamError](err)
			if !ok || !ue.Retryable() || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a retryable upstream failure saying %q", err, tt.want)
			}
			if tt.name != "cut before the end" && sent != 0 {
				t.Fatalf("%d deltas sent before the failure", sent)
			}
		})
	}
}

func TestMaxResponseBytes(t *testing.T) {
	big := strings.Repeat("x", 4096)
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if body["stream"] == true {
			events := []string{}
			for range 10 {
				events = append(events, chunk(big[:512]))
			}
			writeSSE(w, append(events, "[DONE]")...)
			return
		}
		writeCompletion(w, big, "stop")
	})
	o, err := newExpert(experts.Spec{Name: "up", Kind: experts.KindOpenAI, BaseURL: u.URL, Model: "m"}, Options{Client: u.Client(), MaxResponseBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	for _, stream := range []bool{false, true} {
		var err error
		if stream {
			_, err = o.Stream(context.Background(), &experts.Request{}, func(experts.Delta) error { return nil })
		} else {
			_, err = o.Complete(context.Background(), &experts.Request{})
		}
		e, ok := errors.AsType[*errs.Error](err)
		if !ok || e.Kind != errs.UpstreamFailed || e.Code != "upstream_response_too_large" || !strings.Contains(e.Error(), "2048-byte limit") {
			t.Fatalf("stream=%v: err = %v, want a 502 naming the limit", stream, err)
		}
	}
	// Within the limit all is well.
	o.maxBytes = 1 << 20
	if r, err := o.Complete(context.Background(), &experts.Request{}); err != nil || r.Content != big {
		t.Fatalf("within the limit: %v", err)
	}
}

// TestPooledConnections sends rounds of concurrent requests through
// experts of one kind on one upstream: the connections of the first round
// serve the later ones (a bare http.Client keeps 2 idle per host and opens
// a new connection for nearly every request of every round).
func TestPooledConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(5 * time.Millisecond) // so that the round's requests overlap
		writeCompletion(w, "ok", "stop")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	k := Kind(Options{})
	var exps []experts.Expert
	for _, name := range []string{"a", "b"} {
		e, err := k.Build(context.Background(), experts.Spec{Name: name, Kind: experts.KindOpenAI, BaseURL: srv.URL, Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		exps = append(exps, e)
	}
	const perRound, rounds = 32, 5
	for range rounds {
		var wg sync.WaitGroup
		for i := range perRound {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := exps[i%2].Complete(context.Background(), &experts.Request{}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	if n := conns.Load(); n > perRound+perRound/4 {
		t.Fatalf("%d connections for %d rounds of %d concurrent requests: connections are not pooled", n, rounds, perRound)
	}
}
