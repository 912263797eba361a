package openai

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var chunkCases = []struct {
	in string
	ok bool // decodeChunk handles it (else encoding/json does)
}{
	{`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}`, true},
	{`{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}],"obfuscation":"xK3"}`, true},
	{`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, true},
	{` { "choices" : [ { "delta" : { "content" : "a \"q\" \\ \/ \n\t\r\b\f é 日本 🙂" } } ] } `, true},
	{`{"choices":[]}`, true},
	{`{"choices":null,"usage":null,"error":null}`, true},
	{`{}`, true},
	{`{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"},"finish_reason":"length"}]}`, true},
	{`{"choices":[{"delta":{"content":"a","content":null}}]}`, true},
	{`{"choices":[{"delta":{"content":"a"},"delta":{"role":"x"},"finish_reason":"stop","finish_reason":null}]}`, true},
	{`{"x":[1,-0.5e+10,0,true,false,null,{"y":"\u00e9\ud83d\ude42"},[]],"choices":[{"delta":{"content":"z"}}]}`, true},
	// Left to encoding/json: other shapes, escapes, folded keys, bad UTF-8.
	{`{"choices":[{"delta":{"content":"\u00e9"}}]}`, false},
	{`{"choices":[{"delta":{"content":"bad \xff"}}]}`, false},
	{`{"Choices":[{"delta":{"content":"a"}}]}`, false},
	{`{"choices":[{"Delta":{"content":"a"}}]}`, false},
	{`{"choices":[{"delta":{"CONTENT":"a"}}]}`, false},
	{`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":""}}]}}]}`, false},
	{`{"choices":[{"delta":{"tool_calls":null}}]}`, false},
	{`{"id":"c","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":8,"total_tokens":32}}`, true},
	{`{"usage":{"prompt_tokens":-1,"x":{"y":[]},"total_tokens":0,"prompt_tokens":7}}`, true},
	{`{"usage":{}}`, true},
	{`{"usage":{"prompt_tokens":1.0}}`, false},
	{`{"usage":{"prompt_tokens":1e3}}`, false},
	{`{"usage":{"prompt_tokens":01}}`, false},
	{`{"usage":{"prompt_tokens":"1"}}`, false},
	{`{"usage":{"prompt_tokens":12345678901234567890}}`, false},
	{`{"usage":{"Prompt_Tokens":1}}`, false},
	{`{"usage":{"prompt_tokens":1},"usage":null}`, false},
	{`{"usage":[]}`, false},
	{`{"error":{"message":"boom"}}`, false},
	{`{"choices":[null]}`, false},
	{`{"choices":[],"choices":[]}`, false},
	{`{"ch\u006fices":[]}`, false},
	{`{"choices":[{"delta":{"content":1}}]}`, false},
	// Invalid JSON: both refuse.
	{``, false}, {`{`, false}, {`{"choices":[}`, false}, {`{"a":01}`, false}, {`{"a":1.}`, false},
	{`{"a":-}`, false}, {`{"a":tru}`, false}, {`{"a":"\x01"}`, false}, {`{"a":"\q"}`, false},
	{`{"a":"\u12"}`, false}, {`{"a":1}x`, false}, {`{"a":1,}`, false}, {`{"a" 1}`, false}, {`[]`, false},
	{`{"choices":[{"delta":{"content":"a"}}]}{}`, false}, {`{"choices":[{"delta":{"content":"a}}]}`, false},
}

// decodeChunk agrees with encoding/json wherever it decodes, and declines
// the rest.
func TestDecodeChunk(t *testing.T) {
	for _, tc := range chunkCases {
		got, ok := decodeChunk([]byte(tc.in))
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.in, ok, tc.ok)
		}
		if ok {
			checkAgainstJSON(t, tc.in, got)
		}
	}
}

