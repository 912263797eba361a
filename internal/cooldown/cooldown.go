// Package cooldown skips calls to a dependency for a while after one of
// them failed, so that a request path does not wait out a timeout on every
// call while the dependency is down.
package cooldown

import (
	"sync/atomic"
	"time"
)

// Gate says whether to skip calls: for Period after the last Failed. The
// zero value with a Period set is ready to use; it is safe for concurrent
// use.
type Gate struct {
	Period time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	until atomic.Int64 // Unix nanoseconds
}

// Skip reports whether a call now should be skipped.
func (g *Gate) Skip() bool { return g.now().UnixNano() < g.until.Load() }

// Failed starts a cooldown: calls are skipped for Period from now.
func (g *Gate) Failed() { g.until.Store(g.now().Add(g.Period).UnixNano()) }

func (g *Gate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}
