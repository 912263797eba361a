package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
)

// Secrets are referenced, not stored: header values are redacted in every
// admin read, credentials come from allowed environment variables only,
// and upstream failures reach chat clients without upstream text or
// internal addresses.
func TestSecretRedaction(t *testing.T) {
	const secret = "s3cr3t-upstream-token"
	t.Setenv("UPSTREAM_TOKEN", secret)
	var mu sync.Mutex
	var gotAuth string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = r.Header.Get("Authorization")
		mu.Unlock()
		w.WriteHeader(500)
		w.Write([]byte(`{"error":{"message":"db at 10.1.2.3:5432 refused","type":"server_error"}}`))
	}))
	defer up.Close()
	env := newTestEnv(t, Options{}, gateway.Options{}, nil)
	auth := []string{"Authorization", "Bearer admin-token"}

	w := env.do("POST", "/admin/experts", `{"name":"secure","kind":"openai","base_url":"`+up.URL+`","model":"m",
		"headers":{"X-Team":"payments-team"},"headers_env":{"Authorization":"UPSTREAM_TOKEN"}}`, auth...)
	if w.Code != 201 {
		t.Fatalf("add: %d %s", w.Code, w.Body)
	}
	for _, body := range []string{w.Body.String(), env.do("GET", "/admin/experts", "", auth...).Body.String(), env.do("GET", "/admin/experts/secure", "", auth...).Body.String()} {
		if strings.Contains(body, secret) || strings.Contains(body, "payments-team") {
			t.Fatalf("admin read shows a header value: %s", body)
		}
		if !strings.Contains(body, `"X-Team":"[redacted]"`) || !strings.Contains(body, `"Authorization":"UPSTREAM_TOKEN"`) {
			t.Fatalf("admin read lacks the redacted header or the variable name: %s", body)
		}
	}
	// Nothing secret is stored either.
	for _, sp := range env.reg.List() {
		if sp.Name == "secure" && (sp.Headers["Authorization"] != "" || strings.Contains(sp.Headers["X-Team"], secret)) {
			t.Fatalf("stored spec holds the secret: %+v", sp)
		}
	}

	// The secret is sent to the upstream, and its failure reaches the
	// client without the upstream's text or addresses.
	w = env.do("POST", "/v1/chat/completions", `{"model":"secure","messages":[{"role":"user","content":"hi"}]}`)
	mu.Lock()
	if gotAuth != secret {
		t.Fatalf("upstream got Authorization %q", gotAuth)
	}
	mu.Unlock()
	if w.Code < 500 || strings.Contains(w.Body.String(), "10.1.2.3") || strings.Contains(w.Body.String(), up.URL) || strings.Contains(w.Body.String(), "127.0.0.1") {
		t.Fatalf("chat client sees upstream internals: %d %s", w.Code, w.Body)
	}

	for _, tc := range []struct{ body, param string }{
		{`{"name":"x2","kind":"openai","base_url":"http://u","model":"m","api_key_env":"MOEGATE_ADMIN_TOKEN"}`, "api_key_env"},
		{`{"name":"x3","kind":"openai","base_url":"http://u","model":"m","headers_env":{"X-Key":"moegate_admin_token"}}`, "headers_env"},
		{`{"name":"x4","kind":"openai","base_url":"http://u","model":"m","headers_env":{"X-Key":"NOT SET"}}`, "headers_env"},
	} {
		assertError(t, env.do("POST", "/admin/experts", tc.body, auth...), 400, "", tc.param)
	}

	// A credential given in plain headers (older configurations) is
	// accepted, but never shown.
	w = env.do("POST", "/admin/experts", `{"name":"plain","kind":"openai","base_url":"http://u","model":"m","headers":{"Authorization":"Bearer plain-secret"}}`, auth...)
	if w.Code != 201 || strings.Contains(w.Body.String(), "plain-secret") {
		t.Fatalf("plain credential header: %d %s", w.Code, w.Body)
	}
	for _, path := range []string{"/admin/experts", "/admin/experts/plain"} {
		if body := env.do("GET", path, "", auth...).Body.String(); strings.Contains(body, "plain-secret") || !strings.Contains(body, `"Authorization":"[redacted]"`) {
			t.Fatalf("GET %s shows the credential: %s", path, body)
		}
	}

	// With a prefix configured, only variables under it may be named.
	env.reg.SetEnvPolicy(experts.EnvPolicy{Prefix: "UPSTREAM_"})
	if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "x5", Kind: experts.KindOpenAI, BaseURL: up.URL, Model: "m", APIKeyEnv: "HOME"}); err == nil || !strings.Contains(err.Error(), "UPSTREAM_") {
		t.Fatalf("a variable outside the prefix: %v", err)
	}
	if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "x6", Kind: experts.KindOpenAI, BaseURL: up.URL, Model: "m", APIKeyEnv: "UPSTREAM_TOKEN"}); err != nil {
		t.Fatalf("a variable under the prefix: %v", err)
	}
}
