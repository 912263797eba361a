package requestlog

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/moegate/moegate/internal/errs"
)

// Guarded bounds the writes of a log kept over the network (Redis,
// Postgres), which every request makes, so that the request path never
// waits on it for long: a Put gets at most its timeout, and after one
// fails, Puts are skipped for the cooldown instead of each waiting out the
// timeout. Feedback on a request whose record was not written is refused,
// as after any failed write. Get passes through: it serves feedback, whose
// request has its own deadline.
type Guarded struct {
	log       Log
	timeout   time.Duration
	cooldown  time.Duration
	skipUntil atomic.Int64 // Unix nanoseconds
	now       func() time.Time
}

// ErrSkipped is what Put returns while a log that failed cools down.
var ErrSkipped = errs.New(errs.Unavailable, "requestlog: the log failed lately; write skipped")

// NewGuarded wraps l: each Put waits at most timeout, and a failed one
// makes the next cooldown's Puts return ErrSkipped at once.
func NewGuarded(l Log, timeout, cooldown time.Duration) *Guarded {
	return &Guarded{log: l, timeout: timeout, cooldown: cooldown, now: time.Now}
}

// Put implements Log.
func (g *Guarded) Put(ctx context.Context, r Record) error {
	if g.now().UnixNano() < g.skipUntil.Load() {
		return ErrSkipped
	}
	pctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	err := g.log.Put(pctx, r)
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrInvalid) {
		g.skipUntil.Store(g.now().Add(g.cooldown).UnixNano())
	}
	return err
}

// Get implements Log.
func (g *Guarded) Get(ctx context.Context, tenantID, requestID string) (Record, error) {
	return g.log.Get(ctx, tenantID, requestID)
}
