package policies

import (
	"context"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestCacheFailoverOutage runs the cache through a Redis that hangs
// (SIGSTOP: the nastiest outage, connections open but silent), one that is
// gone, and its return.
func TestCacheFailoverOutage(t *testing.T) {
	srv := startRedisServer(t)
	// The client's own timeouts are the defaults (seconds): the failover's
	// timeout must bound every operation regardless.
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr()})
	defer rdb.Close()
	var logs syncBuffer
	opts := CacheOptions{TTL: time.Minute, Threshold: 0.95}
	f := NewFailoverCache(NewRedisCache(rdb, "cf", opts), NewMemoryCache(opts), 100*time.Millisecond, 100*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	vec := []float32{1, 0, 0}
	entry := func(s string) Entry { return Entry{Content: s, Model: "m", CreatedAt: time.Now()} }

	if err := f.Put(ctx, "scope", "k1", NewVector(vec), entry("shared")); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, "cf:cache:e:scope:k1").Result(); n != 1 {
		t.Fatal("entry not stored in Redis while it is up")
	}

	// Redis hangs. The first operation pays at most the timeout; the
	// following ones do not touch Redis at all.
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			srv.cmd.Process.Signal(syscall.SIGCONT)
			resumed = true
		}
	}
	defer resume()
	start := time.Now()
	_, _, ok, err := f.Get(ctx, "scope", "k1", NewVector(vec))
	if first := time.Since(start); first > time.Second || err != nil || ok {
		t.Fatalf("first Get with Redis hung: %v, ok=%v, err=%v", first, ok, err)
	}
	if healthy, why := f.Healthy(); healthy || !strings.Contains(why, "redis unreachable") {
		t.Fatalf("Healthy = %v %q", healthy, why)
	}
	const n = 200
	start = time.Now()
	for i := range n {
		if err := f.Put(ctx, "scope", "k2", NewVector(vec), entry("local")); err != nil {
			t.Fatal(err)
		}
		e, _, ok, err := f.Get(ctx, "scope", "k2", NewVector(vec))
		if err != nil || !ok || e.Content != "local" {
			t.Fatalf("op %d with Redis down: %+v %v %v", i, e, ok, err)
		}
	}
	per := time.Since(start) / (2 * n)
	t.Logf("cache operation while Redis hangs: %v on average over %d operations", per, 2*n)
	if per > 20*time.Millisecond {
		t.Fatalf("each operation costs %v while Redis is down", per)
	}

	// Redis is back: the probe sees it and the shared cache is used again.
	resume()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if healthy, _ := f.Healthy(); healthy {
			break
		}
		f.Get(ctx, "scope", "k1", NewVector(vec)) // requests trigger the probe
		if time.Now().After(deadline) {
			t.Fatal("did not recover after Redis returned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e, _, ok, err := f.Get(ctx, "scope", "k1", NewVector(vec)); err != nil || !ok || e.Content != "shared" {
		t.Fatalf("after recovery: %+v %v %v", e, ok, err)
	}

	// Redis is gone (connection refused): the same, without any stall.
	srv.stop()
	start = time.Now()
	for range 20 {
		f.Put(ctx, "scope", "k3", NewVector(vec), entry("x"))
		f.Get(ctx, "scope", "k3", NewVector(vec))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("40 operations with Redis gone took %v", d)
	}
	if !strings.Contains(logs.String(), "falling back to the in-process cache") || !strings.Contains(logs.String(), "reachable again") {
		t.Fatalf("transitions not logged:\n%s", logs.String())
	}
}

// BenchmarkFailoverCacheRedisDown is the cost of a cache lookup while Redis
// is down and the circuit is open: the in-process cache's, plus a check.
func BenchmarkFailoverCacheRedisDown(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	opts := CacheOptions{TTL: time.Minute, Threshold: 0.95}
	f := NewFailoverCache(NewRedisCache(rdb, "bench", opts), NewMemoryCache(opts), 0, time.Hour, nil)
	ctx := context.Background()
	vec := []float32{1, 0, 0}
	f.Put(ctx, "s", "k", NewVector(vec), Entry{Content: "x", CreatedAt: time.Now()}) // opens the circuit
	if ok, _ := f.Healthy(); ok {
		b.Fatal("Redis at 127.0.0.1:1 answered")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok, err := f.Get(ctx, "s", "k", NewVector(vec)); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
