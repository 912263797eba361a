package retrieval

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/moegate/moegate/internal/pgmigrate"
)

// ErrNoPgvector is returned when the Postgres server cannot load the
// pgvector extension.
var ErrNoPgvector = errors.New("retrieval: the Postgres server lacks the pgvector extension")

// PostgresOptions configures a Postgres store.
type PostgresOptions struct {
	// Schema holds the store's tables; default "moegate". Replicas sharing
	// a retrieval store use the same schema.
	Schema string
	// EfSearch is pgvector's hnsw.ef_search; default 64.
	EfSearch int
	// SearchTimeout bounds a Search (default 2s): a database that stalls
	// fails the search rather than holding the request.
	SearchTimeout time.Duration
	Logger        *slog.Logger // nil: discard
}

// DefaultSearchTimeout bounds a search of the Postgres store.
const DefaultSearchTimeout = 2 * time.Second

// Postgres is a Store in Postgres with pgvector: a documents table, a
// chunks table with a vector(dim) column and an HNSW index over it by
// cosine distance. Filters are applied in SQL.
type Postgres struct {
	pool       *pgxpool.Pool
	timeout    time.Duration // of a Search
	dim        int
	schema     string // quoted identifier
	schemaName string
	log        *slog.Logger
}

// migrations create and evolve the store's tables in its schema (the
// first was recorded by version alone before pgmigrate, hence Legacy).
func (p *Postgres) migrations() pgmigrate.Set {
	expr, ops := p.indexed()
	return pgmigrate.Set{Component: "retrieval", Schema: p.schemaName, Legacy: true, Migrations: []pgmigrate.Migration{
		{Version: 1, Name: "documents and chunks", SQL: fmt.Sprintf(`
CREATE TABLE %[1]s.documents (
	id text PRIMARY KEY,
	title text NOT NULL,
	data_owner text NOT NULL,
	tags text[] NOT NULL,
	chunks integer NOT NULL,
	content_hash text NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE TABLE %[1]s.chunks (
	doc_id text NOT NULL REFERENCES %[1]s.documents (id) ON DELETE CASCADE,
	id text NOT NULL,
	seq integer NOT NULL,
	text text NOT NULL,
	data_owner text NOT NULL,
	tags text[] NOT NULL,
	meta jsonb NOT NULL,
	embedding vector(%[2]d) NOT NULL,
	PRIMARY KEY (doc_id, id)
);`, p.schema, p.dim)},
		{Version: 2, Name: "hnsw index", SQL: fmt.Sprintf(`CREATE INDEX chunks_embedding_hnsw ON %s.chunks USING hnsw (%s %s);`, p.schema, expr, ops)},
	}}
}

// OpenPostgres connects to the database at url, creates the pgvector
// extension and the schema if needed, and migrates it. The pool's
// connections use the URL's settings (add default_query_exec_mode=exec
// behind a connection multiplexer).
func OpenPostgres(ctx context.Context, url string, dim int, opts PostgresOptions) (*Postgres, error) {
	if dim <= 0 {
		return nil, fmt.Errorf("retrieval: invalid dimension %d", dim)
	}
	if opts.Schema == "" {
		opts.Schema = "moegate"
	}
	if opts.EfSearch <= 0 {
		opts.EfSearch = 64
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("retrieval: postgres URL: %w", err)
	}
	host := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	p := &Postgres{dim: dim, schema: pgx.Identifier{opts.Schema}.Sanitize(), schemaName: opts.Schema, log: log,
		timeout: cmp.Or(opts.SearchTimeout, DefaultSearchTimeout)}

	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("retrieval: cannot reach Postgres at %s: %w", host, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "0A000" || pgErr.Code == "58P01" || strings.Contains(pgErr.Message, `"vector"`)) {
			return nil, fmt.Errorf("%w at %s: use the pgvector/pgvector Docker image or install pgvector on the server (%v)", ErrNoPgvector, host, err)
		}
		return nil, fmt.Errorf("retrieval: creating the vector extension on %s: %w", host, err)
	}
	if err := p.migrate(ctx, conn); err != nil {
		return nil, err
	}

	efSearch := opts.EfSearch
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if err := pgxvec.RegisterTypes(ctx, c); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, "SET hnsw.ef_search = "+strconv.Itoa(efSearch)); err != nil {
			return err
		}
		// pgvector 0.8+: keep scanning the index when filters reject
		// candidates, so a selective filter still returns k rows. Older
		// versions lack the setting and return fewer.
		if _, err := c.Exec(ctx, "SET hnsw.iterative_scan = strict_order"); err != nil {
			log.Debug("retrieval: hnsw.iterative_scan unavailable (pgvector < 0.8)", "err", err)
		}
		return nil
	}
	p.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("retrieval: postgres pool for %s: %w", host, err)
	}
	return p, nil
}

