package pgmigrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moegate/moegate/internal/testdb"
)

// notes is a component with a table and a seed row, so that applying
// migration 2 twice would show as two rows.
func notes(schema string) Set {
	return Set{Component: "notes", Schema: schema, Migrations: []Migration{
		{Version: 1, Name: "notes table", SQL: `CREATE TABLE IF NOT EXISTS "` + schema + `".notes (id serial PRIMARY KEY, body text NOT NULL)`},
		{Version: 2, Name: "seed", SQL: `INSERT INTO "` + schema + `".notes (body) VALUES ('seed')`},
	}}
}

func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func versions(t *testing.T, pool *pgxpool.Pool, schema, component string) string {
	t.Helper()
	var v string
	err := pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(version::text, ',' ORDER BY version), '') FROM "`+schema+`".schema_migrations WHERE component = $1`, component).Scan(&v)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestApplyIdempotent(t *testing.T) {
	ctx := context.Background()
	schema := testdb.Schema(t)
	pool := testdb.Pool(t, schema)
	set := notes(schema)

	applied, err := Apply(ctx, pool, set)
	if err != nil || len(applied) != 2 {
		t.Fatalf("first Apply = %v, %v; want both migrations", applied, err)
	}
	applied, err = Apply(ctx, pool, set)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Apply = %v, %v; want nothing", applied, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM "`+schema+`".notes`); n != 1 {
		t.Errorf("%d seed rows, want 1", n)
	}

	// A later build adds migration 3: only it runs.
	set.Migrations = append(set.Migrations, Migration{Version: 3, Name: "author", SQL: `ALTER TABLE "` + schema + `".notes ADD COLUMN author text`})
	applied, err = Apply(ctx, pool, set)
	if err != nil || len(applied) != 1 || applied[0].Version != 3 {
		t.Fatalf("Apply with a new migration = %v, %v; want only version 3", applied, err)
	}
	if got := versions(t, pool, schema, "notes"); got != "1,2,3" {
		t.Errorf("recorded versions %q, want 1,2,3", got)
	}

	// An older build meeting the newer schema refuses to guess.
	_, err = Apply(ctx, pool, notes(schema))
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("older build: error %v, want ErrNewerSchema naming version 3", err)
	}
}

func TestApplyConcurrent(t *testing.T) {
	ctx := context.Background()
	schema := testdb.Schema(t)
	// Separate pools, as separate replicas would have.
	const replicas = 6
	pools := make([]*pgxpool.Pool, replicas)
	for i := range pools {
		pools[i] = testdb.Pool(t, schema)
	}
	var wg sync.WaitGroup
	total := make([]int, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two components in one schema race for schema_migrations too.
			a, err := Apply(ctx, pools[i], notes(schema))
			if err != nil {
				errs[i] = err
				return
			}
			b, err := Apply(ctx, pools[i], Set{Component: "other", Schema: schema, Migrations: []Migration{
				{Version: 1, Name: "other table", SQL: `CREATE TABLE IF NOT EXISTS "` + schema + `".other (x int)`},
			}})
			errs[i] = err
			total[i] = len(a) + len(b)
		}()
	}
	wg.Wait()
	sum := 0
	for i := range replicas {
		if errs[i] != nil {
			t.Errorf("replica %d: %v", i, errs[i])
		}
		sum += total[i]
	}
	if sum != 3 {
		t.Errorf("%d migrations applied across replicas, want 3 (each once)", sum)
	}
	if n := count(t, pools[0], `SELECT count(*) FROM "`+schema+`".notes`); n != 1 {
		t.Errorf("%d seed rows, want 1", n)
	}
}

func TestApplyFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	schema := testdb.Schema(t)
	pool := testdb.Pool(t, schema)
	set := notes(schema)
	set.Migrations = append(set.Migrations, Migration{Version: 3, Name: "broken", SQL: `ALTER TABLE "` + schema + `".missing ADD COLUMN x int`})

	_, err := Apply(ctx, pool, set)
	var me *Error
	if !errors.As(err, &me) || me.Version != 3 || me.Name != "broken" || me.Component != "notes" || me.Schema != schema {
		t.Fatalf("error %#v, want *Error for notes migration 3 (broken)", err)
	}
	if !strings.Contains(err.Error(), "migration 3 (broken)") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("message %q should name the migration and the cause", err)
	}
	// Migrations 1 and 2 of the failed run were rolled back with it.
	if n := count(t, pool, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'notes'`, schema); n != 0 {
		t.Errorf("notes table exists after a failed run")
	}

	// Fixed, the run succeeds from the start.
	set.Migrations[2].SQL = `ALTER TABLE "` + schema + `".notes ADD COLUMN x int`
	if applied, err := Apply(ctx, pool, set); err != nil || len(applied) != 3 {
		t.Fatalf("Apply after fix = %v, %v", applied, err)
	}
}

// TestApplyConvertsLegacyTable starts from the retrieval store's earlier
// schema_migrations (version alone) and checks that its versions stay
// applied, claimed by the Legacy set, whichever component comes first.
func TestApplyConvertsLegacyTable(t *testing.T) {
	ctx := context.Background()
	schema := testdb.Schema(t)
	pool := testdb.Pool(t, schema)
	for _, q := range []string{
		`CREATE SCHEMA "` + schema + `"`,
		`CREATE TABLE "` + schema + `".schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO "` + schema + `".schema_migrations (version) VALUES (1), (2)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Another component first: the table is converted, its rows kept.
	if applied, err := Apply(ctx, pool, notes(schema)); err != nil || len(applied) != 2 {
		t.Fatalf("Apply(notes) on a legacy table = %v, %v", applied, err)
	}
	// The legacy owner's recorded migrations must not run again: these
	// would fail if they did.
	legacy := Set{Component: "retrieval", Schema: schema, Legacy: true, Migrations: []Migration{
		{Version: 1, Name: "one", SQL: "SELECT 1/0"},
		{Version: 2, Name: "two", SQL: "SELECT 1/0"},
		{Version: 3, Name: "three", SQL: `CREATE TABLE "` + schema + `".three (x int)`},
	}}
	applied, err := Apply(ctx, pool, legacy)
	if err != nil || len(applied) != 1 || applied[0].Version != 3 {
		t.Fatalf("Apply(legacy) = %v, %v; want only version 3", applied, err)
	}
	if got := versions(t, pool, schema, "retrieval"); got != "1,2,3" {
		t.Errorf("retrieval versions %q, want 1,2,3", got)
	}
	if got := versions(t, pool, schema, ""); got != "" {
		t.Errorf("unclaimed versions %q remain", got)
	}
}

func TestApplyCurrentSchema(t *testing.T) {
	ctx := context.Background()
	schema := testdb.Schema(t)
	pool := testdb.Pool(t, schema)
	if _, err := pool.Exec(ctx, `CREATE SCHEMA "`+schema+`"`); err != nil {
		t.Fatal(err)
	}
	set := Set{Component: "plain", Migrations: []Migration{{Version: 1, Name: "t", SQL: "CREATE TABLE IF NOT EXISTS plain (x int)"}}}
	if _, err := Apply(ctx, pool, set); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, pool, schema, "plain"); got != "1" {
		t.Errorf("versions in the current schema %q, want 1", got)
	}
	if n := count(t, pool, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'plain'`, schema); n != 1 {
		t.Errorf("table not in the current schema")
	}

	// With no existing schema on the search_path there is nowhere to go.
	missing := testdb.Pool(t, "moegate_no_such_schema_"+testdb.Suffix(t))
	if _, err := Apply(ctx, missing, set); err == nil || !strings.Contains(err.Error(), "search_path") {
		t.Errorf("no current schema: error %v, want one about the search_path", err)
	}
}

func TestSetValidate(t *testing.T) {
	m := func(v int) Migration { return Migration{Version: v, Name: fmt.Sprint(v), SQL: "SELECT 1"} }
	tests := []struct {
		name string
		set  Set
		ok   bool
	}{
		{"ordered", Set{Component: "c", Migrations: []Migration{m(1), m(2)}}, true},
		{"empty", Set{Component: "c"}, true},
		{"no component", Set{Migrations: []Migration{m(1)}}, false},
		{"starts at 2", Set{Component: "c", Migrations: []Migration{m(2)}}, false},
		{"gap", Set{Component: "c", Migrations: []Migration{m(1), m(3)}}, false},
		{"out of order", Set{Component: "c", Migrations: []Migration{m(2), m(1)}}, false},
		{"no SQL", Set{Component: "c", Migrations: []Migration{{Version: 1}}}, false},
	}
	for _, tt := range tests {
		if err := tt.set.validate(); (err == nil) != tt.ok {
			t.Errorf("%s: validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
