// Package deploy serves one expert from several deployments (the same
// model at several endpoints or regions). Each request goes to the healthy
// endpoint with the fewest requests in flight for its weight, the
// weights deciding the share when the load is even; an endpoint that
// fails several times in a row is ejected for a cooldown. A failure
// before any answer was streamed moves on to the next endpoint.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/moegate/moegate/experts"
)

// Health settings.
const (
	DefaultMaxFailures = 3                // consecutive failures that eject an endpoint
	DefaultCooldown    = 30 * time.Second // how long an ejected endpoint rests
)

// Kind wraps the Builder of a remote kind (experts/openai): specs with
// deployments get one inner expert per deployment behind a balancer;
// others are built by inner as they are.
func Kind(inner experts.Builder) experts.Builder { return kind{inner} }

type kind struct{ inner experts.Builder }

// Check checks each deployment as the inner kind would check a spec of
// its own.
func (k kind) Check(s experts.Spec) error {
	if len(s.Deployments) == 0 {
		return k.inner.Check(s)
	}
	if s.BaseURL != "" {
		return experts.Invalid("base_url", "set base_url or deployments, not both")
	}
	for i, d := range s.Deployments {
		if err := k.inner.Check(endpointSpec(s, d)); err != nil {
			var ve *experts.ValidationError
			if errors.As(err, &ve) {
				return experts.Invalid(fmt.Sprintf("deployments[%d].%s", i, ve.Field), "%s", ve.Message)
			}
			return err
		}
	}
	return nil
}

// Build builds every deployment's expert.
func (k kind) Build(ctx context.Context, s experts.Spec) (experts.Expert, error) {
	if len(s.Deployments) == 0 {
		return k.inner.Build(ctx, s)
	}
	eps := make([]Endpoint, len(s.Deployments))
	for i, d := range s.Deployments {
		e, err := k.inner.Build(ctx, endpointSpec(s, d))
		if err != nil {
			return nil, fmt.Errorf("deployments[%d] (%s): %w", i, d.BaseURL, err)
		}
		eps[i] = Endpoint{Name: d.BaseURL, Weight: d.Weight, Expert: e}
	}
	return New(eps, Options{}), nil
}

// endpointSpec is the single-endpoint spec of one deployment.
func endpointSpec(s experts.Spec, d experts.Deployment) experts.Spec {
	s = s.Clone()
	s.BaseURL, s.Deployments = d.BaseURL, nil
	if d.Model != "" {
		s.Model = d.Model
	}
	if d.APIKeyEnv != "" {
		s.APIKeyEnv = d.APIKeyEnv
	}
	return s
}

// Endpoint is one deployment's expert.
type Endpoint struct {
	Name   string // for errors and status: its base URL
	Weight int    // 0 counts as 1
	Expert experts.Expert
}

// Options tune health. Zero values take the defaults.
type Options struct {
	MaxFailures int
	Cooldown    time.Duration
	Now         func() time.Time // for tests
}

// Balancer is an experts.Expert over several endpoints. It is safe for
// concurrent use.
type Balancer struct {
	opts Options
	mu   sync.Mutex
	eps  []*endpoint
}

type endpoint struct {
	Endpoint
	inflight  int
	served    int64 // requests sent, for the weighted share
	failures  int   // consecutive
	ejectedTo time.Time
}

// New returns a balancer over eps.
func New(eps []Endpoint, opts Options) *Balancer {
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = DefaultMaxFailures
	}
	if opts.Cooldown <= 0 {
		opts.Cooldown = DefaultCooldown
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Balancer{opts: opts}
	for _, e := range eps {
		if e.Weight <= 0 {
			e.Weight = 1
		}
		b.eps = append(b.eps, &endpoint{Endpoint: e})
	}
	return b
}

