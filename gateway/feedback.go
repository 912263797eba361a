package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/requestlog"
	"github.com/moegate/moegate/router"
)

// RequestLog remembers recent requests, keyed by tenant and request id so
// that no tenant can read or overwrite another's; requestlog has one in
// process and ones shared by replicas (Redis, Postgres).
type RequestLog interface {
	Put(ctx context.Context, r requestlog.Record) error
	Get(ctx context.Context, tenant, requestID string) (requestlog.Record, error)
}

func (g *Gateway) remember(ctx context.Context, p *Plan) {
	r := requestlog.Record{RequestID: p.req.ID, TenantID: p.req.Tenant.Key(), Query: p.routed.query, History: p.routed.history, Time: time.Now()}
	// Sized once: grown by append, the usual two names took two allocations.
	if len(p.candidates) > 0 {
		r.Experts = make([]string, 0, len(p.candidates))
	}
	for _, c := range p.candidates {
		r.Experts = append(r.Experts, c.Name)
	}
	// A skipped write follows a failed one, which was logged.
	if err := g.deps.Log.Put(ctx, r); err != nil && !errors.Is(err, requestlog.ErrSkipped) {
		g.log.WarnContext(ctx, "request log failed; feedback on the requests it misses will be refused", "request_id", r.RequestID, "err", err)
	}
}

// Feedback is a caller's verdict on one of its recent requests.
type Feedback struct {
	RequestID string
	Rating    *int   // -1, 0 or 1
	Expert    string // the expert that should have answered
	Comment   string
}

// Feedback stores fb. A correction (the expert that should have
// answered) steers the tenant's own similar queries at once; the router's
// next training learns from it only when it is not a tenant's (see
// corrections).
func (g *Gateway) Feedback(ctx context.Context, tenant string, fb Feedback) error {
	if g.deps.Feedback == nil {
		return errs.E(errs.NotFound, "Feedback is not enabled on this gateway.").WithCode("feedback_disabled")
	}
	switch {
	case fb.RequestID == "":
		return errs.Param("request_id", "'request_id' is required.")
	case fb.Rating == nil && fb.Expert == "":
		return errs.Param("rating", "Give a 'rating' (-1, 0 or 1) or the 'expert' that should have answered.")
	case fb.Rating != nil && (*fb.Rating < -1 || *fb.Rating > 1):
		return errs.Param("rating", "'rating' must be -1, 0 or 1; got %d.", *fb.Rating)
	}
	if fb.Expert != "" {
		if _, ok := g.deps.Registry.Get(fb.Expert); !ok {
			return errs.E(errs.NotFound, "Expert '%s' not found.", fb.Expert).WithCode("expert_not_found")
		}
	}
	rec, err := g.deps.Log.Get(ctx, tenant, fb.RequestID)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return errs.E(errs.NotFound, "Request '%s' is unknown or too old for feedback.", fb.RequestID).WithCode("request_not_found")
		}
		return err
	}
	f := router.Feedback{RequestID: fb.RequestID, Expert: fb.Expert, Text: rec.Query, Tenant: tenant, Time: time.Now()}
	if fb.Rating != nil {
		f.Rating = *fb.Rating
	}
	if err := g.deps.Feedback.Append(ctx, f); err != nil {
		return err
	}
	if fb.Expert != "" {
		if vecs, err := g.deps.Embedder.Embed(ctx, []string{rec.Query}); err == nil {
			g.corrections.add(tenant, rec.Query, vecs[0], fb.Expert)
		}
		// Only the default tenant's feedback trains the shared router.
		if g.deps.Retrainer != nil && tenant == policies.DefaultTenantName {
			g.deps.Retrainer.Trigger()
		}
	}
	return nil
}
