package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// buildGateway compiles the real binary once per test binary run.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func gatewayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "moegate-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// instance is one running gateway process.
type instance struct {
	t       *testing.T
	addr    string
	dataDir string
	env     []string
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	done    chan error
}

func startInstance(t *testing.T, dataDir string, env ...string) *instance {
	t.Helper()
	in := &instance{t: t, addr: freeAddr(t), dataDir: dataDir, env: env}
	in.start()
	t.Cleanup(in.kill)
	return in
}

func (in *instance) start() {
	t := in.t
	t.Helper()
	in.logs = &bytes.Buffer{}
	in.cmd = exec.Command(gatewayBinary(t), "serve", "--addr", in.addr, "--data-dir", in.dataDir)
	in.cmd.Dir = t.TempDir() // no gateway.yaml here: embedded defaults
	in.cmd.Env = append(os.Environ(), in.env...)
	in.cmd.Stderr = &syncWriter{w: in.logs}
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.done = make(chan error, 1)
	go func() { in.done <- in.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(in.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-in.done:
			t.Fatalf("gateway exited before ready: %v\n%s", err, in.logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("gateway not ready after 60s\n%s", in.logs)
}

// stop sends SIGTERM and waits for a clean exit.
func (in *instance) stop() {
	in.t.Helper()
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-in.done:
		if err != nil {
			in.t.Fatalf("gateway exited with %v after SIGTERM\n%s", err, in.logs)
		}
	case <-time.After(30 * time.Second):
		in.t.Fatalf("gateway did not stop within 30s of SIGTERM")
	}
}

func (in *instance) kill() {
	if in.cmd.ProcessState == nil {
		_ = in.cmd.Process.Kill()
		<-in.done
	}
}

func (in *instance) url(path string) string { return "http://" + in.addr + path }

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// e2eClient gives up on an answer well after the gateway's 120 s request
// timeout: a request the gateway never answers fails the test instead of
// hanging it.
var e2eClient = &http.Client{Timeout: 3 * time.Minute}

// call sends a JSON request and decodes the JSON answer.
func call(t *testing.T, method, url, token string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	return callH(t, method, url, token, body)
}

// callH is call with extra headers as name, value pairs.
func callH(t *testing.T, method, url, token string, body any, hdr ...string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e2eClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: not JSON (%d): %s", method, url, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// wantError checks OpenAI's error shape and status.
func wantError(t *testing.T, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status = %d, want %d: %v", status, wantStatus, body)
	}
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %v", body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e[k]; !ok {
			t.Fatalf("error lacks %q: %v", k, e)
		}
	}
	if msg, _ := e["message"].(string); msg == "" || strings.Contains(msg, "goroutine") {
		t.Fatalf("bad error message: %q", msg)
	}
	if wantCode != "" && e["code"] != wantCode {
		t.Fatalf("code = %v, want %s", e["code"], wantCode)
	}
}

