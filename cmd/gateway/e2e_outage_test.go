package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moegate/moegate/internal/testdb"
)

// cutter forwards TCP connections to a server and can cut them all, and
// refuse new ones, until it is restored: a database outage without
// stopping the database the other tests share.
type cutter struct {
	t      *testing.T
	addr   string // where it listens
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	// stalled holds back every byte until it is closed: a server that
	// stopped answering without closing anything.
	stalled chan struct{}
}

// stall holds every connection's bytes, and new connections', until
// unstall: a hung database rather than a refused one.
func (c *cutter) stall() {
	c.mu.Lock()
	c.stalled = make(chan struct{})
	c.mu.Unlock()
}

func (c *cutter) unstall() {
	c.mu.Lock()
	close(c.stalled)
	c.stalled = nil
	c.mu.Unlock()
}

// pipe copies src to dst, holding what it reads while the cutter stalls.
func (c *cutter) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		c.mu.Lock()
		held := c.stalled
		c.mu.Unlock()
		if held != nil {
			<-held
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func newCutter(t *testing.T, target string) *cutter {
	c := &cutter{t: t, addr: freeAddr(t), target: target}
	c.restore()
	t.Cleanup(c.cut)
	return c
}

// restore listens again on the same address.
func (c *cutter) restore() {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.ln = ln
	c.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", c.target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go c.pipe(out, in)
			go c.pipe(in, out)
		}
	}()
}

// cut closes the listener and every connection through it.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		c.ln.Close()
		c.ln = nil
	}
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// TestEndToEndPostgresOutage: with the shared Postgres unreachable, the
// gateway keeps serving the tenants it has authenticated and /readyz
// reports it degraded, not unready; when Postgres returns, so does the
// check.
func TestEndToEndPostgresOutage(t *testing.T) {
	const tok = "adm"
	pg, err := url.Parse(testdb.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	c := newCutter(t, pg.Host)
	through := *pg
	through.Host = c.addr
	a := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok, "MOEGATE_AUTH=keys", "MOEGATE_REQUEST_TIMEOUT=4s",
		"MOEGATE_POSTGRES_URL="+through.String(), "MOEGATE_POSTGRES_SCHEMA="+testdb.Schema(t))
	status, _, body := call(t, "POST", a.url("/admin/tenants"), tok, map[string]any{"name": "outage", "rpm": 1000})
	if status != 201 {
		t.Fatalf("create tenant: %d %v", status, body)
	}
	key := body["key"].(string)
	if status, body := chat(t, a, key, map[string]any{"model": "auto", "q": "hello"}); status != 200 {
		t.Fatalf("before the outage: %d %v", status, body)
	}
	status, _, body = call(t, "POST", a.url("/admin/tenants"), tok, map[string]any{"name": "unseen"})
	if status != 201 {
		t.Fatalf("create tenant: %d %v", status, body)
	}
	unseen := body["key"].(string) // never used before the outage
	readyz := func() (int, map[string]any) {
		status, _, body := call(t, "GET", a.url("/readyz"), "", nil)
		return status, body
	}
	if status, body := readyz(); status != 200 || body["checks"].(map[string]any)["postgres"] != "ok" {
		t.Fatalf("/readyz before the outage: %d %v", status, body)
	}

	c.cut()
	for i := range 3 {
		if status, body := chat(t, a, key, map[string]any{"model": "auto", "q": fmt.Sprintf("hello %d", i)}); status != 200 {
			t.Fatalf("a known tenant during the outage: %d %v", status, body)
		}
	}
	status, body = chat(t, a, unseen, map[string]any{"model": "auto", "q": "hello"})
	wantError(t, status, body, 503, "unavailable")
	status, _, body = call(t, "POST", a.url("/admin/tenants"), tok, map[string]any{"name": "during"})
	wantError(t, status, body, 503, "unavailable")
	status, body = readyz()
	if status != 200 || body["status"] != "degraded" || body["checks"].(map[string]any)["postgres"] == "ok" {
		t.Fatalf("/readyz during the outage: %d %v, want 200, degraded, postgres not ok", status, body)
	}

	c.restore()
	eventually(t, 30*time.Second, "/readyz to report postgres back", func() bool {
		_, body := readyz()
		return body["checks"].(map[string]any)["postgres"] == "ok"
	})
	// The key first seen now works once the gateway looks keys up again.
	eventually(t, 30*time.Second, "a key never seen before to work after the outage", func() bool {
		status, _ := chat(t, a, unseen, map[string]any{"model": "auto", "q": "hello again"})
		return status == 200
	})

	// A database that hangs rather than refuses: the known tenant is
	// served, the first request waiting out the key's lookup and the
	// request log's write (a second and a half at most), the next ones
	// not waiting at all.
	c.stall()
	for i := range 4 {
		start := time.Now()
		if status, body := chat(t, a, key, map[string]any{"model": "auto", "q": fmt.Sprintf("stalled %d", i)}); status != 200 {
			t.Fatalf("a known tenant while postgres hangs: %d %v", status, body)
		}
		if took, most := time.Since(start), map[bool]time.Duration{true: 5 * time.Second, false: 500 * time.Millisecond}[i == 0]; took > most {
			t.Fatalf("request %d while postgres hangs took %s, want at most %s", i, took, most)
		}
	}
	if status, body := readyz(); status != 200 || body["checks"].(map[string]any)["postgres"] == "ok" {
		t.Fatalf("/readyz while postgres hangs: %d %v, want 200 with postgres not ok", status, body)
	}
	// The admin API is bounded by the request timeout too.
	start := time.Now()
	status, _, body = call(t, "GET", a.url("/admin/tenants"), tok, nil)
	wantError(t, status, body, 504, "")
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("listing tenants while postgres hangs took %s, want the 4s request timeout", took)
	}
	c.unstall()
	eventually(t, 30*time.Second, "/readyz to report postgres back after the stall", func() bool {
		_, body := readyz()
		return body["checks"].(map[string]any)["postgres"] == "ok"
	})
}

