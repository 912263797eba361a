package gateway

import (
	"context"
	"time"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/retrieval"
)

// Observation is one finished chat request as the HTTP layer saw it: what
// the console's charts and request list are made of.
type Observation struct {
	Time      time.Time // when the request arrived
	RequestID string
	Tenant    string
	Model     string // what the caller asked for
	Stream    bool
	Status    int    // the HTTP status answered
	ErrorKind string // the error's kind ("" on success), e.g. "rate_limited"
	Error     string // the message the client saw ("" on success)
	Latency   time.Duration
	Answered  string // the expert whose answer was returned
	Usage     experts.Usage
	// Info is the request's moegate object; nil when the request failed
	// before it was planned (bad body, authentication, limits).
	Info *Info
}

// Observer is told of every finished chat request. Observe must be quick
// and must not keep Info's slices for writing.
type Observer interface {
	Observe(Observation)
}

// Observe passes o to the configured Observer, if any.
func (g *Gateway) Observe(o Observation) {
	if g.deps.Observer != nil {
		g.deps.Observer.Observe(o)
	}
}

// Retrieve embeds query and returns the k passages it retrieves
// from the retrieval store, without a minimum score: what an operator's
// search box shows.
func (g *Gateway) Retrieve(ctx context.Context, query string, k int) ([]retrieval.Hit, error) {
	if g.deps.Retrieval == nil {
		return nil, errNoRetrieval
	}
	vecs, err := g.Embed(ctx, []string{query})
	if err != nil {
		return nil, err
	}
	return g.deps.Retrieval.Search(ctx, vecs[0], k, retrieval.Filter{})
}

// DryRun plans req as Plan does, for a caller that will not execute it
// (POST /v1/route): the decision is not counted in the pipeline's metrics.
func (g *Gateway) DryRun(ctx context.Context, req *Request) (*Plan, error) {
	p, err := g.plan(ctx, req, g.uncounted)
	if p != nil && p.Info.Experts == nil {
		p.Info.Experts = []ExpertCall{} // no expert was called
	}
	return p, err
}
