package policies

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moegate/moegate/internal/testdb"
)

const testRedisAddr = "127.0.0.1:6379"

// testRedis returns a client of the shared test Redis and a key prefix unique
// to this test; keys under the prefix are deleted when the test ends.
func testRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	return testdb.Redis(t)
}

// fakeClock is a settable clock shared by limiters under test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newClock starts at noon UTC today plus a fraction of a second, so budget
// keys expire in the future and second boundaries are not aligned.
func newClock() *fakeClock {
	return &fakeClock{t: time.Now().UTC().Truncate(24 * time.Hour).Add(12*time.Hour + 250*time.Millisecond)}
}

type limiterFactory func(t *testing.T, clock *fakeClock) Limiter

func limiterFactories() map[string]limiterFactory {
	return map[string]limiterFactory{
		"memory": func(t *testing.T, clock *fakeClock) Limiter {
			l := NewMemoryLimiter()
			l.now = clock.Now
			return l
		},
		"redis": func(t *testing.T, clock *fakeClock) Limiter {
			rdb, prefix := testRedis(t)
			l := NewRedisLimiter(rdb, prefix)
			l.now = clock.Now
			return l
		},
	}
}

func mustAllow(t *testing.T, l Limiter, tn Tenant, want bool, wantReason string) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed != want || d.Reason != wantReason {
		t.Fatalf("Allow = %+v, want allowed=%v reason=%q", d, want, wantReason)
	}
	return d
}

func mustRecord(t *testing.T, l Limiter, tn Tenant, expert string, tokens int) {
	t.Helper()
	if err := l.Record(context.Background(), tn, expert, tokens); err != nil {
		t.Fatal(err)
	}
}

func near(got, want time.Duration) bool {
	d := got - want
	return d > -time.Millisecond && d < time.Millisecond
}