func (p *Postgres) migrate(ctx context.Context, conn *pgx.Conn) error {
	// Check before migrating: a vector(N) column rejects other lengths only
	// at the first insert, with a cryptic message.
	if err := p.checkDimension(ctx, conn); err != nil {
		return err
	}
	applied, err := pgmigrate.Apply(ctx, conn, p.migrations())
	if err != nil {
		return fmt.Errorf("retrieval: %w", err)
	}
	for _, m := range applied {
		p.log.Info("retrieval: applied migration", "schema", p.schema, "version", m.Version, "name", m.Name)
	}
	// Again, in case a replica with another dimension created the tables
	// between the check and the migration.
	return p.checkDimension(ctx, conn)
}

// checkDimension compares an existing chunks table's vectors with p.dim.
func (p *Postgres) checkDimension(ctx context.Context, conn *pgx.Conn) error {
	var have *int
	err := conn.QueryRow(ctx, `SELECT a.atttypmod FROM pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding'`, p.schema+".chunks").Scan(&have)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("retrieval: reading the embedding column: %w", err)
	}
	if have != nil && *have != p.dim {
		return fmt.Errorf("%w: the chunks table in schema %s holds %d-dimensional vectors, not %d", ErrDimension, p.schema, *have, p.dim)
	}
	return nil
}

// pgvector's HNSW indexes vectors of at most 2,000 dimensions; longer ones
// are indexed, and searched, as half-precision halfvec (up to 4,000).
const maxIndexedVector = 2000

// indexed returns the expression the HNSW index is built on and its
// operator class.
func (p *Postgres) indexed() (expr, ops string) {
	if p.dim > maxIndexedVector {
		return fmt.Sprintf("(embedding::halfvec(%d))", p.dim), "halfvec_cosine_ops"
	}
	return "embedding", "vector_cosine_ops"
}

// orderBy is the distance expression that lets the planner use the index.
func (p *Postgres) orderBy() string {
	if p.dim > maxIndexedVector {
		return fmt.Sprintf("embedding::halfvec(%[1]d) <=> $1::vector::halfvec(%[1]d)", p.dim)
	}
	return "embedding <=> $1::vector"
}

