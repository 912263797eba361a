package requestlog

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moegate/moegate/internal/pgmigrate"
)

// Postgres is a Log in the table moegate_request_log, shared by every
// replica using the same database and schema. Expired rows are invisible
// at once and deleted by Purge, which Put runs now and then.
type Postgres struct {
	pool      *pgxpool.Pool
	ttl       time.Duration
	every     time.Duration // between purges run by Put
	nextPurge atomic.Int64  // unix nanoseconds
}

var migrations = []pgmigrate.Migration{
	{Version: 1, Name: "moegate_request_log", SQL: `
CREATE TABLE IF NOT EXISTS moegate_request_log (
	tenant_id  text NOT NULL,
	request_id text NOT NULL,
	query      text NOT NULL,
	history    text[] NOT NULL,
	experts    text[] NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, request_id)
);
CREATE INDEX IF NOT EXISTS moegate_request_log_expires ON moegate_request_log (expires_at);`},
}

// NewPostgres migrates the table, in the pool's current schema, and keeps
// records for ttl (0: DefaultTTL).
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, ttl time.Duration) (*Postgres, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if _, err := pgmigrate.Apply(ctx, pool, pgmigrate.Set{Component: "requestlog", Migrations: migrations}); err != nil {
		return nil, fmt.Errorf("requestlog: %w", err)
	}
	return &Postgres{pool: pool, ttl: ttl, every: min(ttl, time.Minute)}, nil
}

// Put implements Log; a record of the same tenant and request id is
// replaced.
func (p *Postgres) Put(ctx context.Context, r Record) error {
	now := time.Now()
	r, err := prepare(r, now)
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `INSERT INTO moegate_request_log
	(tenant_id, request_id, query, history, experts, created_at, expires_at)
	VALUES ($1, $2, $3, $4::text[], $5::text[], $6, now() + $7 * interval '1 millisecond')
	ON CONFLICT (tenant_id, request_id) DO UPDATE SET query = EXCLUDED.query, history = EXCLUDED.history,
		experts = EXCLUDED.experts, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`,
		r.TenantID, r.RequestID, r.Query, nonNil(r.History), nonNil(r.Experts), r.Time, p.ttl.Milliseconds())
	if err != nil {
		return fmt.Errorf("requestlog: storing %q: %w", r.RequestID, err)
	}
	// The record is stored whatever the purge does; a purge that fails is
	// retried by the next Put.
	if next := p.nextPurge.Load(); now.UnixNano() >= next && p.nextPurge.CompareAndSwap(next, now.Add(p.every).UnixNano()) {
		if _, err := p.Purge(ctx); err != nil {
			p.nextPurge.Store(0)
		}
	}
	return nil
}

// Get implements Log.
func (p *Postgres) Get(ctx context.Context, tenantID, requestID string) (Record, error) {
	r := Record{TenantID: tenantID, RequestID: requestID}
	err := p.pool.QueryRow(ctx, `SELECT query, history, experts, created_at FROM moegate_request_log
	WHERE tenant_id = $1 AND request_id = $2 AND expires_at > now()`, tenantID, requestID).
		Scan(&r.Query, &r.History, &r.Experts, &r.Time)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, notFound(tenantID, requestID)
	}
	if err != nil {
		return Record{}, fmt.Errorf("requestlog: reading %q: %w", requestID, err)
	}
	if len(r.History) == 0 {
		r.History = nil
	}
	if len(r.Experts) == 0 {
		r.Experts = nil
	}
	r.Time = r.Time.UTC()
	return r, nil
}

// Purge deletes expired records and returns how many.
func (p *Postgres) Purge(ctx context.Context) (int64, error) {
	tag, err := p.pool.Exec(ctx, `DELETE FROM moegate_request_log WHERE expires_at <= now()`)
	if err != nil {
		return 0, fmt.Errorf("requestlog: purging expired records: %w", err)
	}
	return tag.RowsAffected(), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
