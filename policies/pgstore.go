package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/internal/pgmigrate"
)

// PostgresBackend keeps tenant records in one Postgres table. Every call is
// a query, so a change by one replica is visible to all others at once.
type PostgresBackend struct {
	pool  *pgxpool.Pool
	table string // sanitized, possibly schema-qualified
}

// unreachable marks err Unavailable unless Postgres itself reported it (a
// failed statement is a bug, Internal) or it is the caller's deadline or
// cancellation: what is left is the database out of reach, which a
// client may retry.
func unreachable(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return errs.E(errs.Unavailable, "tenant store unreachable: %w", err)
}

var pgIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// NewPostgresBackend uses table (default "moegate_tenants"; "schema.table"
// allowed) in pool, creating it if needed.
func NewPostgresBackend(ctx context.Context, pool *pgxpool.Pool, table string) (*PostgresBackend, error) {
	if table == "" {
		table = "moegate_tenants"
	}
	parts := strings.Split(table, ".")
	if len(parts) > 2 {
		return nil, fmt.Errorf("%w: table name %q", ErrInvalid, table)
	}
	for _, p := range parts {
		if !pgIdent.MatchString(p) {
			return nil, fmt.Errorf("%w: table name %q", ErrInvalid, table)
		}
	}
	b := &PostgresBackend{pool: pool, table: pgx.Identifier(parts).Sanitize()}
	set := pgmigrate.Set{Component: "tenants:" + parts[len(parts)-1], Migrations: []pgmigrate.Migration{
		// Adopts a table created before migrations were recorded.
		{Version: 1, Name: "tenant table", SQL: `CREATE TABLE IF NOT EXISTS ` + b.table + ` (
	name       text PRIMARY KEY,
	key_hash   text NOT NULL UNIQUE,
	tenant     jsonb NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
)`},
	}}
	if len(parts) == 2 {
		set.Schema = parts[0]
	}
	if _, err := pgmigrate.Apply(ctx, pool, set); err != nil {
		return nil, fmt.Errorf("policies: tenant table: %w", err)
	}
	return b, nil
}

// Insert adds r; ErrExists if its name or key hash is taken.
func (b *PostgresBackend) Insert(ctx context.Context, r Record) error {
	doc, err := json.Marshal(r.Tenant)
	if err != nil {
		return err
	}
	_, err = b.pool.Exec(ctx, `INSERT INTO `+b.table+` (name, key_hash, tenant, created_at) VALUES ($1, $2, $3, $4)`,
		r.Tenant.Name, r.KeyHash, string(doc), r.Tenant.CreatedAt)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("tenant %q: %w", r.Tenant.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("policies: inserting tenant: %w", unreachable(err))
	}
	return nil
}

func (b *PostgresBackend) one(ctx context.Context, where string, arg string) (Record, error) {
	var r Record
	var doc []byte
	err := b.pool.QueryRow(ctx, `SELECT key_hash, tenant FROM `+b.table+` WHERE `+where+` = $1`, arg).Scan(&r.KeyHash, &doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("policies: reading tenant: %w", unreachable(err))
	}
	if err := json.Unmarshal(doc, &r.Tenant); err != nil {
		return Record{}, fmt.Errorf("policies: decoding tenant: %w", err)
	}
	return r, nil
}

// Get returns the named record.
func (b *PostgresBackend) Get(ctx context.Context, name string) (Record, error) {
	r, err := b.one(ctx, "name", name)
	if errors.Is(err, ErrNotFound) {
		return Record{}, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	return r, err
}

// ByKeyHash returns the record whose key hash is h, failing after
// keyLookupTimeout: every request with a key waits for it, and a tenant
// store slower than that is treated as out of reach (see Tenants), so a
// stalled database costs one request at most this.
func (b *PostgresBackend) ByKeyHash(ctx context.Context, h string) (Record, error) {
	ctx, cancel := context.WithTimeout(ctx, keyLookupTimeout)
	defer cancel()
	return b.one(ctx, "key_hash", h)
}

// keyLookupTimeout bounds PostgresBackend.ByKeyHash.
const keyLookupTimeout = time.Second

// List returns all records sorted by name.
func (b *PostgresBackend) List(ctx context.Context) ([]Record, error) {
	rows, err := b.pool.Query(ctx, `SELECT key_hash, tenant FROM `+b.table+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("policies: listing tenants: %w", unreachable(err))
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var doc []byte
		if err := rows.Scan(&r.KeyHash, &doc); err != nil {
			return nil, fmt.Errorf("policies: listing tenants: %w", err)
		}
		if err := json.Unmarshal(doc, &r.Tenant); err != nil {
			return nil, fmt.Errorf("policies: decoding tenant: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("policies: listing tenants: %w", err)
	}
	return out, nil
}

// Replace stores t in place of the tenant of its name, keeping its key.
func (b *PostgresBackend) Replace(ctx context.Context, t Tenant) error {
	doc, err := json.Marshal(t)
	if err != nil {
		return err
	}
	tag, err := b.pool.Exec(ctx, `UPDATE `+b.table+` SET tenant = $2 WHERE name = $1`, t.Name, string(doc))
	if err != nil {
		return fmt.Errorf("policies: updating tenant: %w", unreachable(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("tenant %q: %w", t.Name, ErrNotFound)
	}
	return nil
}

// Delete removes the named record.
func (b *PostgresBackend) Delete(ctx context.Context, name string) error {
	tag, err := b.pool.Exec(ctx, `DELETE FROM `+b.table+` WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("policies: deleting tenant: %w", unreachable(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	return nil
}
