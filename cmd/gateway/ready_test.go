package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestReadyOnlyWhenRouterTrained: a gateway whose registry holds domain
// experts is not ready until its router has trained; /readyz reports the
// registry, the default expert and the router; the first request after it
// is ready is routed by the model, not sent to the default expert.
func TestReadyOnlyWhenRouterTrained(t *testing.T) {
	dir := t.TempDir()
	var specs []map[string]any
	for _, d := range []string{"banking", "travel", "cooking"} {
		var ex []string
		for i := range 800 {
			ex = append(ex, fmt.Sprintf("%s question number %d about %s things", d, i, d))
		}
		specs = append(specs, map[string]any{"name": d, "kind": "local", "examples": ex, "enabled": true})
	}
	b, _ := json.Marshal(map[string]any{"version": 1, "experts": specs})
	if err := os.WriteFile(filepath.Join(dir, "experts.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, addr: freeAddr(t), dataDir: dir, logs: &bytes.Buffer{}}
	in.cmd = exec.Command(gatewayBinary(t), "serve", "--addr", in.addr, "--data-dir", dir)
	in.cmd.Dir = t.TempDir()
	in.cmd.Stderr = &syncWriter{w: in.logs}
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.done = make(chan error, 1)
	go func() { in.done <- in.cmd.Wait() }()
	t.Cleanup(in.kill)
	var sawNotReady bool
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 60s\n%s", in.logs)
		}
		resp, err := http.Get(in.url("/readyz"))
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		status := resp.StatusCode
		checks, _ := body["checks"].(map[string]any)
		if status == http.StatusServiceUnavailable {
			if checks["router"] == "ok" || checks["router"] == nil {
				t.Fatalf("not ready, but not because of the router: %v", body)
			}
			sawNotReady = true
		}
		if status == http.StatusOK {
			if checks["router"] != "ok" || checks["default_expert"] != "ok" || checks["registry"] == nil {
				t.Fatalf("ready without every check: %v", body)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	status, _, body := call(t, "POST", in.url("/v1/chat/completions"), "", map[string]any{"model": "auto",
		"messages": []map[string]string{{"role": "user", "content": "a travel question about travel things"}}})
	if status != 200 {
		t.Fatalf("chat %d %v", status, body)
	}
	route := body["moegate"].(map[string]any)["route"].(map[string]any)
	if route["default_reason"] == "router not trained" || route["version"].(float64) < 1 {
		t.Fatalf("first request after ready was not routed by a model: %v", route)
	}
	t.Logf("saw not ready while training: %t; route %v", sawNotReady, route["experts"])
}
