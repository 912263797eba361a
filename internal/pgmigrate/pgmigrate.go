// Package pgmigrate applies each component's numbered Postgres migrations
// once, in order, recording them in a schema_migrations table keyed by
// component and version. Every moegate table is created through it, so
// replicas sharing a database evolve its schema the same way.
package pgmigrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// A Migration is one numbered step of a component's schema. SQL may hold
// several statements; it runs in the transaction that records it.
type Migration struct {
	Version int
	Name    string // a short description, recorded and reported
	SQL     string
}

// A Set is one component's migrations, versions 1, 2, 3… in order.
type Set struct {
	// Component names the owner; versions are numbered per component.
	Component string
	// Schema holds schema_migrations, and is created if missing; "" is the
	// connection's current schema (the first existing one on the
	// search_path), where unqualified CREATE TABLEs land.
	Schema     string
	Migrations []Migration
	// Legacy claims versions recorded before components existed, in the
	// single-component schema_migrations of this schema that the knowledge
	// store used to write.
	Legacy bool
}

// Beginner starts a transaction: a pool or a connection.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Error reports a migration that failed; nothing of the run was committed.
type Error struct {
	Component string
	Schema    string
	Version   int
	Name      string
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("pgmigrate: %s migration %d (%s) in schema %s: %v", e.Component, e.Version, e.Name, e.Schema, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNewerSchema is returned when the database records versions of a
// component that this build does not know: a newer build migrated it.
var ErrNewerSchema = errors.New("pgmigrate: the database schema is newer than this build")

// lockClass is the first key of the advisory lock, so moegate's migration
// locks do not collide with other users of pg_advisory_xact_lock.
const lockClass = 0x6d6f65 // "moe"

// Apply applies the migrations of s that the database has not recorded,
// all in one transaction holding an advisory lock on the schema, so that
// replicas starting together take turns and a failure leaves nothing
// half-applied. It returns the migrations it applied. A set without
// migrations only creates the schema and schema_migrations.
func Apply(ctx context.Context, db Beginner, s Set) ([]Migration, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgmigrate: %s: %w", s.Component, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	applied, err := s.apply(ctx, tx)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("pgmigrate: %s: committing: %w", s.Component, err)
	}
	return applied, nil
}

func (s Set) validate() error {
	if s.Component == "" {
		return errors.New("pgmigrate: a set needs a component name")
	}
	for i, m := range s.Migrations {
		if m.Version != i+1 {
			return fmt.Errorf("pgmigrate: %s: migration %d has version %d; versions must be 1, 2, 3… in order", s.Component, i+1, m.Version)
		}
		if m.SQL == "" {
			return fmt.Errorf("pgmigrate: %s: migration %d has no SQL", s.Component, m.Version)
		}
	}
	return nil
}

func (s Set) apply(ctx context.Context, tx pgx.Tx) ([]Migration, error) {
	wrap := func(what string, err error) error {
		return fmt.Errorf("pgmigrate: %s: %s: %w", s.Component, what, err)
	}
	schema := s.Schema
	if schema == "" {
		var cur *string
		if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&cur); err != nil {
			return nil, wrap("current schema", err)
		}
		if cur == nil {
			return nil, wrap("current schema", errors.New("no schema on the search_path exists"))
		}
		schema = *cur
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", lockClass, schema); err != nil {
		return nil, wrap("locking", err)
	}
	ident := pgx.Identifier{schema}.Sanitize()
	// CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the
	// schema exists, so create it only when it is missing.
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return nil, wrap("schema", err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
			return nil, wrap("creating schema "+schema, err)
		}
	}
	table := ident + ".schema_migrations"
	if err := ensureTable(ctx, tx, schema, table); err != nil {
		return nil, wrap("schema_migrations", err)
	}
	if s.Legacy {
		if _, err := tx.Exec(ctx, "UPDATE "+table+" SET component = $1 WHERE component = ''", s.Component); err != nil {
			return nil, wrap("claiming legacy versions", err)
		}
	}
	rows, err := tx.Query(ctx, "SELECT version FROM "+table+" WHERE component = $1", s.Component)
	if err != nil {
		return nil, wrap("reading versions", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, wrap("reading versions", err)
	}
	done := map[int]bool{}
	for _, v := range versions {
		if int(v) > len(s.Migrations) {
			return nil, fmt.Errorf("%w: %s in schema %s is at version %d, this build knows %d", ErrNewerSchema, s.Component, schema, v, len(s.Migrations))
		}
		done[int(v)] = true
	}
	var applied []Migration
	for _, m := range s.Migrations {
		if done[m.Version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return nil, &Error{Component: s.Component, Schema: schema, Version: m.Version, Name: m.Name, Err: err}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (component, version, name) VALUES ($1, $2, $3)", s.Component, m.Version, m.Name); err != nil {
			return nil, &Error{Component: s.Component, Schema: schema, Version: m.Version, Name: m.Name, Err: err}
		}
		applied = append(applied, m)
	}
	return applied, nil
}

// ensureTable creates schema_migrations, or converts the retrieval store's
// earlier one (version alone as key) by giving its rows component "",
// which a Legacy set claims.
func ensureTable(ctx context.Context, tx pgx.Tx, schema, table string) error {
	rows, err := tx.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'schema_migrations'`, schema)
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		_, err := tx.Exec(ctx, `CREATE TABLE `+table+` (
	component  text NOT NULL,
	version    integer NOT NULL,
	name       text NOT NULL DEFAULT '',
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (component, version)
)`)
		return err
	}
	has := map[string]bool{}
	for _, c := range cols {
		has[c] = true
	}
	if has["component"] {
		return nil
	}
	var pkey string
	err = tx.QueryRow(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, table).Scan(&pkey)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("converting the earlier table: %w", err)
	}
	stmts := []string{
		"ALTER TABLE " + table + " ADD COLUMN component text NOT NULL DEFAULT ''",
		"ALTER TABLE " + table + " ALTER COLUMN component DROP DEFAULT",
	}
	if !has["name"] {
		stmts = append(stmts, "ALTER TABLE "+table+" ADD COLUMN name text NOT NULL DEFAULT ''")
	}
	if pkey != "" {
		stmts = append(stmts, "ALTER TABLE "+table+" DROP CONSTRAINT "+pgx.Identifier{pkey}.Sanitize())
	}
	stmts = append(stmts, "ALTER TABLE "+table+" ADD PRIMARY KEY (component, version)")
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("converting the earlier table: %w", err)
		}
	}
	return nil
}
