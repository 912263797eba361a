package openai

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/moegate/moegate/experts"
)

// FuzzOpenAIRequest feeds arbitrary pass-through JSON to the request
// mapping: it must either map or fail with ErrInvalid, never panic.
func FuzzOpenAIRequest(f *testing.F) {
	f.Add(`[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`, `"auto"`, `{"type":"json_object"}`, `[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]`)
	f.Add(`[{"type":"web_search","search_context_size":"low"}]`, `{"type":"function","function":{"name":"f"}}`, `{"type":"json_schema","json_schema":{"name":"s","schema":{"anyOf":[]}}}`, `null`)
	f.Add(`{`, `[`, `"`, `{}`)
	o, err := New(experts.Spec{Name: "f", Kind: experts.KindOpenAI, BaseURL: "http://127.0.0.1:1", Model: "m"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tools, choice, format, calls string) {
		req := &experts.Request{
			Messages:       []experts.Message{{Role: "assistant", ToolCalls: json.RawMessage(calls)}},
			Tools:          json.RawMessage(tools),
			ToolChoice:     json.RawMessage(choice),
			ResponseFormat: json.RawMessage(format),
		}
		b, err := o.encode(req, false)
		if err != nil {
			if !errors.Is(err, experts.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("encoded request is not JSON: %s", b)
		}
	})
}

// FuzzForward rewrites arbitrary client bodies: whatever the input, the
// result is valid JSON with the expert's model, and every member the
// client sent (but model, moegate and the stream settings) is kept.
func FuzzForward(f *testing.F) {
	f.Add(`{"model":"auto","messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2},"moegate":{"top_k":2}}`, 1)
	f.Add(`{ "messages" : [ ] , "stream":true, "x":"\"}" }`, 0)
	f.Add(`{"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"max_tokens":5}`, 2)
	f.Add(`[1,2]`, 0)
	o, err := New(experts.Spec{Name: "f", Kind: experts.KindOpenAI, BaseURL: "http://127.0.0.1:1", Model: "o3-mini", SystemPrompt: "sys"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string, prepended int) {
		req := &experts.Request{Body: []byte(body), Prepended: prepended % 3,
			Messages: []experts.Message{{Role: "system", Content: "passages"}, {Role: "user", Content: "q"}}}
		for _, stream := range []bool{false, true} {
			b, ok := o.forward(req, stream)
			if !ok {
				continue
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("forward(%s) = %s: not JSON: %v", body, b, err)
			}
			if string(got["model"]) != `"o3-mini"` || got["moegate"] != nil {
				t.Fatalf("forward(%s) = %s", body, b)
			}
			var in map[string]json.RawMessage
			if json.Unmarshal([]byte(body), &in) != nil {
				continue
			}
			for k := range in {
				switch k {
				case "model", "moegate", "stream", "stream_options", "max_tokens":
					continue
				}
				if _, ok := got[k]; !ok {
					t.Fatalf("forward(%s) lost %q: %s", body, k, b)
				}
			}
		}
	})
}
