package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func chat(t *testing.T, in *instance, key string, body map[string]any, hdr ...string) (int, map[string]any) {
	t.Helper()
	if _, ok := body["messages"]; !ok {
		body["messages"] = []map[string]any{{"role": "user", "content": body["q"]}}
		delete(body, "q")
	}
	if _, ok := body["max_tokens"]; !ok {
		body["max_tokens"] = 4
	}
	status, _, out := callH(t, "POST", in.url("/v1/chat/completions"), key, body, hdr...)
	return status, out
}

func moegate(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	m, ok := body["moegate"].(map[string]any)
	if !ok {
		t.Fatalf("no moegate object: %v", body)
	}
	return m
}

func routedTo(t *testing.T, body map[string]any) string {
	t.Helper()
	exps, _ := moegate(t, body)["route"].(map[string]any)["experts"].([]any)
	if len(exps) == 0 {
		return ""
	}
	return exps[0].(map[string]any)["name"].(string)
}

// eventually retries f until it returns true or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var cooking = []string{
	"how long do i boil an egg", "what temperature should i bake bread at", "give me a recipe for lasagna",
	"how do i make pancakes from scratch", "what spices go with chicken curry", "how long to roast a turkey",
	"can i substitute butter with oil in cake", "how do i caramelize onions", "what is a good pasta sauce recipe",
	"how many cups of flour for cookies", "how do i cook rice on the stove", "what wine goes with salmon",
	"how to make a vegetable soup", "best way to grill steak", "how do i knead pizza dough",
}

var cars = []string{
	"my car battery is dead", "when should i change my oil", "how do i check tire pressure",
	"what does the check engine light mean", "how to jump start a car", "my brakes are squeaking",
	"how often should i rotate my tires", "the car won't start in the cold", "how do i replace a wiper blade",
	"what is the best engine oil for my car", "my car is overheating", "how to change a flat tire",
	"how do i register my vehicle", "what does the transmission do", "the steering wheel shakes at speed",
}

// TestEndToEndLearnedRouting: an admin adds experts with examples through the
// admin API; after background retraining their queries are routed to them
// without a restart; removing one routes its queries elsewhere; the model
// survives a restart.
func TestEndToEndLearnedRouting(t *testing.T) {
	const tok = "adm"
	a := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok, "MOEGATE_ROUTER_RETRAIN_DEBOUNCE=50ms")
	for name, ex := range map[string][]string{"cooking": cooking, "cars": cars} {
		status, _, body := call(t, "POST", a.url("/admin/experts"), tok, map[string]any{
			"name": name, "kind": "local", "system_prompt": "You are a " + name + " expert.", "examples": ex,
			"description": name + " questions"})
		if status != 201 {
			t.Fatalf("add %s: %d %v", name, status, body)
		}
	}
	var version float64
	var last any
	defer func() {
		if t.Failed() {
			t.Logf("last route: %v", last)
		}
	}()
	eventually(t, 30*time.Second, "routing to cooking after retraining", func() bool {
		status, body := chat(t, a, "", map[string]any{"model": "auto", "q": "how long should i boil pasta"})
		if status != 200 {
			t.Fatalf("chat: %d %v", status, body)
		}
		route := moegate(t, body)["route"].(map[string]any)
		version, last = route["version"].(float64), route
		return routedTo(t, body) == "cooking" && route["probabilities"] != nil
	})
	_, body := chat(t, a, "", map[string]any{"model": "auto", "q": "my engine makes a weird noise"})
	if routedTo(t, body) != "cars" {
		t.Fatalf("car query routed to %q: %v", routedTo(t, body), moegate(t, body)["route"])
	}

	// Multi-turn: the same short follow-up goes where the conversation was.
	for first, want := range map[string]string{"how long should i boil pasta": "cooking", "my engine makes a weird noise": "cars"} {
		_, body := chat(t, a, "", map[string]any{"model": "auto", "messages": []map[string]any{
			{"role": "user", "content": first}, {"role": "assistant", "content": "I see."},
			{"role": "user", "content": "and what should I do next?"}}})
		if routedTo(t, body) != want {
			t.Fatalf("follow-up after %q routed to %q, want %s: %v", first, routedTo(t, body), want, moegate(t, body)["route"])
		}
	}

	// Persistence: the same model (version) serves after a restart.
	a.stop()
	a.start()
	_, body = chat(t, a, "", map[string]any{"model": "auto", "q": "how long should i boil pasta"})
	route := moegate(t, body)["route"].(map[string]any)
	if routedTo(t, body) != "cooking" || route["version"].(float64) != version {
		t.Fatalf("after restart: routed to %q version %v, want cooking version %v", routedTo(t, body), route["version"], version)
	}

	if status, _, _ := call(t, "DELETE", a.url("/admin/experts/cooking"), tok, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	eventually(t, 30*time.Second, "cooking queries to go elsewhere", func() bool {
		_, body := chat(t, a, "", map[string]any{"model": "auto", "q": "how long should i boil pasta"})
		return routedTo(t, body) != "cooking"
	})
}

