package embed

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/moegate/moegate/internal/cooldown"
	"github.com/moegate/moegate/internal/errs"
)

// Guarded bounds the calls of an embedder that can stall (an endpoint over
// the network, a model whose calls queue), for the request path: each Embed
// gets at most its timeout, and after one fails the next cooldown's calls
// fail at once with ErrSkipped instead of each waiting out the timeout.
// The caller answers without the vector meanwhile.
type Guarded struct {
	Embedder
	timeout time.Duration
	gate    cooldown.Gate
	last    atomic.Pointer[error] // the failure that started the cooldown
}

// ErrSkipped is what Embed returns while an embedder that failed cools down.
var ErrSkipped = errs.New(errs.Unavailable, "embed: the embedder failed lately; call skipped")

// NewGuarded wraps e: each Embed waits at most timeout, and a failed one
// makes the next period's calls return ErrSkipped at once.
func NewGuarded(e Embedder, timeout, period time.Duration) *Guarded {
	return &Guarded{Embedder: e, timeout: timeout, gate: cooldown.Gate{Period: period}}
}

// Embed implements Embedder. A failure of the caller's own context (the
// client left, its deadline passed) says nothing of the embedder and
// starts no cooldown.
func (g *Guarded) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if g.gate.Skip() {
		if last := g.last.Load(); last != nil {
			return nil, fmt.Errorf("%w: %w", ErrSkipped, *last)
		}
		return nil, ErrSkipped
	}
	cctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	vecs, err := g.Embedder.Embed(cctx, texts)
	if err == nil || ctx.Err() != nil {
		return vecs, err
	}
	if cctx.Err() != nil {
		err = errs.E(errs.Timeout, "the embedder did not answer within %s: %w", g.timeout, err)
	}
	g.last.Store(&err)
	g.gate.Failed()
	return nil, err
}
