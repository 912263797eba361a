package api

import (
	"encoding/json"
	"testing"
)

// Responses input items map onto chat messages: instructions aside,
// consecutive function calls become one assistant message with tool calls,
// and their outputs tool messages; tools, tool_choice and text.format map
// onto their chat forms.
func TestResponsesToChat(t *testing.T) {
	msgs, images, err := inputMessages(json.RawMessage(`[
		{"role":"developer","content":"be terse"},
		{"type":"message","role":"user","content":[{"type":"input_text","text":"weather in Paris and Rome?"},{"type":"input_image","image_url":"data:x"}]},
		{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
		{"type":"function_call","call_id":"call_2","name":"get_weather","arguments":"{\"city\":\"Rome\"}"},
		{"type":"function_call_output","call_id":"call_1","output":"sunny"},
		{"type":"function_call_output","call_id":"call_2","output":"rain"},
		{"role":"assistant","content":[{"type":"output_text","text":"Paris sunny, Rome rain."}]}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	if images != 1 || len(msgs) != 6 {
		t.Fatalf("%d images, %d messages: %+v", images, len(msgs), msgs)
	}
	if msgs[0].Role != "system" || msgs[1].Content != "weather in Paris and Rome?" || msgs[2].Role != "assistant" {
		t.Fatalf("messages %+v", msgs)
	}
	var calls []struct {
		ID       string
		Function struct{ Name, Arguments string }
	}
	if err := json.Unmarshal(msgs[2].ToolCalls, &calls); err != nil || len(calls) != 2 || calls[1].ID != "call_2" || calls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Fatalf("tool calls %s", msgs[2].ToolCalls)
	}
	if msgs[3].Role != "tool" || msgs[3].ToolCallID != "call_1" || msgs[3].Content != "sunny" || msgs[5].Content != "Paris sunny, Rome rain." {
		t.Fatalf("messages %+v", msgs[3:])
	}

	tools, err := chatTools(json.RawMessage(`[{"type":"function","name":"get_weather","description":"d","parameters":{"type":"object"},"strict":true}]`))
	if err != nil || string(tools) != `[{"function":{"description":"d","name":"get_weather","parameters":{"type":"object"},"strict":true},"type":"function"}]` {
		t.Fatalf("tools %s %v", tools, err)
	}
	for in, want := range map[string]string{`"required"`: `"required"`, `{"type":"function","name":"f"}`: `{"function":{"name":"f"},"type":"function"}`} {
		if got, err := chatToolChoice(json.RawMessage(in)); err != nil || string(got) != want {
			t.Errorf("tool_choice %s = %s %v, want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		`{"type":"text"}`:        ``,
		`{"type":"json_object"}`: `{"type":"json_object"}`,
		`{"type":"json_schema","name":"w","schema":{"type":"object"},"strict":true}`: `{"json_schema":{"name":"w","schema":{"type":"object"},"strict":true},"type":"json_schema"}`,
	} {
		if got, err := chatResponseFormat(json.RawMessage(in)); err != nil || string(got) != want {
			t.Errorf("text.format %s = %s %v, want %s", in, got, err, want)
		}
	}
}
