package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

var chatRequestCases = []struct {
	in string
	ok bool // decodeChatRequest handles it (else encoding/json does)
}{
	{`{"model":"auto","messages":[{"role":"user","content":"hello there"}]}`, true},
	{`{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}}]}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.7,"top_p":1,"max_tokens":256,"max_completion_tokens":100,"seed":-3,"n":1,"user":"u1","stop":["\n"],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"auto","response_format":{"type":"json_object"},"moegate":{"top_k":2},"logprobs":false,"logit_bias":{"50256":-100},"frequency_penalty":0.5}`, true},
	{` { "model" : "a" , "messages" : [ { "role" : "assistant" , "content" : null , "tool_calls" : [ {"id":"1"} ] , "name" : "bot" } , { "role":"tool","tool_call_id":"1","content":"r" } ] } `, true},
	{`{"model":null,"user":null,"stream":null,"messages":null,"temperature":null,"max_tokens":null,"stream_options":null,"stop":null,"moegate":null}`, true},
	{`{"model":"a","model":"b","stream":true,"stream":false,"temperature":1,"temperature":null,"max_tokens":5,"max_tokens":7}`, true},
	{`{"messages":[{"role":"user","content":"a","content":"b","role":null}]}`, true},
	{`{"messages":[],"stream_options":{"include_usage":false,"other":[1,{"a":null}]}}`, true},
	{`{"temperature":-0,"top_p":1e-3,"seed":0,"n":-1}`, true},
	{`{"model":"a \"q\" \\ \/ \n é 🙂"}`, true},
	{`{}`, true},
	// Left to encoding/json: type errors, folded keys, escapes, repeats.
	{`{"model":1}`, false},
	{`{"model":"a","messages":{}}`, false},
	{`{"messages":[null]}`, false},
	{`{"messages":[],"messages":[]}`, false},
	{`{"stream_options":{},"stream_options":null}`, false},
	{`{"stream":"yes"}`, false},
	{`{"temperature":"0.5"}`, false},
	{`{"temperature":1e400}`, false},
	{`{"max_tokens":1.5}`, false},
	{`{"max_tokens":1e3}`, false},
	{`{"max_tokens":12345678901234567890}`, false},
	{`{"Model":"a"}`, false},
	{`{"messages":[{"ROLE":"user"}]}`, false},
	{`{"stream_options":{"Include_Usage":true}}`, false},
	{`{"mod\u0065l":"a"}`, false},
	{`{"model":"\u00e9"}`, false},
	{`{"model":"bad \xff"}`, false},
	{`{"messages":[{"role":1}]}`, false},
	{`null`, false}, {`[]`, false}, {``, false}, {`{`, false}, {`{"model":"a"}x`, false}, {`{"a":1,}`, false},
	{`{"messages":[{"role":"user","content":"a"}`, false}, {`{"stop":[1,]}`, false}, {`{"n":01}`, false},
}

// decodeChatRequest agrees with encoding/json wherever it decodes, and
// declines the rest.
func TestDecodeChatRequest(t *testing.T) {
	for _, tc := range chatRequestCases {
		var got chatRequest
		ok, bare := decodeChatRequest([]byte(tc.in), &got)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.in, ok, tc.ok)
		}
		if ok {
			checkChatAgainstJSON(t, tc.in, got, bare)
		} else if bare {
			t.Errorf("%s: declined, yet bare", tc.in)
		}
	}
}

func checkChatAgainstJSON(t *testing.T, in string, got chatRequest, bare bool) {
	t.Helper()
	var want chatRequest
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatalf("%q: decoded, but encoding/json says %v", in, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", in, got, want)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(in), &members); err != nil {
		t.Fatal(err)
	}
	wantBare := true
	for k := range members {
		switch k {
		case "model", "messages", "stream", "stream_options", "user", "moegate":
		default:
			wantBare = false
		}
	}
	if bare != wantBare {
		t.Fatalf("%q: bare = %v, want %v", in, bare, wantBare)
	}
}

func FuzzDecodeChatRequest(f *testing.F) {
	for _, tc := range chatRequestCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var got chatRequest
		if ok, bare := decodeChatRequest([]byte(in), &got); ok {
			checkChatAgainstJSON(t, in, got, bare)
		}
	})
}

func BenchmarkDecodeChatRequest(b *testing.B) {
	body := []byte(chatRequestCases[0].in)
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r chatRequest
			_ = json.Unmarshal(body, &r)
		}
	})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r chatRequest
			decodeChatRequest(body, &r)
		}
	})
}
