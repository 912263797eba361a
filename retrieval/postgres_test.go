package retrieval

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const defaultPgvectorURL = "postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable&default_query_exec_mode=exec"

func pgvectorURL() string {
	if u := os.Getenv("MOEGATE_TEST_PGVECTOR_URL"); u != "" {
		return u
	}
	return defaultPgvectorURL
}

var schemaSeq atomic.Int64

// testSchema is unique per run and call, so concurrent and leftover runs
// never share tables.
func testSchema() string {
	return fmt.Sprintf("rt_%d_%d_%d", time.Now().Unix()%1e6, os.Getpid(), schemaSeq.Add(1))
}

func openTestPostgres(t testing.TB, schema string, dim int) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := OpenPostgres(ctx, pgvectorURL(), dim, PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatalf("Postgres with pgvector is needed at %s (start it with tools/pglite/start.sh, or set MOEGATE_TEST_PGVECTOR_URL): %v", pgvectorURL(), err)
	}
	return p
}

func TestPostgresContract(t *testing.T) {
	runStoreContract(t, func(t *testing.T) Store {
		p := openTestPostgres(t, testSchema(), contractDim)
		t.Cleanup(func() {
			if err := p.DropSchema(context.Background()); err != nil {
				t.Errorf("DropSchema: %v", err)
			}
			p.Close()
		})
		return p
	})
}

func TestPostgresReopen(t *testing.T) {
	ctx := context.Background()
	schema := testSchema()
	p := openTestPostgres(t, schema, contractDim)
	defer p.DropSchema(ctx)
	g := NewSynthetic(contractDim, 2, 0, 7)
	chunks := testChunks(g, "d", 3)
	mustUpsert(t, p, Document{ID: "d"}, chunks)
	p.Close()

	// Migrations are not applied twice; data survives.
	p = openTestPostgres(t, schema, contractDim)
	defer p.Close()
	wantCount(t, p, 1, 3)
	var versions int
	if err := p.pool.QueryRow(ctx, "SELECT count(*) FROM "+p.schema+".schema_migrations WHERE component = 'retrieval'").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if want := len(p.migrations().Migrations); versions != want {
		t.Errorf("%d migrations recorded, want %d", versions, want)
	}

	_, err := OpenPostgres(ctx, pgvectorURL(), contractDim*2, PostgresOptions{Schema: schema})
	if !errors.Is(err, ErrDimension) {
		t.Errorf("reopening with another dimension: error %v, want ErrDimension", err)
	}
}

func TestPostgresErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, err := OpenPostgres(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2", 8, PostgresOptions{})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable server: error %v, want one naming 127.0.0.1:1", err)
	}

	// Debian's PostgreSQL on 5432 has no pgvector.
	plain := os.Getenv("MOEGATE_TEST_POSTGRES_URL")
	if plain == "" {
		plain = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	_, err = OpenPostgres(ctx, plain, 8, PostgresOptions{Schema: testSchema()})
	if err != nil && strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("this test needs a PostgreSQL without pgvector at %s (set MOEGATE_TEST_POSTGRES_URL): %v", plain, err)
	}
	if !errors.Is(err, ErrNoPgvector) || !strings.Contains(err.Error(), "pgvector/pgvector") {
		t.Errorf("server without pgvector: error %v, want ErrNoPgvector naming the pgvector/pgvector image", err)
	}
}

// TestPostgresWideVectors checks vectors too long for pgvector's HNSW on
// vector (over 2,000 dimensions), indexed as halfvec instead.
func TestPostgresWideVectors(t *testing.T) {
	ctx := context.Background()
	const dim = 2048
	p := openTestPostgres(t, testSchema(), dim)
	defer p.Close()
	defer p.DropSchema(ctx)
	g := NewSynthetic(dim, 2, 0, 13)
	chunks := testChunks(g, "wide", 20)
	mustUpsert(t, p, Document{ID: "wide"}, chunks)
	for _, c := range chunks[:5] {
		hits, err := p.Search(ctx, c.Embedding, 2, Filter{})
		if err != nil || len(hits) != 2 || hits[0].Chunk.Text != c.Text || hits[0].Score < 0.999 {
			t.Errorf("search for %q: %+v, %v", c.Text, hits, err)
		}
	}
	var def string
	if err := p.pool.QueryRow(ctx, "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'chunks_embedding_hnsw'", strings.Trim(p.schema, `"`)).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "halfvec_cosine_ops") {
		t.Errorf("index %q, want one on halfvec", def)
	}
}

// TestPostgresSelectiveFilter checks that a filter rejecting most rows
// still yields k results when the HNSW index drives the scan.
func TestPostgresSelectiveFilter(t *testing.T) {
	ctx := context.Background()
	p := openTestPostgres(t, testSchema(), contractDim)
	defer p.Close()
	defer p.DropSchema(ctx)
	g := NewSynthetic(contractDim, 5, 0, 16)
	for d := range 20 {
		owner := "common"
		if d == 7 {
			owner = "rare"
		}
		mustUpsert(t, p, Document{ID: fmt.Sprint(d), DataOwner: owner}, testChunks(g, fmt.Sprint(d), 100))
	}
	// Make the planner walk the HNSW index, as it would on a big table,
	// on one connection of the pool (and its settings).
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	hits, err := p.search(ctx, tx, g.Next(), 10, Filter{OnlyDataOwners: []string{"rare"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 10 {
		t.Errorf("%d hits, want 10", len(hits))
	}
	for _, h := range hits {
		if h.Chunk.DataOwner != "rare" {
			t.Errorf("hit from %s", h.Chunk.DataOwner)
		}
	}
}

// TestPostgresAdoptsLegacySchema opens a schema as the store created it
// before pgmigrate (schema_migrations keyed by version alone): nothing is
// migrated again and the data stays.
func TestPostgresAdoptsLegacySchema(t *testing.T) {
	ctx := context.Background()
	schema := testSchema()
	p := openTestPostgres(t, schema, contractDim)
	defer p.Close()
	defer p.DropSchema(ctx)
	g := NewSynthetic(contractDim, 2, 0, 11)
	mustUpsert(t, p, Document{ID: "old"}, testChunks(g, "old", 2))
	// Turn the record back into the earlier layout.
	for _, q := range []string{
		"DROP TABLE " + p.schema + ".schema_migrations",
		"CREATE TABLE " + p.schema + ".schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
		"INSERT INTO " + p.schema + ".schema_migrations (version) VALUES (1), (2)",
	} {
		if _, err := p.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()

	p = openTestPostgres(t, schema, contractDim)
	wantCount(t, p, 1, 2)
	var got string
	err := p.pool.QueryRow(ctx, "SELECT string_agg(component || ':' || version, ',' ORDER BY version) FROM "+p.schema+".schema_migrations").Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if got != "retrieval:1,retrieval:2" {
		t.Errorf("schema_migrations after adoption: %q, want retrieval:1,retrieval:2", got)
	}
}

// A search gets at most SearchTimeout, whatever the caller's deadline: a
// stalled database fails the search instead of holding the request.
func TestPostgresSearchTimeout(t *testing.T) {
	p := openTestPostgres(t, testSchema(), 8)
	t.Cleanup(func() {
		_ = p.DropSchema(context.Background())
		p.Close()
	})
	vec := []float32{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := p.Search(context.Background(), vec, 3, Filter{}); err != nil {
		t.Fatalf("search with the default timeout: %v", err)
	}
	p.timeout = time.Nanosecond // as if the database had stalled
	if _, err := p.Search(context.Background(), vec, 3, Filter{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("search past its timeout: %v, want context.DeadlineExceeded", err)
	}
}