// decodeChunkInto, reusing one chunk and appending to one answer across a
// stream of every case, decodes what decodeChunk decodes (bar a repeated
// content key, whose first value is already appended), appends exactly
// the first choice's content, and leaves the answer as it was on refusal.
func TestDecodeChunkInto(t *testing.T) {
	var c wireChunk
	text := []byte("kept")
	want := "kept"
	for _, tc := range chunkCases {
		before := len(text)
		kept := []byte("before")
		ok := decodeChunkInto(&c, []byte(tc.in), &text, &kept)
		if ok {
			// The members a writer keeps, from the one decode, are what
			// a second reading of the chunk finds.
			if ref, _ := appendKept([]byte("before"), []byte(tc.in)); string(kept) != string(ref) {
				t.Errorf("%s: kept %q, want %q", tc.in, kept, ref)
			}
		} else if string(kept) != "before" {
			t.Errorf("%s: refused, yet kept grew to %q", tc.in, kept)
		}
		fresh, freshOK := decodeChunk([]byte(tc.in))
		if ok && !freshOK || !ok && freshOK && !strings.Contains(tc.in, `"content":"a","content"`) {
			t.Errorf("%s: ok = %v, decodeChunk's %v", tc.in, ok, freshOK)
		}
		if !ok {
			if len(text) != before {
				t.Errorf("%s: refused, yet the answer grew to %q", tc.in, text)
			}
			continue
		}
		got := c
		if len(got.Choices) == 0 {
			got.Choices = fresh.Choices // reused storage is empty, never nil
		}
		checkAgainstJSON(t, tc.in, got)
		if len(c.Choices) > 0 {
			want += c.Choices[0].Delta.Content
		}
		if string(text) != want {
			t.Fatalf("%s: answer %q, want %q", tc.in, text, want)
		}
	}
	content := []byte(chunkCases[0].in)
	text = text[:0]
	kept := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { text, kept = text[:0], kept[:0]; decodeChunkInto(&c, content, &text, &kept) }); n != 0 {
		t.Errorf("a content event into a reused chunk: %v allocations, want 0", n)
	}
}

func checkAgainstJSON(t *testing.T, in string, got wireChunk) {
	t.Helper()
	var want wireChunk
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatalf("%q: decoded, but encoding/json says %v", in, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", in, got, want)
	}
}

func FuzzDecodeChunk(f *testing.F) {
	for _, tc := range chunkCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, ok := decodeChunk([]byte(in)); ok {
			checkAgainstJSON(t, in, got)
		}
	})
}

func BenchmarkDecodeChunk(b *testing.B) {
	data := []byte(chunkCases[0].in)
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var c wireChunk
			_ = json.Unmarshal(data, &c)
		}
	})
	b.Run("decodeChunk", func(b *testing.B) {
		for b.Loop() {
			decodeChunk(data)
		}
	})
}

var responseCases = []struct {
	in string
	ok bool // decodeResponse handles it (else encoding/json does)
}{
	{`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":12,"total_tokens":36,"prompt_tokens_details":{"cached_tokens":0}},"service_tier":"default","system_fingerprint":null}`, true},
	{` { "choices" : [ { "message" : { "content" : "a \"q\" \\ \/ \n\t\r\b\f é 日本 🙂" } , "finish_reason" : "length" } ] } `, true},
	{`{"choices":[{"message":{"content":null},"finish_reason":null}]}`, true},
	{`{"choices":[{"message":null,"finish_reason":"stop","finish_reason":null}]}`, true},
	{`{"choices":[{"message":{"content":"a","content":"b"}}],"usage":null,"error":null}`, true},
	{`{"choices":[{"message":{"content":"a"}},{"message":{"content":"b"}}]}`, true},
	{`{"choices":[],"usage":{"prompt_tokens":3}}`, true},
	{`{"choices":null}`, true},
	{`{}`, true},
	// Left to encoding/json.
	{`{"choices":[{"message":{"content":"a","tool_calls":null}}]}`, false},
	{`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`, false},
	{`{"choices":[{"message":{"content":"a"},"message":{"role":"x"}}]}`, false},
	{`{"choices":[],"choices":[]}`, false},
	{`{"usage":{"prompt_tokens":1},"usage":{"total_tokens":2}}`, false},
	{`{"error":{"message":"boom","type":"server_error"}}`, false},
	{`{"choices":[{"message":{"Content":"a"}}]}`, false},
	{`{"choices":[{"Message":{"content":"a"}}]}`, false},
	{`{"choices":[{"message":{"content":"\u00e9"}}]}`, false},
	{`{"choices":[{"message":{"content":"bad \xff"}}]}`, false},
	{`{"choices":[{"message":"x"}]}`, false},
	{`{"choices":[null]}`, false},
	{`{"usage":{"prompt_tokens":1.5}}`, false},
	{``, false}, {`{`, false}, {`[]`, false}, {`{"choices":[{"message":{"content":"a"}}]}x`, false}, {`{"a":1,}`, false},
}

// decodeResponse agrees with encoding/json wherever it decodes, and
// declines the rest.
func TestDecodeResponse(t *testing.T) {
	for _, tc := range responseCases {
		got, ok := decodeResponse([]byte(tc.in))
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.in, ok, tc.ok)
		}
		if ok {
			checkResponseAgainstJSON(t, tc.in, got)
		}
	}
}

func checkResponseAgainstJSON(t *testing.T, in string, got wireResponse) {
	t.Helper()
	var want wireResponse
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatalf("%q: decoded, but encoding/json says %v", in, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", in, got, want)
	}
}

