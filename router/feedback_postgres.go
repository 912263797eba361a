package router

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moegate/moegate/internal/pgmigrate"
)

// PostgresFeedback is a FeedbackStore in the table moegate_router_feedback,
// shared by every replica using the same database and schema, so that each
// trains on all the feedback. Each Feedback is kept whole as JSON, in the
// order appended.
type PostgresFeedback struct {
	pool *pgxpool.Pool
}

var feedbackMigrations = []pgmigrate.Migration{
	{Version: 1, Name: "moegate_router_feedback", SQL: `CREATE TABLE IF NOT EXISTS moegate_router_feedback (
	id         bigserial PRIMARY KEY,
	request_id text NOT NULL,
	created_at timestamptz NOT NULL,
	feedback   jsonb NOT NULL
)`},
}

// NewPostgresFeedback migrates the table, in the pool's current schema,
// and returns the store.
func NewPostgresFeedback(ctx context.Context, pool *pgxpool.Pool) (*PostgresFeedback, error) {
	if _, err := pgmigrate.Apply(ctx, pool, pgmigrate.Set{Component: "router_feedback", Migrations: feedbackMigrations}); err != nil {
		return nil, fmt.Errorf("router: feedback: %w", err)
	}
	return &PostgresFeedback{pool: pool}, nil
}

// Append implements FeedbackStore.
func (p *PostgresFeedback) Append(ctx context.Context, fb Feedback) error {
	if fb.Time.IsZero() {
		fb.Time = time.Now().UTC()
	}
	doc, err := json.Marshal(fb)
	if err != nil {
		return fmt.Errorf("router: feedback: %w", err)
	}
	// JSON goes as text, which every query exec mode accepts.
	_, err = p.pool.Exec(ctx, `INSERT INTO moegate_router_feedback (request_id, created_at, feedback) VALUES ($1, $2, $3::jsonb)`,
		fb.RequestID, fb.Time, string(doc))
	if err != nil {
		return fmt.Errorf("router: feedback: %w", err)
	}
	return nil
}

// All implements FeedbackStore, oldest first.
func (p *PostgresFeedback) All(ctx context.Context) ([]Feedback, error) {
	rows, err := p.pool.Query(ctx, `SELECT feedback::text FROM moegate_router_feedback ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("router: feedback: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Feedback, error) {
		var doc string
		if err := r.Scan(&doc); err != nil {
			return Feedback{}, err
		}
		var fb Feedback
		err := json.Unmarshal([]byte(doc), &fb)
		return fb, err
	})
	if err != nil {
		return nil, fmt.Errorf("router: feedback: %w", err)
	}
	return out, nil
}