// Status is one endpoint's state, for operators.
type Status struct {
	Name     string    `json:"name"`
	Weight   int       `json:"weight"`
	InFlight int       `json:"in_flight"`
	Served   int64     `json:"served"`
	Failures int       `json:"consecutive_failures"`
	Ejected  time.Time `json:"ejected_until,omitzero"`
}

// Status reports every endpoint.
func (b *Balancer) Status() []Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Status, len(b.eps))
	for i, e := range b.eps {
		out[i] = Status{Name: e.Name, Weight: e.Weight, InFlight: e.inflight, Served: e.served, Failures: e.failures}
		if e.ejectedTo.After(b.opts.Now()) {
			out[i].Ejected = e.ejectedTo
		}
	}
	return out
}

// pick takes the best endpoint not yet tried: healthy ones first, by
// in-flight requests per weight, then by requests served per weight;
// when every untried one is ejected, the one back soonest.
func (b *Balancer) pick(tried []*endpoint) *endpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Now()
	var best *endpoint
	better := func(a, c *endpoint) bool {
		ah, ch := !a.ejectedTo.After(now), !c.ejectedTo.After(now)
		if ah != ch {
			return ah
		}
		if !ah {
			return a.ejectedTo.Before(c.ejectedTo)
		}
		la, lc := float64(a.inflight)/float64(a.Weight), float64(c.inflight)/float64(c.Weight)
		if la != lc {
			return la < lc
		}
		return float64(a.served+1)/float64(a.Weight) < float64(c.served+1)/float64(c.Weight)
	}
	for _, e := range b.eps {
		if slices.Contains(tried, e) {
			continue
		}
		if best == nil || better(e, best) {
			best = e
		}
	}
	if best != nil {
		best.inflight++
		best.served++
	}
	return best
}

// done records how a call to e ended.
func (b *Balancer) done(e *endpoint, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e.inflight--
	switch {
	case err == nil:
		e.failures, e.ejectedTo = 0, time.Time{}
	case unhealthy(err):
		e.failures++
		if e.failures >= b.opts.MaxFailures {
			e.ejectedTo = b.opts.Now().Add(b.opts.Cooldown)
		}
	}
}

// unhealthy reports whether err says something about the endpoint (down,
// overloaded, timing out) rather than about the request.
func unhealthy(err error) bool {
	var ue *experts.UpstreamError
	return errors.As(err, &ue) && ue.Retryable()
}

// Complete implements experts.Expert.
func (b *Balancer) Complete(ctx context.Context, req *experts.Request) (*experts.Response, error) {
	return b.call(ctx, func(e experts.Expert) (*experts.Response, bool, error) {
		r, err := e.Complete(ctx, req)
		return r, false, err
	})
}

// Stream implements experts.Expert. Once a piece reached the caller the
// stream cannot move to another endpoint.
func (b *Balancer) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	return b.call(ctx, func(e experts.Expert) (*experts.Response, bool, error) {
		sent := false
		r, err := e.Stream(ctx, req, func(d experts.Delta) error {
			sent = true
			return onDelta(d)
		})
		return r, sent, err
	})
}

// call tries endpoints until one answers, the request is at fault, or
// every endpoint was tried.
func (b *Balancer) call(ctx context.Context, try func(experts.Expert) (*experts.Response, bool, error)) (*experts.Response, error) {
	var tried []*endpoint
	var errs []error
	for {
		e := b.pick(tried)
		if e == nil {
			return nil, lastOf(errs)
		}
		tried = append(tried, e)
		r, committed, err := try(e.Expert)
		b.done(e, err)
		if err == nil {
			return r, nil
		}
		errs = append(errs, err)
		if committed || !unhealthy(err) || ctx.Err() != nil {
			return nil, err
		}
	}
}

// lastOf is the last endpoint's error, which keeps its kind (timeout,
// upstream status) for the caller, noting how many failed before.
func lastOf(errs []error) error {
	last := errs[len(errs)-1]
	if len(errs) == 1 {
		return last
	}
	return fmt.Errorf("all %d deployments failed; last: %w", len(errs), last)
}
