package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// toolUpstream is an OpenAI-compatible chat server: with tools it calls the
// first one, otherwise it answers "Hello from upstream." (streamed when
// asked).
func toolUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream bool `json:"stream"`
			Tools  []struct {
				Function struct{ Name string } `json:"function"`
			} `json:"tools"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if len(req.Tools) > 0 && req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":%q,\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n", req.Tools[0].Function.Name)
			for _, piece := range []string{`{"city":`, `"Paris"}`} {
				fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":%q}}]},\"finish_reason\":null}]}\n\n", piece)
			}
			fmt.Fprint(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n")
			return
		}
		if len(req.Tools) > 0 {
			fmt.Fprintf(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":%q,"arguments":"{\"city\":\"Paris\"}"}}]}}],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}`, req.Tools[0].Function.Name)
			return
		}
		if !req.Stream {
			fmt.Fprint(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hello from upstream."}}],"usage":{"prompt_tokens":4,"completion_tokens":4,"total_tokens":8}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, piece := range []string{"Hello", " from", " upstream."} {
			fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", piece)
		}
		fmt.Fprint(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestOfficialSDK runs the official OpenAI SDK for Node (npm openai, in
// tools/sdkcheck) against the real binary: /v1/responses streaming and not,
// with a function tool, and /v1/completions streaming and not.
func TestOfficialSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the official-SDK check needs Node.js (scripts/test.sh installs it)")
	}
	dir, _ := filepath.Abs(filepath.Join("..", "..", "tools", "sdkcheck"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err != nil {
		t.Fatalf("the npm openai package is missing: run `npm ci` in %s (scripts/test.sh does)", dir)
	}
	up := toolUpstream(t)
	const tok = "sdk-admin"
	g := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok)
	if status, _, body := call(t, "POST", g.url("/admin/experts"), tok, map[string]any{"name": "upstream", "kind": "openai", "base_url": up.URL, "model": "m"}); status != 201 {
		t.Fatalf("add expert: %d %v", status, body)
	}
	cmd := exec.Command(node, "check.mjs", g.url("/v1"), "upstream")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		t.Logf("SDK printed: %s", sc.Text())
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("SDK output is not JSON: %s", sc.Text())
		}
		got[m["check"].(string)] = m
	}
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the SDK check failed: %v\n%s\ngateway log:\n%s", err, stderr.String(), g.logs)
	}

	r := got["responses"]
	if r["object"] != "response" || r["status"] != "completed" || r["output_text"] != "Hello from upstream." || !strings.HasPrefix(r["id"].(string), "resp_") {
		t.Errorf("responses.create: %v", r)
	}
	if u, _ := r["usage"].(map[string]any); u["total_tokens"] != 8.0 {
		t.Errorf("responses usage: %v", r["usage"])
	}
	calls, _ := got["responses_tools"]["calls"].([]any)
	if len(calls) != 1 || calls[0].(map[string]any)["name"] != "get_weather" || calls[0].(map[string]any)["arguments"] != `{"city":"Paris"}` {
		t.Errorf("responses.create with tools: %v", got["responses_tools"])
	}
	st := got["responses_stream"]
	var events []string
	for _, e := range st["events"].([]any) {
		events = append(events, e.(string))
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if !slices.Equal(events, want) || st["text"] != "Hello from upstream." || st["final_text"] != "Hello from upstream." {
		t.Errorf("responses stream:\n got %v\nwant %v\n(%v)", events, want, st)
	}
	ts := got["responses_tools_stream"]
	var tevents []string
	for _, e := range ts["events"].([]any) {
		tevents = append(tevents, e.(string))
	}
	twant := []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done",
		"response.completed"}
	if !slices.Equal(tevents, twant) || ts["arguments"] != `{"city":"Paris"}` || ts["name"] != "get_weather" {
		t.Errorf("responses stream with a function call:\n got %v\nwant %v\n(%v)", tevents, twant, ts)
	}
	if c := got["completions"]; c["object"] != "text_completion" || c["text"] != "Hello from upstream." || c["finish_reason"] != "stop" {
		t.Errorf("completions.create: %v", c)
	}
	if c := got["completions_stream"]; c["text"] != "Hello from upstream." || c["chunks"].(float64) < 3 {
		t.Errorf("completions.create stream: %v", c)
	}
}
