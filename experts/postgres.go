package experts

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moegate/moegate/internal/pgmigrate"
)

// PostgresStore keeps specs in the table moegate_experts, shared by every
// gateway replica. Each change is one statement, so it is atomic.
type PostgresStore struct {
	pool *pgxpool.Pool
}

// migrations of moegate_experts. Version 1 adopts a table created before
// migrations were recorded.
var migrations = []pgmigrate.Migration{
	{Version: 1, Name: "moegate_experts", SQL: `CREATE TABLE IF NOT EXISTS moegate_experts (
	name       text PRIMARY KEY,
	spec       jsonb NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
)`},
}

// NewPostgresStore migrates the table and returns the store. The table
// lives in the pool's current schema (the first on its search_path).
func NewPostgresStore(ctx context.Context, pool *pgxpool.Pool) (*PostgresStore, error) {
	if _, err := pgmigrate.Apply(ctx, pool, pgmigrate.Set{Component: "experts", Migrations: migrations}); err != nil {
		return nil, fmt.Errorf("experts: %w", err)
	}
	return &PostgresStore{pool: pool}, nil
}

// Load returns every stored spec, sorted by name.
func (p *PostgresStore) Load(ctx context.Context) ([]Spec, error) {
	rows, err := p.pool.Query(ctx, `SELECT spec FROM moegate_experts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var specs []Spec
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return nil, err
		}
		var s Spec
		if err := json.Unmarshal(raw, &s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("moegate_experts: %w", err)
		}
		specs = append(specs, s)
	}
	return specs, rows.Err()
}

// Create stores a new spec; ErrExists if the name is taken. JSON goes as
// text, which every query exec mode (and PgBouncer-style poolers) accept.
func (p *PostgresStore) Create(ctx context.Context, s Spec) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tag, err := p.pool.Exec(ctx, `INSERT INTO moegate_experts (name, spec, updated_at)
		VALUES ($1, $2, now()) ON CONFLICT (name) DO NOTHING`, s.Name, string(b))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrExists, s.Name)
	}
	return nil
}

// Put stores s, replacing any spec of the same name.
func (p *PostgresStore) Put(ctx context.Context, s Spec) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `INSERT INTO moegate_experts (name, spec, updated_at)
		VALUES ($1, $2, now())
		ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, updated_at = now()`, s.Name, string(b))
	return err
}

// Delete removes the named spec; ErrNotFound if absent.
func (p *PostgresStore) Delete(ctx context.Context, name string) error {
	tag, err := p.pool.Exec(ctx, `DELETE FROM moegate_experts WHERE name = $1`, name)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return nil
}