// TestEndToEndEmbedderOutage: gateways whose embedder is another
// moegate's /v1/embeddings, through a connection the test can stall or
// cut. While the embedder hangs or refuses, a router on its own features
// (local, the default, or ngrams) keeps routing, one on the embedder's
// vectors (combined) sends routed
// requests to the default expert saying why, both within
// embed.query_timeout; requests by name are served; the embedder is
// skipped while it cools down, and routing on its vectors comes back
// when it answers again.
func TestEndToEndEmbedderOutage(t *testing.T) {
	const tok = "adm"
	b := startInstance(t, t.TempDir()) // the embeddings endpoint
	for _, features := range []string{"local", "ngrams", "combined"} {
		t.Run(features, func(t *testing.T) {
			c := newCutter(t, b.addr)
			a := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok, "MOEGATE_ROUTER_RETRAIN_DEBOUNCE=50ms",
				"MOEGATE_ROUTER_FEATURES="+features, "MOEGATE_EMBED_KIND=openai", "MOEGATE_EMBED_BASE_URL=http://"+c.addr+"/v1",
				"MOEGATE_EMBED_MODEL=moegate-embed", "MOEGATE_EMBED_QUERY_TIMEOUT=500ms")
			embedderOutage(t, a, tok, c, features == "combined")
		})
	}
}

func embedderOutage(t *testing.T, a *instance, tok string, c *cutter, onVectors bool) {
	for name, ex := range map[string][]string{"cooking": cooking, "cars": cars} {
		status, _, body := call(t, "POST", a.url("/admin/experts"), tok, map[string]any{"name": name, "kind": "local", "examples": ex})
		if status != 201 {
			t.Fatalf("add %s: %d %v", name, status, body)
		}
	}
	const query = "how long should i boil pasta"
	eventually(t, 30*time.Second, "routing to cooking", func() bool {
		status, body := chat(t, a, "", map[string]any{"model": "auto", "q": query})
		return status == 200 && routedTo(t, body) == "cooking"
	})

	for _, outage := range []struct {
		name        string
		start, end  func()
		firstAtMost time.Duration
	}{{"stalled", c.stall, c.unstall, 3 * time.Second}, {"refused", c.cut, c.restore, time.Second}} {
		outage.start()
		for i := range 3 {
			start := time.Now()
			status, body := chat(t, a, "", map[string]any{"model": "auto", "q": fmt.Sprintf("%s (%s %d)", query, outage.name, i)})
			if status != 200 {
				t.Fatalf("%s embedder, routed request %d: %d %v", outage.name, i, status, body)
			}
			mg := moegate(t, body)
			route, cache := mg["route"].(map[string]any), mg["cache"].(map[string]any)
			if onVectors && (route["default"] != true || !strings.Contains(fmt.Sprint(route["default_reason"]), "embedder")) {
				t.Fatalf("%s embedder, routed request %d: route %v, want the default expert saying why", outage.name, i, route)
			}
			if !onVectors && routedTo(t, body) != "cooking" {
				t.Fatalf("%s embedder, routed request %d: route %v, want cooking, routed from the text", outage.name, i, route)
			}
			if !strings.Contains(fmt.Sprint(cache["reason"]), "exact matches only") {
				t.Fatalf("%s embedder, routed request %d: cache %v, want exact matches only", outage.name, i, cache)
			}
			took := time.Since(start)
			if most := map[bool]time.Duration{true: outage.firstAtMost, false: time.Second}[i == 0]; took > most {
				t.Fatalf("%s embedder, routed request %d took %s, want at most %s", outage.name, i, took, most)
			}
			t.Logf("%s embedder, routed request %d: %s", outage.name, i, took.Round(time.Millisecond))
		}
		if status, body := chat(t, a, "", map[string]any{"model": "cars", "q": "my brakes are squeaking"}); status != 200 {
			t.Fatalf("%s embedder, by name: %d %v", outage.name, status, body)
		}
		outage.end()
		eventually(t, 30*time.Second, "the embedder to be used again after the "+outage.name+" outage", func() bool {
			status, body := chat(t, a, "", map[string]any{"model": "auto", "q": query})
			return status == 200 && routedTo(t, body) == "cooking" && moegate(t, body)["cache"].(map[string]any)["reason"] == nil
		})
	}
	resp, err := http.Get(a.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, reason := range []string{"timeout", "failed", "skipped"} {
		if !strings.Contains(string(metrics), `moegate_query_embedding_failures_total{reason="`+reason+`"}`) {
			t.Errorf("/metrics has no query embedding failures with reason %s", reason)
		}
	}
}
