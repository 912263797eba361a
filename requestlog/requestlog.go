// Package requestlog remembers what recent requests asked and who answered,
// so that feedback naming only a request id can become a routing example.
// Entries are keyed by tenant and request id together: one tenant can
// neither read nor overwrite another's, whatever request ids it chooses.
// The Redis and Postgres logs are shared by every replica using them.
package requestlog

import (
	"context"
	"fmt"
	"time"

	"github.com/moegate/moegate/internal/errs"
)

// Record is one routed request.
type Record struct {
	RequestID string    `json:"request_id"`
	TenantID  string    `json:"tenant_id"`
	Query     string    `json:"query"`             // the text the router saw
	History   []string  `json:"history,omitempty"` // earlier user turns, oldest first
	Experts   []string  `json:"experts,omitempty"` // names of the experts chosen
	Time      time.Time `json:"time"`
}

// Log stores records for a while; Get of a record never stored, expired or
// evicted returns ErrNotFound.
type Log interface {
	Put(ctx context.Context, r Record) error
	Get(ctx context.Context, tenantID, requestID string) (Record, error)
}

// ErrNotFound reports a record that is unknown, expired or evicted.
var ErrNotFound = errs.New(errs.NotFound, "requestlog: request not found")

// ErrInvalid reports a record that cannot be stored.
var ErrInvalid = errs.New(errs.Invalid, "requestlog: invalid record")

// DefaultTTL is how long records are kept when no TTL is given.
const DefaultTTL = 24 * time.Hour

// prepare checks r and fills in its time.
func prepare(r Record, now time.Time) (Record, error) {
	if r.RequestID == "" {
		return Record{}, fmt.Errorf("%w: no request id", ErrInvalid)
	}
	if r.Time.IsZero() {
		r.Time = now
	}
	r.Time = r.Time.UTC()
	return r, nil
}

func notFound(tenantID, requestID string) error {
	return fmt.Errorf("%w: %q of tenant %q", ErrNotFound, requestID, tenantID)
}
