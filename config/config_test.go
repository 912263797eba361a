package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.DefaultExpert != "local" || cfg.Redis.URL != "" || cfg.Postgres.URL != "" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.Router.Kind != "learned" {
		t.Fatalf("defaults: addr %q, router %q", cfg.Addr, cfg.Router.Kind)
	}
}

func TestLoadFileThenEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.yaml")
	if err := os.WriteFile(path, []byte("addr: 0.0.0.0:9000\nrouter:\n  top_k: 2\ncache:\n  ttl: 1m\nexperts:\n  - name: a\n    kind: openai\n    base_url: http://x\n    model: m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, env(map[string]string{
		"MOEGATE_ROUTER_TOP_K":        "3",
		"MOEGATE_REDIS_URL":           "redis://127.0.0.1:6379/0",
		"MOEGATE_CACHE_TTL":           "90s",
		"MOEGATE_CACHE_ENABLED":       "false",
		"MOEGATE_RETRIEVAL_MIN_SCORE": "0.5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "0.0.0.0:9000" {
		t.Errorf("addr from file: %q", cfg.Addr)
	}
	if cfg.Router.TopK != 3 || cfg.Redis.URL != "redis://127.0.0.1:6379/0" || cfg.Cache.TTL.Std() != 90*time.Second || cfg.Cache.Enabled || cfg.Retrieval.MinScore != 0.5 {
		t.Errorf("env overrides not applied: %+v", cfg)
	}
	if len(cfg.Experts) != 1 || cfg.Experts[0].Name != "a" {
		t.Errorf("experts: %+v", cfg.Experts)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path string
		env        map[string]string
		want       string
	}{
		{"missing explicit file", filepath.Join(dir, "nope.yaml"), nil, "no such file"},
		{"unknown key", write("u.yaml", "adress: x\n"), nil, "adress"},
		{"bad duration", write("d.yaml", "request_timeout: soon\n"), nil, "invalid duration"},
		{"bad env int", write("ok.yaml", ""), map[string]string{"MOEGATE_ROUTER_TOP_K": "many"}, "MOEGATE_ROUTER_TOP_K"},
		{"bad aggregate", write("ok2.yaml", ""), map[string]string{"MOEGATE_AGGREGATE": "vote"}, "aggregate"},
		{"postgres backend without url", write("pg.yaml", "retrieval:\n  backend: postgres\n"), nil, "postgres.url"},
		{"unknown embed kind", write("ek.yaml", "embed:\n  kind: bert\n"), nil, "local, openai or engine"},
		{"engine embedder without model", write("em.yaml", "embed:\n  kind: engine\n"), nil, "embed.model"},
		{"bad pooling", write("ep.yaml", "embed:\n  kind: engine\n  model: m.gguf\n  pooling: max\n"), nil, "embed.pooling"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// The shipped sample must load and mention every key.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	path := filepath.Join("..", "examples", "gateway.yaml")
	if _, err := Load(path, env(nil)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range Keys() {
		top, sub, nested := strings.Cut(key, ".")
		v, ok := doc[top]
		if !ok {
			t.Errorf("examples/gateway.yaml lacks %q", top)
			continue
		}
		if nested {
			m, _ := v.(map[string]any)
			if _, ok := m[sub]; !ok {
				t.Errorf("examples/gateway.yaml lacks %q", key)
			}
		}
	}
}

func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Ports       []string          `yaml:"ports"`
			Environment map[string]string `yaml:"environment"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
			DependsOn map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	gw, ok := doc.Services["gateway"]
	if !ok || gw.Build == nil {
		t.Fatal("compose: no gateway service built from the Dockerfile")
	}
	if !strings.HasPrefix(doc.Services["postgres"].Image, "pgvector/pgvector") {
		t.Errorf("postgres image = %q, want pgvector/pgvector", doc.Services["postgres"].Image)
	}
	if !strings.HasPrefix(doc.Services["redis"].Image, "redis") {
		t.Errorf("redis image = %q", doc.Services["redis"].Image)
	}
	// The gateway scales: no fixed host port; one proxy publishes the API,
	// on loopback only; Postgres and Redis publish nothing.
	if len(gw.Ports) != 0 {
		t.Errorf("gateway publishes %v: a fixed host port cannot be scaled", gw.Ports)
	}
	if p := doc.Services["proxy"]; len(p.Ports) != 1 || !strings.HasPrefix(p.Ports[0], "127.0.0.1:") || p.DependsOn["gateway"].Condition != "service_healthy" {
		t.Errorf("proxy ports = %v, depends on %v; want one loopback port in front of ready gateways", p.Ports, p.DependsOn)
	}
	if !strings.Contains(string(data), "dynamic a gateway 8080") {
		t.Error("the proxy does not balance over every gateway replica")
	}
	for _, name := range []string{"postgres", "redis"} {
		if ports := doc.Services[name].Ports; len(ports) != 0 {
			t.Errorf("%s publishes %v on the host", name, ports)
		}
	}
	// The admin token must come from the environment: no default.
	if tok := gw.Environment["MOEGATE_ADMIN_TOKEN"]; !strings.HasPrefix(tok, "${MOEGATE_ADMIN_TOKEN:?") {
		t.Errorf("MOEGATE_ADMIN_TOKEN = %q, want ${MOEGATE_ADMIN_TOKEN:?...} (required, no default)", tok)
	}
	for name, s := range doc.Services {
		if len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
	}
	for _, dep := range []string{"redis", "postgres"} {
		if gw.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("gateway does not wait for %s to be healthy", dep)
		}
	}
	// Every gateway variable must be one the gateway reads.
	known := map[string]bool{}
	for _, v := range EnvVars() {
		known[v] = true
	}
	for k := range gw.Environment {
		if !known[k] {
			t.Errorf("compose sets %s, which the gateway does not read", k)
		}
	}
	for _, k := range []string{"MOEGATE_REDIS_URL", "MOEGATE_POSTGRES_URL", "MOEGATE_ADDR"} {
		if gw.Environment[k] == "" {
			t.Errorf("compose does not set %s", k)
		}
	}
	if !strings.Contains(gw.Environment["MOEGATE_REDIS_URL"], "redis:6379") || !strings.Contains(gw.Environment["MOEGATE_POSTGRES_URL"], "@postgres:5432") {
		t.Errorf("gateway does not point at the compose services: %v", gw.Environment)
	}
}