// Upsert implements Store.
func (p *Postgres) Upsert(ctx context.Context, doc Document, chunks []Chunk) error {
	doc, chunks, err := prepare(doc, chunks, p.dim)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO `+p.schema+`.documents (id, title, data_owner, tags, chunks, content_hash, created_at)
VALUES ($1, $2, $3, $4::text[], $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET title = excluded.title, data_owner = excluded.data_owner, tags = excluded.tags,
	chunks = excluded.chunks, content_hash = excluded.content_hash, created_at = excluded.created_at`,
			doc.ID, doc.Title, doc.DataOwner, nonNil(doc.Tags), doc.Chunks, doc.ContentHash, doc.CreatedAt)
		if err != nil {
			return fmt.Errorf("retrieval: upserting %q: %w", doc.ID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+p.schema+`.chunks WHERE doc_id = $1`, doc.ID); err != nil {
			return fmt.Errorf("retrieval: upserting %q: %w", doc.ID, err)
		}
		const perRow, rows = 8, 256
		for len(chunks) > 0 {
			batch := chunks[:min(rows, len(chunks))]
			chunks = chunks[len(batch):]
			var sb strings.Builder
			sb.WriteString(`INSERT INTO ` + p.schema + `.chunks (doc_id, id, seq, text, data_owner, tags, meta, embedding) VALUES `)
			args := make([]any, 0, perRow*len(batch))
			for i, c := range batch {
				if i > 0 {
					sb.WriteString(", ")
				}
				n := i * perRow
				fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d::text[], $%d::jsonb, $%d::vector)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8)
				meta, err := json.Marshal(nonNilMap(c.Meta))
				if err != nil {
					return err
				}
				args = append(args, doc.ID, c.ID, c.Seq, c.Text, c.DataOwner, nonNil(c.Tags), string(meta), pgvector.NewVector(c.Embedding))
			}
			if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
				return fmt.Errorf("retrieval: inserting chunks of %q: %w", doc.ID, err)
			}
		}
		return nil
	})
}

// DeleteDocument implements Store.
func (p *Postgres) DeleteDocument(ctx context.Context, id string) error {
	tag, err := p.pool.Exec(ctx, `DELETE FROM `+p.schema+`.documents WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("retrieval: deleting %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return nil
}

// Search implements Store.
func (p *Postgres) Search(ctx context.Context, vec []float32, k int, f Filter) ([]Hit, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	return p.search(ctx, p.pool, vec, k, f)
}

// querier is a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (p *Postgres) search(ctx context.Context, db querier, vec []float32, k int, f Filter) ([]Hit, error) {
	if len(vec) != p.dim {
		return nil, fmt.Errorf("%w: query has %d dimensions, the store %d", ErrDimension, len(vec), p.dim)
	}
	if k <= 0 {
		return nil, nil
	}
	args := []any{pgvector.NewVector(vec), k}
	var where []string
	if len(f.ExcludeDataOwners) > 0 {
		args = append(args, f.ExcludeDataOwners)
		where = append(where, fmt.Sprintf("data_owner <> ALL($%d::text[])", len(args)))
	}
	if len(f.OnlyDataOwners) > 0 {
		args = append(args, f.OnlyDataOwners)
		where = append(where, fmt.Sprintf("data_owner = ANY($%d::text[])", len(args)))
	}
	if len(f.Tags) > 0 {
		args = append(args, f.Tags)
		where = append(where, fmt.Sprintf("tags && $%d::text[]", len(args)))
	}
	q := `SELECT doc_id, id, seq, text, data_owner, tags, meta, 1 - (embedding <=> $1::vector) FROM ` + p.schema + `.chunks`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + p.orderBy() + " LIMIT $2"
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("retrieval: search: %w", err)
	}
	defer rows.Close()
	var hits []Hit
	for rows.Next() {
		var h Hit
		var meta []byte
		c := &h.Chunk
		if err := rows.Scan(&c.DocID, &c.ID, &c.Seq, &c.Text, &c.DataOwner, &c.Tags, &meta, &h.Score); err != nil {
			return nil, fmt.Errorf("retrieval: search: %w", err)
		}
		if err := json.Unmarshal(meta, &c.Meta); err != nil {
			return nil, fmt.Errorf("retrieval: search: chunk meta: %w", err)
		}
		if len(c.Meta) == 0 {
			c.Meta = nil
		}
		if len(c.Tags) == 0 {
			c.Tags = nil
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("retrieval: search: %w", err)
	}
	return hits, nil
}

// Count implements Store.
func (p *Postgres) Count(ctx context.Context) (docs, chunks int, err error) {
	err = p.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+p.schema+`.documents), (SELECT count(*) FROM `+p.schema+`.chunks)`).Scan(&docs, &chunks)
	if err != nil {
		err = fmt.Errorf("retrieval: count: %w", err)
	}
	return docs, chunks, err
}

const documentColumns = `id, title, data_owner, tags, chunks, content_hash, created_at`

func scanDocument(row pgx.Row) (Document, error) {
	var d Document
	err := row.Scan(&d.ID, &d.Title, &d.DataOwner, &d.Tags, &d.Chunks, &d.ContentHash, &d.CreatedAt)
	if len(d.Tags) == 0 {
		d.Tags = nil
	}
	d.CreatedAt = d.CreatedAt.UTC()
	return d, err
}

// Documents implements Store; they are sorted by ID.
func (p *Postgres) Documents(ctx context.Context) ([]Document, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+documentColumns+` FROM `+p.schema+`.documents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("retrieval: documents: %w", err)
	}
	docs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Document, error) { return scanDocument(r) })
	if err != nil {
		return nil, fmt.Errorf("retrieval: documents: %w", err)
	}
	return docs, nil
}

// Document implements Store.
func (p *Postgres) Document(ctx context.Context, id string) (Document, error) {
	d, err := scanDocument(p.pool.QueryRow(ctx, `SELECT `+documentColumns+` FROM `+p.schema+`.documents WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Document{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Document{}, fmt.Errorf("retrieval: document %q: %w", id, err)
	}
	return d, nil
}

// Close implements Store.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

// DropSchema removes the store's schema and everything in it; for tests
// and benchmarks that create throwaway schemas.
func (p *Postgres) DropSchema(ctx context.Context) error {
	_, err := p.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+p.schema+" CASCADE")
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