func TestLimiters(t *testing.T) {
	for name, open := range limiterFactories() {
		t.Run(name, func(t *testing.T) {
			t.Run("rpm", func(t *testing.T) {
				clock := newClock()
				l := open(t, clock)
				tn := Tenant{Name: "acme", RPM: 3}
				mustAllow(t, l, tn, true, "")
				mustAllow(t, l, tn, true, "")
				clock.Advance(20 * time.Second)
				mustAllow(t, l, tn, true, "")
				clock.Advance(10 * time.Second)
				d := mustAllow(t, l, tn, false, ReasonRPM)
				// The two requests of the first second leave the window 60s
				// after that second began: 30s from now (clock is 250ms in).
				if !near(d.RetryAfter, 30*time.Second-250*time.Millisecond) {
					t.Errorf("RetryAfter = %v, want ~29.75s", d.RetryAfter)
				}
				// Refusals do not count against the window.
				mustAllow(t, l, tn, false, ReasonRPM)
				clock.Advance(d.RetryAfter)
				mustAllow(t, l, tn, true, "")
				mustAllow(t, l, tn, true, "")
				mustAllow(t, l, tn, false, ReasonRPM)
				// Another tenant is unaffected.
				mustAllow(t, l, Tenant{Name: "globex", RPM: 3}, true, "")
			})
			t.Run("quotas", func(t *testing.T) {
				clock := newClock()
				l := open(t, clock)
				tn := Tenant{Name: "acme", RPM: 3, TPM: 100}
				d := mustAllow(t, l, tn, true, "")
				// The request just counted leaves the window in 60s (clock is 250ms in).
				if d.Requests != (Quota{Limit: 3, Remaining: 2, Reset: 60*time.Second - 250*time.Millisecond}) || d.Tokens != (Quota{Limit: 100, Remaining: 100}) {
					t.Fatalf("first request: %+v", d)
				}
				mustRecord(t, l, tn, "banking", 30)
				clock.Advance(10 * time.Second)
				d = mustAllow(t, l, tn, true, "")
				if d.Requests.Remaining != 1 || d.Tokens.Remaining != 70 || !near(d.Tokens.Reset, 50*time.Second-250*time.Millisecond) {
					t.Fatalf("second request: %+v", d)
				}
				mustAllow(t, l, tn, true, "")
				d = mustAllow(t, l, tn, false, ReasonRPM)
				if d.Requests.Remaining != 0 || d.Requests.Limit != 3 {
					t.Fatalf("refused: %+v", d)
				}
				if d := mustAllow(t, l, Tenant{Name: "free"}, true, ""); d.Requests != (Quota{}) || d.Tokens != (Quota{}) {
					t.Fatalf("no limits, no quotas: %+v", d)
				}
			})
			t.Run("tpm", func(t *testing.T) {
				clock := newClock()
				l := open(t, clock)
				tn := Tenant{Name: "acme", TPM: 100}
				mustAllow(t, l, tn, true, "")
				mustRecord(t, l, tn, "banking", 60)
				clock.Advance(10 * time.Second)
				mustAllow(t, l, tn, true, "")
				mustRecord(t, l, tn, "banking", 50)
				d := mustAllow(t, l, tn, false, ReasonTPM)
				if !near(d.RetryAfter, 50*time.Second-250*time.Millisecond) {
					t.Errorf("RetryAfter = %v, want ~49.75s (when the first 60 tokens leave the window)", d.RetryAfter)
				}
				clock.Advance(d.RetryAfter)
				mustAllow(t, l, tn, true, "")
			})
			t.Run("budget", func(t *testing.T) {
				clock := newClock()
				l := open(t, clock)
				tn := Tenant{Name: "acme", BudgetTokens: 100, BudgetPeriod: "day"}
				mustAllow(t, l, tn, true, "")
				mustRecord(t, l, tn, "banking", 70)
				mustAllow(t, l, tn, true, "")
				mustRecord(t, l, tn, "travel", 40)
				d := mustAllow(t, l, tn, false, ReasonBudget)
				_, end := tn.BudgetWindow(clock.Now())
				if want := end.Sub(clock.Now()); !near(d.RetryAfter, want) {
					t.Errorf("RetryAfter = %v, want %v (end of day)", d.RetryAfter, want)
				}
				u, err := l.Usage(context.Background(), "acme")
				if err != nil {
					t.Fatal(err)
				}
				if u.BudgetUsed != 110 || u.BudgetTokens != 100 || !u.PeriodEnd.Equal(end) {
					t.Errorf("Usage = %+v, want budget_used 110 of 100 until %v", u, end)
				}
				clock.Advance(d.RetryAfter)
				mustAllow(t, l, tn, true, "")
				if u, _ := l.Usage(context.Background(), "acme"); u.BudgetUsed != 0 || u.Tokens != 110 {
					t.Errorf("new period: Usage = %+v, want budget_used 0, tokens 110", u)
				}
			})
			t.Run("unlimited", func(t *testing.T) {
				clock := newClock()
				l := open(t, clock)
				for range 200 {
					mustAllow(t, l, Tenant{Name: "free"}, true, "")
				}
			})
			t.Run("usage", func(t *testing.T) {
				clock := newClock()
				l := open(t, clock)
				ctx := context.Background()
				a, g := Tenant{Name: "acme"}, Tenant{Name: "globex", BudgetTokens: 1000}
				mustAllow(t, l, a, true, "")
				mustRecord(t, l, a, "banking", 10)
				mustRecord(t, l, a, "travel", 5)
				mustAllow(t, l, a, true, "")
				mustRecord(t, l, a, "banking", 7)
				mustAllow(t, l, g, true, "")
				mustRecord(t, l, g, "legal:eu", 3)
				if err := l.Record(ctx, a, "banking", -1); err == nil {
					t.Error("Record(-1) succeeded")
				}
				u, err := l.Usage(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				if u.Tenant != "acme" || u.Requests != 2 || u.Tokens != 22 || len(u.Experts) != 2 ||
					u.Experts["banking"] != (ExpertUsage{Calls: 2, Tokens: 17}) || u.Experts["travel"] != (ExpertUsage{Calls: 1, Tokens: 5}) {
					t.Errorf("Usage(acme) = %+v", u)
				}
				all, err := l.AllUsage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(all) != 2 || all[0].Tenant != "acme" || all[1].Tenant != "globex" ||
					all[1].Experts["legal:eu"] != (ExpertUsage{Calls: 1, Tokens: 3}) || all[1].BudgetUsed != 3 || all[1].BudgetTokens != 1000 {
					t.Errorf("AllUsage = %+v", all)
				}
				if u, err := l.Usage(ctx, "nobody"); err != nil || u.Requests != 0 || u.Tenant != "nobody" {
					t.Errorf("Usage(nobody) = %+v, %v", u, err)
				}
			})
		})
	}
}

// Two replicas sharing one Redis enforce one global limit.
func TestRedisLimiterGlobal(t *testing.T) {
	rdb, prefix := testRedis(t)
	rdb2 := redis.NewClient(&redis.Options{Addr: testRedisAddr})
	defer rdb2.Close()
	replicas := []*RedisLimiter{NewRedisLimiter(rdb, prefix), NewRedisLimiter(rdb2, prefix)}
	tn := Tenant{Name: "acme", RPM: 10}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			d, err := replicas[i%2].Allow(context.Background(), tn)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else if d.Reason != ReasonRPM || d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
				t.Errorf("refusal %+v", d)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 10 {
		t.Fatalf("%d requests allowed across two replicas, want exactly 10", n)
	}
	// Tokens recorded on one replica count on the other.
	tt := Tenant{Name: "tok", TPM: 50}
	if d, _ := replicas[0].Allow(context.Background(), tt); !d.Allowed {
		t.Fatal("first request refused")
	}
	if err := replicas[0].Record(context.Background(), tt, "banking", 50); err != nil {
		t.Fatal(err)
	}
	if d, _ := replicas[1].Allow(context.Background(), tt); d.Allowed || d.Reason != ReasonTPM {
		t.Fatalf("replica 2 ignored replica 1's tokens: %+v", d)
	}
}

// redisServer runs a private redis-server on a free port; the test can stop
// and restart it.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startRedisServer(t *testing.T) *redisServer {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("this test needs the redis-server binary on PATH: %v", err)
	}
	s := &redisServer{t: t, port: freePort(t)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.t.TempDir())
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.addr()})
	defer rdb.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rdb.Ping(context.Background()).Err() == nil {
			return
		}
	}
	s.t.Fatalf("redis-server on %s did not come up", s.addr())
}

