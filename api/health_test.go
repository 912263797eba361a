package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/health"
)

// An ejected expert shows in /admin/experts, /readyz (degraded, still
// ready) and /metrics, and is reported in the moegate object of the
// requests that skip it.
func TestBreakerStateIsVisible(t *testing.T) {
	tr := health.New(health.Options{ConsecutiveFailures: 2, Cooldown: time.Minute})
	env := newTestEnv(t, Options{}, gateway.Options{}, func(d *gateway.Deps) {
		d.Health = tr
		if err := d.Metrics.Register(tr); err != nil {
			t.Fatal(err)
		}
	})
	env.srv.deps.Health = tr
	auth := []string{"Authorization", "Bearer admin-token"}
	if w := env.do("GET", "/readyz", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"status":"ready"`) {
		t.Fatalf("readyz before: %d %s", w.Code, w.Body)
	}
	for range 2 {
		tr.Observe("banking", errors.New("upstream status 500"))
	}
	w := env.do("GET", "/admin/experts/banking", "", auth...)
	if !strings.Contains(w.Body.String(), `"state":"ejected"`) || !strings.Contains(w.Body.String(), "2 consecutive failures") {
		t.Fatalf("admin expert: %s", w.Body)
	}
	w = env.do("GET", "/readyz", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"status":"degraded"`) || !strings.Contains(w.Body.String(), "banking ejected") {
		t.Fatalf("readyz with an ejected expert: %d %s", w.Code, w.Body)
	}
	if page := env.do("GET", "/metrics", "").Body.String(); !strings.Contains(page, `moegate_expert_circuit_open{expert="banking"} 1`) || !strings.Contains(page, `moegate_expert_ejections_total{expert="banking"} 1`) {
		t.Fatalf("metrics lack the breaker:\n%s", grepLines(page, "moegate_expert_"))
	}
	// The static router sends everything to banking: with it ejected, the
	// default expert answers and the moegate object says why.
	w = env.do("POST", "/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"check my balance"}]}`)
	m := decode(t, w)
	info, _ := m["moegate"].(map[string]any)
	if w.Code != 200 || info["answered_by"] != "local" || !strings.Contains(w.Body.String(), "circuit open") {
		t.Fatalf("request with banking ejected: %d %s", w.Code, w.Body)
	}
	// Asked for by name, the ejected expert is 503 with the time until its
	// probe.
	w = env.do("POST", "/v1/chat/completions", `{"model":"banking","messages":[{"role":"user","content":"check my balance"}]}`)
	assertError(t, w, 503, "expert_unavailable", "")
	if ra := w.Header().Get("Retry-After"); ra == "" || ra == "0" || ra == "1" {
		t.Fatalf("Retry-After %q, want the cooldown left (about 60)", ra)
	}
}

func grepLines(page, substr string) string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
