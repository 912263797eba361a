package main

import (
	"strings"
	"testing"
)

// The real local engine states what it cannot do: requests it cannot
// serve are routed to an expert that can, named in moegate.excluded; asked
// for directly it answers a 400 naming the parameter; with no capable
// expert the answer is a 400 too.
func TestCapabilityRoutingEndToEnd(t *testing.T) {
	up := toolUpstream(t)
	const tok = "caps-admin"
	g := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok)
	if status, _, body := call(t, "POST", g.url("/admin/experts"), tok, map[string]any{"name": "upstream", "kind": "openai", "base_url": up.URL, "model": "m",
		"examples": []string{"weather in paris", "is it raining"}, "capabilities": map[string]any{"vision": false}}); status != 201 {
		t.Fatalf("add expert: %d %v", status, body)
	}
	tools := []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather", "parameters": map[string]any{"type": "object"}}}}
	msgs := []map[string]any{{"role": "user", "content": "zzqx vvrt plok"}}
	skipped := func(body map[string]any, name, why string) bool {
		ex, _ := body["moegate"].(map[string]any)["excluded"].([]any)
		for _, x := range ex {
			x := x.(map[string]any)
			if x["name"] == name && strings.Contains(x["reason"].(string), why) {
				return true
			}
		}
		return false
	}
	for _, tt := range []struct {
		name string
		req  map[string]any
		why  string
	}{
		{"tools", map[string]any{"model": "auto", "messages": msgs, "tools": tools}, "does not support tools"},
		{"json schema", map[string]any{"model": "auto", "messages": msgs, "response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "x", "schema": map[string]any{}}}}, "structured output"},
		{"logprobs", map[string]any{"model": "auto", "messages": msgs, "logprobs": true}, "cannot honour 'logprobs'"},
	} {
		status, _, body := call(t, "POST", g.url("/v1/chat/completions"), "", tt.req)
		if status != 200 || body["model"] != "upstream" || !skipped(body, "local", tt.why) {
			t.Errorf("%s: %d, answered by %v, moegate %v", tt.name, status, body["model"], body["moegate"])
		}
	}
	for _, tt := range []struct {
		name        string
		req         map[string]any
		code, param string
	}{
		{"local with tools", map[string]any{"model": "local", "messages": msgs, "tools": tools}, "unsupported_parameter", "tools"},
		{"local with a penalty", map[string]any{"model": "local", "messages": msgs, "presence_penalty": 0.5}, "unsupported_parameter", "presence_penalty"},
		{"images, no vision expert", map[string]any{"model": "auto", "messages": []map[string]any{{"role": "user", "content": []map[string]any{
			{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": map[string]string{"url": "data:image/png;base64,AAAA"}}}}}}, "no_capable_expert", "messages"},
	} {
		status, _, body := call(t, "POST", g.url("/v1/chat/completions"), "", tt.req)
		wantError(t, status, body, 400, tt.code)
		if e := body["error"].(map[string]any); e["param"] != tt.param {
			t.Errorf("%s: param %v, want %s (%v)", tt.name, e["param"], tt.param, e)
		}
	}
}
