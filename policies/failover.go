package policies

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moegate/moegate/internal/units"
)

// Failover is a Limiter that uses Redis while it answers and an in-process
// limiter while it does not, so an outage of Redis degrades limits to
// per-replica instead of failing requests. It logs once per transition and
// probes Redis in the background, at most once per probe interval, while
// it is down.
//
// Counts made during an outage stay in the in-process limiter; they are not
// copied to Redis when it returns.
type Failover struct {
	primary  *RedisLimiter
	fallback *MemoryLimiter
	every    time.Duration
	log      *slog.Logger
	now      func() time.Time

	probing atomic.Bool

	mu        sync.Mutex
	down      bool
	downSince time.Time
	lastErr   error
	nextProbe time.Time
}

// NewFailover wraps primary and fallback. probeEvery is how often Redis is
// retried while down (default 2s). log may be nil.
func NewFailover(primary *RedisLimiter, fallback *MemoryLimiter, probeEvery time.Duration, log *slog.Logger) *Failover {
	if probeEvery <= 0 {
		probeEvery = 2 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Failover{primary: primary, fallback: fallback, every: probeEvery, log: log, now: time.Now}
}

// Healthy reports whether limits are enforced through Redis, with a reason
// suitable for a readiness endpoint.
func (f *Failover) Healthy() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down {
		return true, "redis limiter ok"
	}
	return false, fmt.Sprintf("redis unreachable since %s (%v); limits are per replica", f.downSince.UTC().Format(time.RFC3339), f.lastErr)
}

// Check pings Redis now and updates the state Healthy reports; call it at
// start-up so an outage that predates the first request is seen.
func (f *Failover) Check(ctx context.Context) error {
	err := f.primary.Ping(ctx)
	if err != nil {
		f.markDown(err)
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		f.down = false
		f.log.Info("redis limiter reachable again; using shared limits", "down_for_ms", units.MS(f.now().Sub(f.downSince)))
	}
	return nil
}

// usePrimary reports whether to try Redis, starting a background probe when
// it is down and one is due.
func (f *Failover) usePrimary() bool {
	f.mu.Lock()
	down, due := f.down, !f.now().Before(f.nextProbe)
	f.mu.Unlock()
	if !down {
		return true
	}
	if due && f.probing.CompareAndSwap(false, true) {
		go f.probe()
	}
	return false
}

func (f *Failover) probe() {
	defer f.probing.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	f.Check(ctx)
}

// failed records a Redis failure unless the caller gave up first.
func (f *Failover) failed(ctx context.Context, err error) {
	if ctx.Err() == nil {
		f.markDown(err)
	}
}

func (f *Failover) markDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastErr = err
	f.nextProbe = f.now().Add(f.every)
	if !f.down {
		f.down, f.downSince = true, f.now()
		f.log.Warn("redis limiter unreachable; falling back to in-process limits", "err", err)
	}
}

// Allow implements Limiter.
func (f *Failover) Allow(ctx context.Context, t Tenant) (Decision, error) {
	if f.usePrimary() {
		d, err := f.primary.Allow(ctx, t)
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return Decision{}, err
		}
		f.failed(ctx, err)
	}
	return f.fallback.Allow(ctx, t)
}

// Record implements Limiter.
func (f *Failover) Record(ctx context.Context, t Tenant, expert string, tokens int) error {
	if f.usePrimary() {
		err := f.primary.Record(ctx, t, expert, tokens)
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrInvalid) {
			return err
		}
		f.failed(ctx, err)
	}
	return f.fallback.Record(ctx, t, expert, tokens)
}

// Usage implements Limiter; while Redis is down it reports the in-process
// counts.
func (f *Failover) Usage(ctx context.Context, tenant string) (Usage, error) {
	if f.usePrimary() {
		u, err := f.primary.Usage(ctx, tenant)
		if err == nil || ctx.Err() != nil {
			return u, err
		}
		f.failed(ctx, err)
	}
	return f.fallback.Usage(ctx, tenant)
}

// AllUsage implements Limiter.
func (f *Failover) AllUsage(ctx context.Context) ([]Usage, error) {
	if f.usePrimary() {
		u, err := f.primary.AllUsage(ctx)
		if err == nil || ctx.Err() != nil {
			return u, err
		}
		f.failed(ctx, err)
	}
	return f.fallback.AllUsage(ctx)
}
