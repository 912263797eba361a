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
	return &FailoverCache{primary: primary, fallback: fallback, timeout: timeout, every: probeEvery, log: log, now: time.Now}
}

// Ping checks that the cache's Redis answers.
func (c *RedisCache) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }

// Healthy reports whether the cache is shared through Redis, with a reason
// for a readiness endpoint.
func (f *FailoverCache) Healthy() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down {
		return true, "redis cache ok"
	}
	return false, fmt.Sprintf("redis unreachable since %s (%v); the cache is per replica", f.downSince.UTC().Format(time.RFC3339), f.lastErr)
}

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

func (f *FailoverCache) check(ctx context.Context) error {
	_, err := bounded(ctx, f.timeout, func(ctx context.Context) (struct{}, error) { return struct{}{}, f.primary.Ping(ctx) })
	if err != nil {
		f.markDown(err)
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		f.down = false
		f.log.Info("redis cache reachable again; using the shared cache", "down_for_ms", units.MS(f.now().Sub(f.downSince)))
	}
	return nil
}

// Check pings Redis now; call it at start-up so an outage that predates
// the first request is seen.
func (f *FailoverCache) Check(ctx context.Context) error { return f.check(ctx) }

func (f *FailoverCache) usePrimary() bool {
	f.mu.Lock()
	down, due := f.down, !f.now().Before(f.nextProbe)
	f.mu.Unlock()
	if !down {
		return true
	}
	if due && f.probing.CompareAndSwap(false, true) {
		go func() {
			defer f.probing.Store(false)
			f.check(context.Background())
		}()
	}
	return false
}

func (f *FailoverCache) markDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastErr = err
	f.nextProbe = f.now().Add(f.every)
	if !f.down {
		f.down, f.downSince = true, f.now()
		f.log.Warn("redis cache unreachable; falling back to the in-process cache", "err", err)
	}
}

type cacheHit struct {
	e   Entry
	hit Hit
	ok  bool
}

// Get implements Cache.
func (f *FailoverCache) Get(ctx context.Context, scopeKey, exactKey string, vec []float32) (Entry, Hit, bool, error) {
	if f.usePrimary() {
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
		f.markDown(err)
	}
	return f.fallback.Get(ctx, scopeKey, exactKey, vec)
}

// Put implements Cache.
func (f *FailoverCache) Put(ctx context.Context, scopeKey, exactKey string, vec []float32, e Entry) error {
	if f.usePrimary() {
		_, err := bounded(ctx, f.timeout, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, f.primary.Put(ctx, scopeKey, exactKey, vec, e)
		})
		if err == nil || ctx.Err() != nil {
			return err
		}
		f.markDown(err)
	}
	return f.fallback.Put(ctx, scopeKey, exactKey, vec, e)
}
