package api

import (
	"strings"
	"testing"

	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/policies"
)

// A tenant deleted and created again under the same name is a new tenant:
// it inherits neither the old one's usage and limits nor its cached answers.
func TestTenantRecreationInheritsNothing(t *testing.T) {
	env := newTestEnv(t, Options{AuthRequired: true, AdminToken: "adm"}, gateway.Options{}, func(d *gateway.Deps) {
		d.Cache = policies.NewMemoryCache(policies.CacheOptions{})
	})
	adm := []string{"Authorization", "Bearer adm"}
	const hello = `{"model":"banking","messages":[{"role":"user","content":"what is my balance"}]}`
	create := func() (key, id string) {
		t.Helper()
		w := env.do("POST", "/admin/tenants", `{"name":"acme","rpm":1}`, adm...)
		if w.Code != 201 {
			t.Fatalf("create tenant: %d %s", w.Code, w.Body)
		}
		m := decode(t, w)
		id, _ = m["id"].(string)
		return m["key"].(string), id
	}
	key1, id1 := create()
	if w := env.do("POST", "/v1/chat/completions", hello, "Authorization", "Bearer "+key1); w.Code != 200 {
		t.Fatalf("first tenant: %d %s", w.Code, w.Body)
	}
	if w := env.do("POST", "/v1/chat/completions", hello, "Authorization", "Bearer "+key1); w.Code != 429 {
		t.Fatalf("first tenant's second request in the minute: %d, want 429", w.Code)
	}
	if w := env.do("DELETE", "/admin/tenants/acme", "", adm...); w.Code != 204 {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}

	key2, id2 := create()
	if id1 == "" || id2 == "" || id1 == id2 || !strings.HasPrefix(id2, "tnt_") {
		t.Fatalf("tenant ids %q and %q: want two fresh ids", id1, id2)
	}
	w := env.do("POST", "/v1/chat/completions", hello, "Authorization", "Bearer "+key2)
	if w.Code != 200 {
		t.Fatalf("re-created tenant inherited the rate limit: %d %s", w.Code, w.Body)
	}
	if m := decode(t, w)["moegate"].(map[string]any); m["cache"].(map[string]any)["hit"] == true {
		t.Fatalf("re-created tenant served the old tenant's cached answer: %v", m["cache"])
	}
	w = env.do("GET", "/v1/usage", "", "Authorization", "Bearer "+key2)
	if u := decode(t, w); u["tenant"] != "acme" || u["requests"].(float64) != 1 {
		t.Fatalf("re-created tenant's usage: %s", w.Body)
	}
}
