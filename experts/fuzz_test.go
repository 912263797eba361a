package experts

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzSpec checks that any JSON the admin API might receive decodes,
// normalizes and validates without panicking, that Normalize is
// idempotent, and that a valid spec stays valid through a JSON round trip.
func FuzzSpec(f *testing.F) {
	f.Add(`{"name":"banking","kind":"openai","base_url":"http://h","model":"m","timeout":"30s"}`)
	f.Add(`{"name":" x ","kind":"LOCAL","tags":["a"," a",""],"enabled":false}`)
	f.Add(`{"name":"auto","kind":"local"}`)
	f.Add(`{"name":"a","kind":"openai","base_url":"http://u:p@h","headers":{"X":"1\r\n"}}`)
	f.Add(`{"timeout":1e300}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s Spec
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		s.Normalize()
		once := s.Clone()
		s.Normalize()
		a, _ := json.Marshal(once)
		b, _ := json.Marshal(s)
		if string(a) != string(b) {
			t.Fatalf("Normalize not idempotent:\n%s\n%s", a, b)
		}
		err := s.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate error %v does not wrap ErrInvalid", err)
			}
			return
		}
		var back Spec
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("valid spec does not decode: %v\n%s", err, b)
		}
		back.Normalize()
		if err := back.Validate(); err != nil {
			t.Fatalf("valid spec invalid after round trip: %v\n%s", err, b)
		}
	})
}

// FuzzOpenAIRequest feeds arbitrary pass-through JSON to the request
// mapping: it must either map or fail with ErrInvalid, never panic.
func FuzzOpenAIRequest(f *testing.F) {
	f.Add(`[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`, `"auto"`, `{"type":"json_object"}`, `[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]`)
	f.Add(`[{"type":"web_search","search_context_size":"low"}]`, `{"type":"function","function":{"name":"f"}}`, `{"type":"json_schema","json_schema":{"name":"s","schema":{"anyOf":[]}}}`, `null`)
	f.Add(`{`, `[`, `"`, `{}`)
	o, err := NewOpenAI(Spec{Name: "f", Kind: KindOpenAI, BaseURL: "http://127.0.0.1:1", Model: "m"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tools, choice, format, calls string) {
		req := &Request{
			Messages:       []Message{{Role: "assistant", ToolCalls: json.RawMessage(calls)}},
			Tools:          json.RawMessage(tools),
			ToolChoice:     json.RawMessage(choice),
			ResponseFormat: json.RawMessage(format),
		}
		c, err := o.request(req)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("mapped request does not marshal: %v", err)
		}
	})
}
