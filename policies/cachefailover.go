package policies

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// FailoverCache is the response cache of several replicas: Redis while it
// answers, an in-process cache while it does not. Each Redis operation has
// a short timeout, enforced here whatever the client's own socket timeouts,
// so an unreachable or hung Redis costs one request at most that timeout;
// after a failure the circuit opens and requests use the in-process cache
// without touching Redis, while a background probe (at most one per probe
// interval) watches for its return.
//
// Entries stored during an outage stay in-process; they are not copied to
// Redis when it returns.
type FailoverCache struct {
	primary  *RedisCache
	fallback *MemoryCache
	timeout  time.Duration
	circuit
}

// Defaults of NewFailoverCache.
const (
	DefaultCacheTimeout    = 100 * time.Millisecond
	DefaultCacheProbeEvery = 2 * time.Second
)

// NewFailoverCache wraps primary and fallback. timeout bounds each Redis
// operation (0: DefaultCacheTimeout); probeEvery is how often Redis is
// retried while down (0: DefaultCacheProbeEvery). log may be nil.
func NewFailoverCache(primary *RedisCache, fallback *MemoryCache, timeout, probeEvery time.Duration, log *slog.Logger) *FailoverCache {
	if timeout <= 0 {
		timeout = DefaultCacheTimeout
	}
	if probeEvery <= 0 {
		probeEvery = DefaultCacheProbeEvery
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FailoverCache{primary: primary, fallback: fallback, timeout: timeout}
	f.circuit = circuit{store: "redis", what: "redis cache", fallback: "the in-process cache", degraded: "the cache is per replica", every: probeEvery, log: log, now: time.Now,
		ping: func(ctx context.Context) error {
			_, err := bounded(ctx, timeout, func(ctx context.Context) (struct{}, error) { return struct{}{}, primary.Ping(ctx) })
			return err
		}}
	return f
}

// Ping checks that the cache's Redis answers.
func (c *RedisCache) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }

// Healthy reports whether the cache is shared through Redis, with a reason
// for a readiness endpoint.
func (f *FailoverCache) Healthy() (bool, string) { return f.healthy() }

// errCacheTimeout is a Redis operation that outlived the cache's timeout.
var errCacheTimeout = errors.New("redis cache operation timed out")

// bounded runs fn with the timeout and returns when it finishes or the
// timeout passes, whichever is first; fn may run on in the background
// until the client's own timeouts end it.
func bounded[T any](ctx context.Context, d time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() {
		defer cancel()
		v, err := fn(ctx)
		ch <- res{v, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-t.C:
		var zero T
		return zero, errCacheTimeout
	}
}

// Check pings Redis now; call it at start-up so an outage that predates
// the first request is seen.
func (f *FailoverCache) Check(ctx context.Context) error { return f.check(ctx) }

type cacheHit struct {
	e   Entry
	hit Hit
	ok  bool
}

// Get implements Cache.
func (f *FailoverCache) Get(ctx context.Context, scopeKey, exactKey string, vec *Vector) (Entry, Hit, bool, error) {
	if f.use() {
		r, err := bounded(ctx, f.timeout, func(ctx context.Context) (cacheHit, error) {
			e, h, ok, err := f.primary.Get(ctx, scopeKey, exactKey, vec)
			return cacheHit{e, h, ok}, err
		})
		if err == nil {
			return r.e, r.hit, r.ok, nil
		}
		if ctx.Err() != nil {
			return Entry{}, Hit{}, false, err
		}
		f.fail(err)
	}
	return f.fallback.Get(ctx, scopeKey, exactKey, vec)
}

// Put implements Cache.
func (f *FailoverCache) Put(ctx context.Context, scopeKey, exactKey string, vec *Vector, e Entry) error {
	if f.use() {
		_, err := bounded(ctx, f.timeout, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, f.primary.Put(ctx, scopeKey, exactKey, vec, e)
		})
		if err == nil || ctx.Err() != nil {
			return err
		}
		f.fail(err)
	}
	return f.fallback.Put(ctx, scopeKey, exactKey, vec, e)
}