func FuzzDecodeResponse(f *testing.F) {
	for _, tc := range responseCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, ok := decodeResponse([]byte(in)); ok {
			checkResponseAgainstJSON(t, in, got)
		}
	})
}

// appendKept keeps every member of a chunk but a writer's own, wherever
// they are and however the upstream spaced them, and nothing of what is
// not an object.
func TestAppendKept(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`{"id":"x","object":"o","created":1,"model":"m","moegate":{},"choices":[{"delta":{"content":"a"}}],"extra":1}`,
			`,"choices":[{"delta":{"content":"a"}}],"extra":1`, true},
		{`{ "choices" : [{"id":"nested","model":"kept"}] , "id":"x", "system_fingerprint":"fp" }`,
			`,"choices" : [{"id":"nested","model":"kept"}],"system_fingerprint":"fp"`, true},
		{`{"id":"x"}`, ``, true},
		{`[1]`, ``, false},
		{`{"choices":`, ``, false},
	} {
		got, ok := appendKept([]byte("before"), []byte(tc.in))
		if ok != tc.ok || string(got) != "before"+tc.want {
			t.Errorf("%s: %q, %v; want %q, %v", tc.in, got, ok, "before"+tc.want, tc.ok)
		}
		var c wireChunk
		kept := []byte("before")
		if decodeChunkInto(&c, []byte(tc.in), nil, &kept) && string(kept) != "before"+tc.want {
			t.Errorf("%s: decodeChunkInto kept %q, want %q", tc.in, kept, "before"+tc.want)
		}
	}
}

// streamEvents are the events of one answer as OpenAI streams it: the
// role, content pieces, the finish reason and usage.
var streamEvents = func() [][]byte {
	head := `{"id":"chatcmpl-AbC123xyz","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":`
	out := [][]byte{[]byte(head + `{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`)}
	for _, w := range []string{"The ", "instant ", "upstream ", "streams ", "every ", "answer ", "in ", "eight pieces."} {
		out = append(out, []byte(head+`{"content":"`+w+`"},"logprobs":null,"finish_reason":null}]}`))
	}
	out = append(out, []byte(head+`{},"logprobs":null,"finish_reason":"stop"}]}`),
		[]byte(`{"id":"chatcmpl-AbC123xyz","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":8,"total_tokens":32}}`))
	return out
}()

// BenchmarkStreamEvents is the decode of one streamed answer's events as
// Stream does it: content appended, the members a writer keeps gathered.
func BenchmarkStreamEvents(b *testing.B) {
	var c wireChunk
	content, kept := make([]byte, 0, 512), make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		content = content[:0]
		var shape eventShape
		for _, e := range streamEvents {
			kept = kept[:0]
			if !decodeEvent(&c, e, &content, &kept, &shape) {
				b.Fatalf("refused %s", e)
			}
		}
	}
}

// decodeEvent, remembering each content event's shape, reads every event
// of a stream as decodeChunkInto reads it alone: same chunk, content and
// kept members, same refusals.
func TestDecodeEventSameAsDecodeChunk(t *testing.T) {
	head := `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":`
	piece := func(s string) string { return head + s + `},"finish_reason":null}]}` }
	var realistic []string
	for _, e := range streamEvents {
		realistic = append(realistic, string(e))
	}
	for _, events := range [][]string{
		realistic,
		{piece(`"a"`), piece(`"b"`), piece(`"c \"q\" \\ \n é 🙂"`), piece(`""`), piece(`"d"`)},
		// The same bytes around something other than one string.
		{piece(`"a"`), piece(`null`), piece(`"b"`), piece(`"b","x":"y"`), piece(`"b"} , {"content":"c"`), piece(`1`), piece(`"e"`)},
		{piece(`"a"`), piece(`"\u00e9"`), piece("\"bad \xff\""), piece(`"unterminated`), piece(`"a" `), piece(` "b"`), piece(`"c"`)},
		{piece(`"a"`), piece(`"b"`) + "x", "x" + piece(`"b"`), piece(`"c"`)},
		// Shapes that are not one piece of content.
		{head + `"a"},"finish_reason":"stop"}]}`, head + `"b"},"finish_reason":"stop"}]}`},
		{`{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}`, `{"choices":[{"delta":{"content":"c"}},{"delta":{"content":"b"}}]}`},
		{`{"choices":[{"delta":{"content":"a","content":"b"}}]}`, `{"choices":[{"delta":{"content":"c","content":"b"}}]}`},
		{`{"choices":[{"delta":{"content":"a"}}],"usage":null}`, `{"choices":[{"delta":{"content":"b"}}],"usage":null}`},
		{`{"choices":[{"delta":{"content":"a"}}],"usage":{"total_tokens":1}}`, `{"choices":[{"delta":{"content":"b"}}],"usage":{"total_tokens":1}}`},
		{`{"id":"x","choices":[{"delta":{"content":"a"}}],"model":"m"}`, `{"id":"x","choices":[{"delta":{"content":"bb"}}],"model":"m"}`},
		// Events that start as the last one decoded whole did (its lead),
		// then go on otherwise.
		{`{"id":"x","created":1,"choices":[]}`, `{"id":"x","created":12,"choices":[]}`, `{"id":"x","created":1 ,"choices":[]}`, `{"id":"x","created":1}`},
		{`{"id":"x","model":"m","usage":{"total_tokens":1}}`, `{"id":"x","model":"m","usage":{"total_tokens":1},"usage":null}`, `{"id":"x","model":"m"}`, `{"id":"x","model":"m",}`, `{"id":"x","model":"m"`, `{"id":"x","model":"m","choices":null}`},
		{`{"id":"x","moegate":{"a":[1]},"choices":[{"delta":{"content":"a"}}]}`, `{"id":"x","moegate":{"a":[1]},"choices":[{"delta":{"content":"a"}}],"choices":[]}`, `{"id":"x","moegate":{"a":[1]},"Choices":[]}`, `{"id":"x","moegate":{"a":[1]},"object":"o","error":null}`, `{"id":"x","moegate":{"a":[1]},"object":"o","error":{"message":"e"}}`},
		{`{"id":"x","object":"o","choices":[]}`, `{"id":"x","object":"o"}x`, `{"id":"x","object":"o"} `, `{"id":"x","object":"o","id":"y","created":2}`, `{"id":"x","object":"o","id":"y","created":2,"model":"m"}`},
	} {
		checkDecodeEvents(t, events)
	}
}