func (s *redisServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestFailover(t *testing.T) {
	srv := startRedisServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	var logs syncBuffer
	primary := NewRedisLimiter(rdb, "ft")
	f := NewFailover(primary, NewMemoryLimiter(), 50*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	tn := Tenant{Name: "acme", RPM: 3}

	if d, err := f.Allow(ctx, tn); err != nil || !d.Allowed {
		t.Fatalf("Allow via redis: %+v, %v", d, err)
	}
	if ok, why := f.Healthy(); !ok {
		t.Fatalf("Healthy = false (%s) with redis up", why)
	}
	if u, _ := primary.Usage(ctx, "acme"); u.Requests != 1 {
		t.Fatalf("request not counted in redis: %+v", u)
	}

	srv.stop()
	// The in-process limiter takes over and enforces the same limit on its own.
	var allowed int
	for range 5 {
		d, err := f.Allow(ctx, tn)
		if err != nil {
			t.Fatalf("Allow with redis down returned an error: %v", err)
		}
		if d.Allowed {
			allowed++
		}
		if err := f.Record(ctx, tn, "banking", 1); err != nil {
			t.Fatalf("Record with redis down: %v", err)
		}
	}
	if allowed != 3 {
		t.Errorf("with redis down %d of 5 allowed, want 3 (in-process rpm)", allowed)
	}
	if ok, why := f.Healthy(); ok || !strings.Contains(why, "redis unreachable") {
		t.Errorf("Healthy = %v, %q with redis down", ok, why)
	}
	if u, err := f.Usage(ctx, "acme"); err != nil || u.Experts["banking"].Calls != 5 {
		t.Errorf("Usage while down = %+v, %v", u, err)
	}
	if n := strings.Count(logs.String(), "falling back"); n != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", n, logs.String())
	}

	srv.start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.Allow(ctx, Tenant{Name: "probe"})
		if ok, _ := f.Healthy(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("failover did not return to redis within 5s of it restarting")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d, err := f.Allow(ctx, tn); err != nil || !d.Allowed {
		t.Fatalf("Allow after recovery: %+v, %v", d, err)
	}
	// The fresh redis-server is empty: the request was counted there.
	if u, err := primary.Usage(ctx, "acme"); err != nil || u.Requests != 1 {
		t.Errorf("after recovery redis usage = %+v, %v; want 1 request", u, err)
	}
	if n := strings.Count(logs.String(), "reachable again"); n != 1 {
		t.Errorf("logged recovery %d times, want once:\n%s", n, logs.String())
	}
}

func TestFailoverDownAtStart(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	f := NewFailover(NewRedisLimiter(rdb, "x"), NewMemoryLimiter(), time.Hour, nil)
	if err := f.Check(context.Background()); err == nil {
		t.Fatal("Check succeeded with no Redis listening")
	}
	if ok, _ := f.Healthy(); ok {
		t.Error("Healthy after a failed Check")
	}
	tn := Tenant{Name: "acme", RPM: 1}
	mustAllow(t, f, tn, true, "")
	mustAllow(t, f, tn, false, ReasonRPM)
}

func benchmarkLimiter(b *testing.B, l Limiter) {
	ctx := context.Background()
	tenants := make([]Tenant, 16)
	for i := range tenants {
		tenants[i] = Tenant{Name: fmt.Sprintf("t%d", i), RPM: 1 << 30, TPM: 1 << 30, BudgetTokens: 1 << 50}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		tn := tenants[i%len(tenants)]
		i++
		if d, err := l.Allow(ctx, tn); err != nil || !d.Allowed {
			b.Fatalf("Allow: %+v, %v", d, err)
		}
		if err := l.Record(ctx, tn, "banking", 100); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkLimiterRedisParallel measures throughput with concurrent
// requests sharing the client's connection pool, as a gateway under load.
func BenchmarkLimiterRedisParallel(b *testing.B) {
	rdb, prefix := testRedis(b)
	l := NewRedisLimiter(rdb, prefix)
	ctx := context.Background()
	var id atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		tn := Tenant{Name: fmt.Sprintf("t%d", id.Add(1)), RPM: 1 << 30}
		for pb.Next() {
			if d, err := l.Allow(ctx, tn); err != nil || !d.Allowed {
				b.Errorf("Allow: %+v, %v", d, err)
				return
			}
			if err := l.Record(ctx, tn, "banking", 100); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkLimiterMemory(b *testing.B) { benchmarkLimiter(b, NewMemoryLimiter()) }

func BenchmarkLimiterRedis(b *testing.B) {
	rdb, prefix := testRedis(b)
	benchmarkLimiter(b, NewRedisLimiter(rdb, prefix))
}