// TestEndToEndRetrieval: documents ingested through the admin API are
// retrieved and cited; excluding their data owner removes them.
func TestEndToEndRetrieval(t *testing.T) {
	const tok = "adm"
	a := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok)
	status, _, body := call(t, "POST", a.url("/admin/knowledge"), tok, map[string]any{"documents": []map[string]any{
		{"id": "zorblax-warranty", "title": "Zorblax warranty", "text": "The Zorblax 3000 warranty lasts seven years and covers the flux capacitor.", "data_owner": "acme", "tags": []string{"support"}},
		{"id": "quokka-returns", "title": "Quokka returns", "text": "Quokka blenders can be returned within 30 days with the receipt.", "data_owner": "globex"},
	}})
	if status != 201 {
		t.Fatalf("ingest: %d %v", status, body)
	}
	status, _, body = call(t, "GET", a.url("/admin/knowledge"), tok, nil)
	if status != 200 || len(body["data"].([]any)) != 2 {
		t.Fatalf("list knowledge: %d %v", status, body)
	}

	question := "how long does the Zorblax 3000 warranty last"
	status, body = chat(t, a, "", map[string]any{"model": "auto", "q": question})
	if status != 200 {
		t.Fatalf("chat: %d %v", status, body)
	}
	ret := moegate(t, body)["retrieval"].(map[string]any)
	if ret["used"] != true || !strings.Contains(fmt.Sprint(ret["passages"]), "zorblax-warranty") {
		t.Fatalf("the retrieval gate did not cite the document: %v", ret)
	}

	// Opting out of acme's data removes its passages.
	status, body = chat(t, a, "", map[string]any{"model": "auto", "q": question, "moegate": map[string]any{"retrieval": "always"}}, "X-Moegate-Exclude-Data", "acme")
	if status != 200 {
		t.Fatalf("chat: %d %v", status, body)
	}
	if strings.Contains(fmt.Sprint(moegate(t, body)["retrieval"]), "zorblax-warranty") {
		t.Fatalf("excluded data owner's passage retrieved: %v", moegate(t, body)["retrieval"])
	}

	// Deleting the document removes it from retrieval.
	if status, _, _ := call(t, "DELETE", a.url("/admin/knowledge/zorblax-warranty"), tok, nil); status != 204 {
		t.Fatalf("delete doc: %d", status)
	}
	_, body = chat(t, a, "", map[string]any{"model": "auto", "q": question, "moegate": map[string]any{"retrieval": "always"}})
	if strings.Contains(fmt.Sprint(moegate(t, body)["retrieval"]), "zorblax-warranty") {
		t.Fatalf("deleted document still retrieved")
	}
}

