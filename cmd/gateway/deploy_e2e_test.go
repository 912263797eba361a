package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// An expert with two deployments, one of them down: every request is
// answered (the failing endpoint's requests move on to the other), and
// the failing endpoint stops being tried once ejected.
func TestDeploymentsEndToEnd(t *testing.T) {
	good := toolUpstream(t)
	var badCalls atomic.Int64
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		badCalls.Add(1)
		http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(bad.Close)
	const tok = "deploy-admin"
	g := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok)
	status, _, body := call(t, "POST", g.url("/admin/experts"), tok, map[string]any{"name": "support", "kind": "openai", "model": "m",
		"deployments": []map[string]any{{"base_url": bad.URL, "weight": 5}, {"base_url": good.URL, "weight": 1}}})
	if status != 201 {
		t.Fatalf("add expert: %d %v", status, body)
	}
	for i := range 10 {
		status, _, body := call(t, "POST", g.url("/v1/chat/completions"), "", map[string]any{"model": "support",
			"moegate": map[string]any{"cache": "off"}, "messages": []map[string]string{{"role": "user", "content": "hi"}}})
		if status != 200 || body["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"] != "Hello from upstream." {
			t.Fatalf("request %d: %d %v", i, status, body)
		}
	}
	if n := badCalls.Load(); n < 1 || n > 3 {
		t.Fatalf("the failing deployment was called %d times; want it tried, then ejected after 3 failures", n)
	}
	// A spec with both base_url and deployments is refused before anything is stored.
	status, _, body = call(t, "POST", g.url("/admin/experts"), tok, map[string]any{"name": "both", "kind": "openai", "model": "m", "base_url": good.URL,
		"deployments": []map[string]any{{"base_url": good.URL}}})
	wantError(t, status, body, 400, "")
}