func checkDecodeEvents(t *testing.T, events []string) {
	t.Helper()
	var shape eventShape
	var c, want wireChunk
	var text, wantText []byte
	for i, e := range events {
		var kept, wantKept []byte
		ok := decodeEvent(&c, []byte(e), &text, &kept, &shape)
		wantOK := decodeChunkInto(&want, []byte(e), &wantText, &wantKept)
		if ok != wantOK || string(text) != string(wantText) || string(kept) != string(wantKept) {
			t.Fatalf("event %d %q: ok %v, text %q, kept %q; alone: %v, %q, %q", i, e, ok, text, kept, wantOK, wantText, wantKept)
		}
		if !ok {
			continue
		}
		if got, w := chunkSummary(c), chunkSummary(want); got != w {
			t.Fatalf("event %d %q: %s; alone: %s", i, e, got, w)
		}
	}
}

func chunkSummary(c wireChunk) string {
	s := fmt.Sprintf("choices %d usage %v error %v", len(c.Choices), c.Usage, c.Error)
	for _, ch := range c.Choices {
		fr := "<nil>"
		if ch.FinishReason != nil {
			fr = *ch.FinishReason
		}
		s += fmt.Sprintf(" [%q %q %s]", ch.Delta.Content, ch.Delta.ToolCalls, fr)
	}
	return s
}

func FuzzDecodeEvent(f *testing.F) {
	for i := range streamEvents[1:] {
		f.Add(string(streamEvents[i]), string(streamEvents[i+1]), `"x"`)
	}
	f.Fuzz(func(t *testing.T, a, b, piece string) {
		// b, and b with its first content string replaced by piece.
		events := []string{a, b, b}
		if i := strings.Index(b, `"content":"`); i >= 0 {
			if end := strings.Index(b[i+11:], `"`); end >= 0 {
				events = append(events, b[:i+10]+piece+b[i+11+end+1:])
			}
		}
		checkDecodeEvents(t, events)
	})
}

// A stream's content events after the first are read from their string
// alone; the role and finish events are decoded.
func TestEventShapeReadsPieces(t *testing.T) {
	var shape eventShape
	var c wireChunk
	var text []byte
	for i, e := range streamEvents {
		var kept []byte
		read := shape.read(&c, e, &text, &kept)
		if want := i >= 2 && i <= 8; read != want {
			t.Errorf("event %d %s: read by shape %v, want %v", i, e, read, want)
		}
		if !read && !decodeEvent(&c, e, &text, &kept, &shape) {
			t.Fatalf("event %d refused", i)
		}
	}
	if want := "The instant upstream streams every answer in eight pieces."; string(text) != want {
		t.Errorf("content %q, want %q", text, want)
	}
	// The events decoded whole are read after their id, object, created
	// and model, which the last one began with as well.
	want := `{"id":"chatcmpl-AbC123xyz","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18"`
	if string(shape.lead) != want {
		t.Errorf("lead %s, want %s", shape.lead, want)
	}
}