func randomName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// TestEndToEndSharedRedis: two gateways sharing one Redis enforce one global
// limit and share the response cache; an excluded expert's cached answer is
// not served.
func TestEndToEndSharedRedis(t *testing.T) {
	const key = "tenant-key-123"
	tenant := randomName("t")
	env := []string{
		"MOEGATE_REDIS_URL=redis://127.0.0.1:6379/0", "MOEGATE_AUTH=keys", "E2E_TENANT_KEY=" + key,
		`MOEGATE_TENANTS=[{"name":"` + tenant + `","key_env":"E2E_TENANT_KEY","rpm":6}]`,
		`MOEGATE_EXPERTS=[{"name":"alt","kind":"local","system_prompt":"You are alt."}]`,
		"MOEGATE_ROUTER_KIND=static", "MOEGATE_ROUTER_STATIC_EXPERT=alt",
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("these tests need Redis on 127.0.0.1:6379 (scripts/test.sh starts it): %v", err)
	}
	a := startInstance(t, t.TempDir(), env...)
	b := startInstance(t, t.TempDir(), env...)

	// Cache shared between replicas, scoped by what may contribute.
	q := randomName("what is the answer to question ")
	status, first := chat(t, a, key, map[string]any{"model": "auto", "q": q})
	if status != 200 || routedTo(t, first) != "alt" || moegate(t, first)["cache"].(map[string]any)["hit"] != false {
		t.Fatalf("first: %d %v", status, first)
	}
	status, second := chat(t, b, key, map[string]any{"model": "auto", "q": q})
	if status != 200 || moegate(t, second)["cache"].(map[string]any)["hit"] != true {
		t.Fatalf("replica B did not hit A's cache entry: %d %v", status, moegate(t, second))
	}
	status, third := chat(t, b, key, map[string]any{"model": "auto", "q": q, "moegate": map[string]any{"exclude_experts": []string{"alt"}}})
	if status != 200 || moegate(t, third)["cache"].(map[string]any)["hit"] != false || third["model"] == "alt" {
		t.Fatalf("excluded expert's cached answer served: %d %v", status, moegate(t, third))
	}

	// One global limit of 6 requests per minute across both replicas: 3 used.
	allowed, limited := 3, 0
	for i := range 6 {
		in := a
		if i%2 == 1 {
			in = b
		}
		status, body := chat(t, in, key, map[string]any{"model": "auto", "q": fmt.Sprintf("question %d %s", i, q)})
		switch status {
		case 200:
			allowed++
		case 429:
			limited++
			if body["error"].(map[string]any)["code"] != "rate_limit_exceeded" {
				t.Fatalf("429 body: %v", body)
			}
		default:
			t.Fatalf("status %d: %v", status, body)
		}
	}
	if allowed != 6 || limited != 3 {
		t.Fatalf("allowed %d, limited %d: want 6 and 3 across both replicas", allowed, limited)
	}
}

// TestEndToEndRedisOutage: with Redis gone, requests are still served and
// /readyz says so; when it returns, the gateway uses it again.
func TestEndToEndRedisOutage(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is needed (scripts/test.sh installs it): %v", err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	startRedis := func() *exec.Cmd {
		cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		eventually(t, 10*time.Second, "redis to start", func() bool { return rdb.Ping(t.Context()).Err() == nil })
		return cmd
	}
	srv := startRedis()
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()

	a := startInstance(t, t.TempDir(), "MOEGATE_REDIS_URL=redis://"+addr+"/0")
	if status, body := chat(t, a, "", map[string]any{"model": "auto", "q": "hello"}); status != 200 {
		t.Fatalf("with redis: %d %v", status, body)
	}
	_ = srv.Process.Kill()
	_ = srv.Wait()
	for i := range 3 {
		if status, body := chat(t, a, "", map[string]any{"model": "auto", "q": fmt.Sprintf("hello %d", i)}); status != 200 {
			t.Fatalf("redis down: %d %v", status, body)
		}
	}
	eventually(t, 20*time.Second, "/readyz to report redis down", func() bool {
		status, _, body := call(t, "GET", a.url("/readyz"), "", nil)
		return status == 200 && fmt.Sprint(body["checks"].(map[string]any)["redis"]) != "ok"
	})
	srv = startRedis()
	eventually(t, 30*time.Second, "/readyz to report redis back", func() bool {
		chat(t, a, "", map[string]any{"model": "auto", "q": "ping"})
		_, _, body := call(t, "GET", a.url("/readyz"), "", nil)
		return fmt.Sprint(body["checks"].(map[string]any)["redis"]) == "ok"
	})
}

