package policies

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moegate/moegate/internal/units"
)

// circuit tracks whether a shared back end answers (Redis for the failover
// wrappers of the limiter and the cache, the tenant store): callers ask it
// whether to try the back end and tell it of failures; while it is down it
// probes in the background, at most once per interval, and logs once per
// transition.
type circuit struct {
	store    string // what is unreachable: "redis", "tenant store"
	what     string // "redis limiter", "redis cache"
	fallback string // what serves meanwhile: "in-process limits"
	degraded string // what an outage means, for Healthy: "limits are per replica"
	every    time.Duration
	ping     func(context.Context) error
	log      *slog.Logger
	now      func() time.Time

	probing atomic.Bool

	mu        sync.Mutex
	down      bool
	downSince time.Time
	lastErr   error
	nextProbe time.Time
}

// healthy reports whether the back end is in use, with a reason suitable
// for a readiness endpoint.
func (c *circuit) healthy() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.down {
		return true, c.what + " ok"
	}
	return false, fmt.Sprintf("%s unreachable since %s (%v); %s", c.store, c.downSince.UTC().Format(time.RFC3339), c.lastErr, c.degraded)
}

// check pings the back end now and closes or opens the circuit accordingly.
func (c *circuit) check(ctx context.Context) error {
	if err := c.ping(ctx); err != nil {
		c.fail(err)
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		c.down = false
		c.log.Info(c.what+" reachable again", "down_ms", units.MS(c.now().Sub(c.downSince)))
	}
	return nil
}

// use reports whether to try the back end, starting a background probe
// when it is down and one is due.
func (c *circuit) use() bool {
	c.mu.Lock()
	down, due := c.down, !c.now().Before(c.nextProbe)
	c.mu.Unlock()
	if !down {
		return true
	}
	if due && c.probing.CompareAndSwap(false, true) {
		go func() {
			defer c.probing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = c.check(ctx)
		}()
	}
	return false
}

// fail opens the circuit after a failure of the back end.
func (c *circuit) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	c.nextProbe = c.now().Add(c.every)
	if !c.down {
		c.down, c.downSince = true, c.now()
		c.log.Warn(c.what+" unreachable; falling back to "+c.fallback, "err", err)
	}
}
