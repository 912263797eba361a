package api

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/policies"
)

type observations struct {
	mu  sync.Mutex
	obs []gateway.Observation
}

func (o *observations) Observe(ob gateway.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.obs = append(o.obs, ob)
}

func (o *observations) all() []gateway.Observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]gateway.Observation(nil), o.obs...)
}

func TestRouteDryRunCallsNoExpert(t *testing.T) {
	obs := &observations{}
	env := newTestEnv(t, Options{}, gateway.Options{}, func(d *gateway.Deps) { d.Observer = obs })
	w := env.do("POST", "/v1/route", hello)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	if m["object"] != "moegate.route" || m["model"] != "auto" {
		t.Fatalf("shape: %v", m)
	}
	mg := m["moegate"].(map[string]any)
	if mg["route"].(map[string]any)["experts"].([]any)[0].(map[string]any)["name"] != "banking" {
		t.Fatalf("route: %v", mg["route"])
	}
	if _, ok := m["passages"].([]any); !ok {
		t.Fatalf("passages missing: %v", m)
	}
	for name, e := range env.experts {
		if ee, ok := e.(*echoExpert); ok && ee.calls.Load() != 0 {
			t.Fatalf("dry run called expert %s", name)
		}
	}
	if len(obs.all()) != 0 {
		t.Fatalf("a dry run was observed as a request: %v", obs.all())
	}
	if calls, ok := mg["experts"].([]any); !ok || len(calls) != 0 {
		t.Fatalf("a dry run reports expert calls: %v", mg["experts"])
	}
	// It is not counted as a routing decision.
	if m := env.do("GET", "/metrics", ""); strings.Contains(m.Body.String(), "moegate_routing_decisions_total{") {
		t.Fatalf("dry run counted in the metrics")
	}
	// Validation is that of chat completions.
	assertError(t, env.do("POST", "/v1/route", `{"model":"auto","messages":[]}`), 400, "", "messages")
}

func TestRouteUsesTheCallersPolicies(t *testing.T) {
	env := newTestEnv(t, Options{AuthRequired: true}, gateway.Options{}, nil)
	ctx := context.Background()
	_, key, err := env.srv.deps.Tenants.Create(ctx, policies.Tenant{Name: "nobank", DeniedExperts: []string{"banking"}})
	if err != nil {
		t.Fatal(err)
	}
	assertError(t, env.do("POST", "/v1/route", hello), 401, "", "")
	// The static router names banking, which this tenant may not use: the
	// decision says it is excluded and why.
	w := env.do("POST", "/v1/route", hello, "Authorization", "Bearer "+key)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	if m["tenant"] != "nobank" {
		t.Fatalf("tenant = %v", m["tenant"])
	}
	excluded := m["moegate"].(map[string]any)["excluded"].([]any)
	if len(excluded) == 0 || excluded[0].(map[string]any)["name"] != "banking" || excluded[0].(map[string]any)["reason"] == "" {
		t.Fatalf("excluded: %v", excluded)
	}

	// An admin dry-runs as that tenant, or as the default tenant.
	w = env.do("POST", "/admin/route?tenant=nobank", hello, "Authorization", "Bearer admin-token")
	if w.Code != 200 || decode(t, w)["tenant"] != "nobank" {
		t.Fatalf("admin as tenant: %d %s", w.Code, w.Body)
	}
	w = env.do("POST", "/admin/route", hello, "Authorization", "Bearer admin-token")
	if w.Code != 200 || decode(t, w)["tenant"] != policies.DefaultTenantName {
		t.Fatalf("admin as default tenant: %d %s", w.Code, w.Body)
	}
	assertError(t, env.do("POST", "/admin/route?tenant=ghost", hello, "Authorization", "Bearer admin-token"), 404, "", "")
	// A tenant key is not an admin token.
	assertError(t, env.do("POST", "/admin/route", hello, "Authorization", "Bearer "+key), 401, "", "")
}

func TestChatIsObserved(t *testing.T) {
	obs := &observations{}
	env := newTestEnv(t, Options{}, gateway.Options{}, func(d *gateway.Deps) { d.Observer = obs })
	if w := env.do("POST", "/admin/chat/completions", hello, "Authorization", "Bearer admin-token", "X-Request-Id", "obs-1"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	env.do("POST", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, "X-Request-Id", "obs-2")
	for _, c := range []struct{ path, body string }{
		{"/v1/completions", `{"model":"auto","prompt":"hello there"}`},
		{"/v1/responses", `{"model":"auto","input":"hello there"}`},
		{"/v1/chat/completions", `{"model":"auto","stream":true,"messages":[{"role":"user","content":"hello there"}]}`},
	} {
		if w := env.do("POST", c.path, c.body, "X-Request-Id", "obs"+c.path); w.Code != 200 {
			t.Fatalf("%s: %d %s", c.path, w.Code, w.Body)
		}
	}
	got := obs.all()
	if len(got) != 5 {
		t.Fatalf("observations: %+v", got)
	}
	for _, o := range got[2:] {
		if o.Status != 200 || o.Answered != "banking" || o.Info == nil || o.Model != "auto" || o.ErrorKind != "" {
			t.Fatalf("%s observed as %+v", o.RequestID, o)
		}
	}
	if !got[4].Stream || got[2].Stream {
		t.Fatalf("stream flags: %v %v", got[2].Stream, got[4].Stream)
	}
	ok := got[0]
	if ok.RequestID != "obs-1" || ok.Status != 200 || ok.Answered != "banking" || ok.Info == nil || ok.Usage.Total() == 0 || ok.Latency <= 0 || ok.Tenant != policies.DefaultTenantName {
		t.Fatalf("success observed as %+v", ok)
	}
	bad := got[1]
	if bad.RequestID != "obs-2" || bad.Status != 404 || bad.ErrorKind != "not_found" || bad.Error == "" || bad.Answered != "" {
		t.Fatalf("failure observed as %+v", bad)
	}
}
