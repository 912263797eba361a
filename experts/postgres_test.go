package experts

import (
	"context"
	"testing"
)

// TestPostgresStoreAdoptsTable opens a table created before migrations
// were recorded: its specs stay and version 1 is recorded, not re-run.
func TestPostgresStoreAdoptsTable(t *testing.T) {
	ctx := context.Background()
	pool := pgPool(t, pgSchema(t))
	for _, q := range []string{
		`CREATE TABLE moegate_experts (name text PRIMARY KEY, spec jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO moegate_experts (name, spec) VALUES ('old', '{"name":"old","kind":"local"}')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		st, err := NewPostgresStore(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		specs, err := st.Load(ctx)
		if err != nil || len(specs) != 1 || specs[0].Name != "old" {
			t.Fatalf("Load = %+v, %v; want the existing spec", specs, err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE component = 'experts'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("experts migrations recorded: %d, %v; want 1", n, err)
	}
}
