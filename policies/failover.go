package policies

import (
	"context"
	"errors"
	"log/slog"
	"time"
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
	circuit
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
	return &Failover{primary: primary, fallback: fallback, circuit: circuit{store: "redis", what: "redis limiter", fallback: "in-process limits", degraded: "limits are per replica",
		every: probeEvery, ping: primary.Ping, log: log, now: time.Now}}
}

// Healthy reports whether limits are enforced through Redis, with a reason
// suitable for a readiness endpoint.
func (f *Failover) Healthy() (bool, string) { return f.healthy() }

// Check pings Redis now and updates the state Healthy reports; call it at
// start-up so an outage that predates the first request is seen.
func (f *Failover) Check(ctx context.Context) error { return f.check(ctx) }

// failed records a Redis failure unless the caller gave up first.
func (f *Failover) failed(ctx context.Context, err error) {
	if ctx.Err() == nil {
		f.fail(err)
	}
}

// Allow implements Limiter.
func (f *Failover) Allow(ctx context.Context, t Tenant) (Decision, error) {
	if f.use() {
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
	if f.use() {
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
	if f.use() {
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
	if f.use() {
		u, err := f.primary.AllUsage(ctx)
		if err == nil || ctx.Err() != nil {
			return u, err
		}
		f.failed(ctx, err)
	}
	return f.fallback.AllUsage(ctx)
}
