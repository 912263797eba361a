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
		c, err := o.request(req)
		if err != nil {
			if !errors.Is(err, experts.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("mapped request does not marshal: %v", err)
		}
	})
}
