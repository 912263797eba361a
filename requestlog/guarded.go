package requestlog

import (
	"context"
	"errors"
	"time"

	"github.com/moegate/moegate/internal/cooldown"
	"github.com/moegate/moegate/internal/errs"
)

// Guarded bounds the writes of a log kept over the network (Redis,
// Postgres), which every request makes, so that the request path never
// waits on it for long: a Put gets at most its timeout, and after one
// fails, Puts are skipped for a cooldown period instead of each waiting
// out the timeout. Feedback on a request whose record was not written is
// refused, as after any failed write. Get passes through: it serves
// feedback, whose request has its own deadline.
type Guarded struct {
	log     Log
	timeout time.Duration
	gate    cooldown.Gate
}

// ErrSkipped is what Put returns while a log that failed cools down.
var ErrSkipped = errs.New(errs.Unavailable, "requestlog: the log failed lately; write skipped")

// NewGuarded wraps l: each Put waits at most timeout, and a failed one
// makes the next period's Puts return ErrSkipped at once.
func NewGuarded(l Log, timeout, period time.Duration) *Guarded {
	return &Guarded{log: l, timeout: timeout, gate: cooldown.Gate{Period: period}}
}

// Put implements Log.
func (g *Guarded) Put(ctx context.Context, r Record) error {
	if g.gate.Skip() {
		return ErrSkipped
	}
	pctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	err := g.log.Put(pctx, r)
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrInvalid) {
		g.gate.Failed()
	}
	return err
}

// Get implements Log.
func (g *Guarded) Get(ctx context.Context, tenantID, requestID string) (Record, error) {
	return g.log.Get(ctx, tenantID, requestID)
}