// pgvectorURL is the Postgres with pgvector the tests use (tools/pglite).
func pgvectorURL() string {
	if u := os.Getenv("MOEGATE_TEST_PGVECTOR_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable&default_query_exec_mode=exec"
}

// TestEndToEndSharedPostgres: two replicas sharing one Postgres (with
// pgvector) are one gateway: an expert, a tenant and a document added
// through one are used through the other.
func TestEndToEndSharedPostgres(t *testing.T) {
	const tok = "adm"
	schema := randomName("e2e_")
	pool, err := pgxpool.New(t.Context(), pgvectorURL())
	if err == nil {
		err = pool.Ping(t.Context())
	}
	if err != nil {
		t.Fatalf("this test needs Postgres with pgvector at %s (start it with tools/pglite/start.sh): %v", pgvectorURL(), err)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		pool.Close()
	})
	env := []string{"MOEGATE_ADMIN_TOKEN=" + tok, "MOEGATE_AUTH=keys", "MOEGATE_POSTGRES_URL=" + pgvectorURL(),
		"MOEGATE_POSTGRES_SCHEMA=" + schema, "MOEGATE_RETRIEVAL_BACKEND=postgres", "MOEGATE_EMBED_DIM=512",
		"MOEGATE_ROUTER_KIND=static"}
	a := startInstance(t, t.TempDir(), env...)
	b := startInstance(t, t.TempDir(), env...)

	status, _, body := call(t, "POST", a.url("/admin/tenants"), tok, map[string]any{"name": "shared", "rpm": 100})
	if status != 201 {
		t.Fatalf("create tenant on A: %d %v", status, body)
	}
	key := body["key"].(string)
	if status, _, body := call(t, "POST", a.url("/admin/experts"), tok, map[string]any{"name": "pg-shared", "kind": "local"}); status != 201 {
		t.Fatalf("add expert on A: %d %v", status, body)
	}
	if status, _, body := call(t, "POST", a.url("/admin/knowledge"), tok, map[string]any{
		"id": "kb-shared", "text": "The shared handbook says the office plant is watered on Thursdays."}); status != 201 {
		t.Fatalf("ingest on A: %d %v", status, body)
	}

	// B authenticates A's tenant at once, and sees A's expert after its refresh.
	eventually(t, 20*time.Second, "B to serve the expert added on A", func() bool {
		status, _ = chat(t, b, key, map[string]any{"model": "pg-shared", "q": "hi"})
		if status == 401 {
			t.Fatalf("B does not know the tenant created on A")
		}
		return status == 200
	})
	status, body = chat(t, b, key, map[string]any{"model": "auto", "q": "when is the office plant watered",
		"moegate": map[string]any{"retrieval": "always"}})
	if status != 200 || !strings.Contains(fmt.Sprint(moegate(t, body)["retrieval"]), "kb-shared") {
		t.Fatalf("B did not retrieve the document ingested on A: %d %v", status, body)
	}
}

// TestEndToEndSharedFeedback: feedback on a request answered by another
// replica is accepted (the request log lives in Redis), and only from the
// tenant that made the request.
func TestEndToEndSharedFeedback(t *testing.T) {
	const keyA, keyB = "tenant-key-aaa", "tenant-key-bbb"
	env := []string{
		"MOEGATE_REDIS_URL=redis://127.0.0.1:6379/0", "MOEGATE_AUTH=keys", "E2E_KEY_A=" + keyA, "E2E_KEY_B=" + keyB,
		`MOEGATE_TENANTS=[{"name":"` + randomName("a") + `","key_env":"E2E_KEY_A"},{"name":"` + randomName("b") + `","key_env":"E2E_KEY_B"}]`,
		"MOEGATE_CACHE_ENABLED=false",
	}
	a := startInstance(t, t.TempDir(), env...)
	b := startInstance(t, t.TempDir(), env...)
	id := randomName("req-feedback-")
	if status, body := chat(t, a, keyA, map[string]any{"model": "auto", "q": "how do I reset my password"}, "X-Request-Id", id); status != 200 {
		t.Fatalf("chat on A: %d %v", status, body)
	}
	fb := map[string]any{"request_id": id, "rating": 1}
	if status, _, body := call(t, "POST", b.url("/v1/feedback"), keyB, fb); status != 404 {
		t.Fatalf("another tenant's feedback on B: %d %v, want 404", status, body)
	}
	if status, _, body := call(t, "POST", b.url("/v1/feedback"), keyA, fb); status != 201 {
		t.Fatalf("feedback on B for A's request: %d %v, want 201", status, body)
	}
}