// TestEndToEndGatewayToGateway runs the real binary twice and registers
// instance B as an openai expert of instance A: gateway to gateway over
// loopback through go-openai.
func TestEndToEndGatewayToGateway(t *testing.T) {
	const tokA, tokB = "admin-a", "admin-b"
	b := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tokB, "MOEGATE_LOCAL_MAX_TOKENS=12")
	dirA := t.TempDir()
	a := startInstance(t, dirA, "MOEGATE_ADMIN_TOKEN="+tokA, "MOEGATE_LOCAL_MAX_TOKENS=12", "MOEGATE_ROUTER_KIND=static")

	// The default expert answers with no configuration at all.
	status, hdr, body := call(t, "POST", a.url("/v1/chat/completions"), "", map[string]any{
		"model": "auto", "messages": []map[string]any{{"role": "user", "content": "hello"}},
	})
	if status != 200 {
		t.Fatalf("default expert: %d %v", status, body)
	}
	mg, _ := body["moegate"].(map[string]any)
	if mg == nil || hdr.Get("X-Moegate-Route") == "" || hdr.Get("X-Request-Id") == "" {
		t.Fatalf("routing not visible: header %q body %v", hdr.Get("X-Moegate-Route"), body)
	}
	if route := mg["route"].(map[string]any); route["default"] != true {
		t.Fatalf("static router should send to the default expert: %v", route)
	}

	// Register B as an expert of A.
	expert := map[string]any{
		"name": "gw-b", "kind": "openai", "base_url": b.url("/v1"), "model": "local",
		"description": "another moegate gateway", "tags": []string{"loopback"}, "examples": []string{"hi there"},
		"data_owner": "team-b",
	}
	status, _, body = call(t, "POST", a.url("/admin/experts"), tokA, expert)
	if status != http.StatusCreated || body["name"] != "gw-b" || body["base_url"] != b.url("/v1") {
		t.Fatalf("add expert: %d %v", status, body)
	}

	client := openai.NewClientWithConfig(func() openai.ClientConfig {
		c := openai.DefaultConfig("unused")
		c.BaseURL = a.url("/v1")
		return c
	}())
	ctx := context.Background()

	// Non-streaming through the official client.
	resp, err := client.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model: "gw-b", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "say something"}}, MaxCompletionTokens: 8, Seed: ptr(7),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" || resp.Usage.CompletionTokens == 0 {
		t.Fatalf("completion via B: %+v", resp)
	}
	if resp.Model != "gw-b" {
		t.Errorf("model = %q, want the expert that answered", resp.Model)
	}

	// Streaming through the official client.
	stream, err := client.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{
		Model: "gw-b", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "stream please"}}, MaxCompletionTokens: 8, Stream: true,
		StreamOptions: &openai.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	chunks, sawUsage, sawFinish := 0, false, false
	for {
		ch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks++
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
			sawFinish = sawFinish || c.FinishReason != ""
		}
		sawUsage = sawUsage || (ch.Usage != nil && ch.Usage.CompletionTokens > 0)
	}
	stream.Close()
	if text.Len() == 0 || chunks < 3 || !sawUsage || !sawFinish {
		t.Fatalf("stream: %d chunks, text %q, usage %v, finish %v", chunks, text.String(), sawUsage, sawFinish)
	}

	// The raw stream: first chunk carries the moegate object, last line is [DONE].
	raw := rawStream(t, a.url("/v1/chat/completions"), `{"model":"gw-b","stream":true,"max_tokens":4,"messages":[{"role":"user","content":"x"}]}`)
	if len(raw) < 3 || !strings.Contains(raw[0], `"moegate"`) || raw[len(raw)-1] != "data: [DONE]" {
		t.Fatalf("raw stream: %q", raw)
	}

	// Models list auto and every enabled expert.
	models, err := client.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range models.Models {
		ids[m.ID] = true
	}
	if !ids["auto"] || !ids["gw-b"] || !ids["local"] {
		t.Fatalf("models: %v", ids)
	}

	// Error shapes.
	status, _, body = call(t, "POST", a.url("/v1/chat/completions"), "", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`)
	wantError(t, status, body, 404, "model_not_found")
	status, _, body = call(t, "POST", a.url("/v1/chat/completions"), "", `{"model": "auto", "messages": [`)
	wantError(t, status, body, 400, "")
	status, _, body = call(t, "POST", a.url("/v1/chat/completions"), "", `{"model":"auto","messages":[{"role":"user","content":"`+strings.Repeat("x", 2<<20)+`"}]}`)
	wantError(t, status, body, 413, "request_too_large")
	status, _, body = call(t, "POST", a.url("/admin/experts"), "wrong", expert)
	wantError(t, status, body, 401, "")
	status, _, body = call(t, "POST", a.url("/admin/experts"), tokA, expert)
	wantError(t, status, body, 409, "")
	status, _, body = call(t, "POST", a.url("/admin/experts"), tokA, map[string]any{"name": "Bad Name!", "kind": "openai"})
	wantError(t, status, body, 400, "")

	// A failing upstream is a 502 naming the expert.
	status, _, body = call(t, "POST", a.url("/admin/experts"), tokA, map[string]any{
		"name": "dead", "kind": "openai", "base_url": "http://" + freeAddr(t) + "/v1", "model": "m"})
	if status != 201 {
		t.Fatalf("add dead: %d %v", status, body)
	}
	status, _, body = call(t, "POST", a.url("/v1/chat/completions"), "", `{"model":"dead","messages":[{"role":"user","content":"x"}]}`)
	wantError(t, status, body, 502, "expert_failed")
	if msg := body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "dead") {
		t.Fatalf("502 does not name the expert: %q", msg)
	}

	// Update: disabled experts disappear from models and cannot be called.
	status, _, body = call(t, "PUT", a.url("/admin/experts/gw-b"), tokA, map[string]any{
		"kind": "openai", "base_url": b.url("/v1"), "model": "local", "enabled": false, "data_owner": "team-b"})
	if status != 200 || body["enabled"] != false {
		t.Fatalf("update: %d %v", status, body)
	}
	status, _, body = call(t, "GET", a.url("/v1/models/gw-b"), "", nil)
	wantError(t, status, body, 404, "model_not_found")

	// Remove, then the registry survives a restart with what is left.
	status, _, _ = call(t, "DELETE", a.url("/admin/experts/dead"), tokA, nil)
	if status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	status, _, body = call(t, "DELETE", a.url("/admin/experts/dead"), tokA, nil)
	wantError(t, status, body, 404, "")

	a.stop()
	a.start()
	status, _, body = call(t, "GET", a.url("/admin/experts/gw-b"), tokA, nil)
	if status != 200 || body["enabled"] != false || body["data_owner"] != "team-b" {
		t.Fatalf("after restart: %d %v", status, body)
	}
	status, _, _ = call(t, "GET", a.url("/admin/experts/dead"), tokA, nil)
	if status != 404 {
		t.Fatalf("removed expert came back after restart: %d", status)
	}

	// Without an admin token, the admin API does not exist.
	status, _, body = call(t, "GET", b.url("/admin/experts"), "", nil)
	wantError(t, status, body, 401, "")
	c := startInstance(t, t.TempDir())
	status, _, body = call(t, "GET", c.url("/admin/experts"), "anything", nil)
	wantError(t, status, body, 404, "")
}

func ptr[T any](v T) *T { return &v }

// rawStream posts a streaming request and returns its non-empty lines.
func rawStream(t *testing.T, url, body string) []string {
	t.Helper()
	resp, err := e2eClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// slowUpstream is an OpenAI-compatible server that streams n chunks, one
// every gap.
func slowUpstream(t *testing.T, n int, gap time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range n {
			fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"},\"finish_reason\":null}]}\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(gap)
		}
		fmt.Fprint(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestGracefulShutdownFinishesStreams: SIGTERM in the middle of a stream
// lets it finish, then the gateway exits cleanly.
func TestGracefulShutdownFinishesStreams(t *testing.T) {
	const tok = "adm"
	up := slowUpstream(t, 10, 100*time.Millisecond)
	a := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok)
	if status, _, body := call(t, "POST", a.url("/admin/experts"), tok, map[string]any{
		"name": "slow", "kind": "openai", "base_url": up.URL + "/v1", "model": "m"}); status != 201 {
		t.Fatalf("add: %d %v", status, body)
	}
	resp, err := http.Post(a.url("/v1/chat/completions"), "application/json",
		strings.NewReader(`{"model":"slow","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var text strings.Builder
	done, signalled := false, false
	for sc.Scan() {
		line := sc.Text()
		if !signalled && strings.Contains(line, "w0") {
			_ = a.cmd.Process.Signal(syscall.SIGTERM) // mid-stream
			signalled = true
		}
		if line == "data: [DONE]" {
			done = true
		}
		text.WriteString(line)
	}
	if !signalled || !done || !strings.Contains(text.String(), "w9") {
		t.Fatalf("stream cut by shutdown (signalled %v, done %v): %s", signalled, done, text.String())
	}
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, a.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not exit after the stream finished")
	}
}
