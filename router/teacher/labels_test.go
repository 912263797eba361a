package teacher

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moegate/moegate/router"
)

const testPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// pgStore returns a store in a schema of its own, dropped after the test.
func pgStore(t *testing.T) *PostgresStore {
	t.Helper()
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, testPostgresURL)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL is required at %s: %v", testPostgresURL, err)
	}
	schema := fmt.Sprintf("moegate_labels_test_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(testPostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	s, err := NewPostgresStore(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStores(t *testing.T) {
	stores := map[string]func(t *testing.T) Store{
		"file":     func(t *testing.T) Store { return NewFileStore(filepath.Join(t.TempDir(), "labels.jsonl")) },
		"postgres": func(t *testing.T) Store { return pgStore(t) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			add := func(l Label) Label {
				t.Helper()
				got, err := s.Add(ctx, l)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			admin := add(Label{Text: "book a flight", Expert: "travel", Source: SourceAdmin})
			a := add(Label{Tenant: "acme", Text: "my card was stolen", Expert: "cards", Source: SourceFeedback})
			add(Label{Tenant: "acme", Text: "who won the cup", Expert: router.OutOfScope, Source: SourceTeacher})
			add(Label{Tenant: "evil", Text: "my card was stolen", Expert: "travel", Source: SourceFeedback})
			if admin.ID == "" || admin.Time.IsZero() || a.ID == admin.ID {
				t.Errorf("ids %q, %q, time %v", admin.ID, a.ID, admin.Time)
			}
			for _, bad := range []Label{
				{Text: "x", Expert: "a", Source: "rumour"},
				{Text: "", Expert: "a", Source: SourceAdmin},
				{Text: "x", Expert: "a", Source: SourceFeedback}, // no tenant
			} {
				if _, err := s.Add(ctx, bad); err == nil {
					t.Errorf("stored %+v", bad)
				}
			}
			count := func(tenant string, all bool) int {
				t.Helper()
				ls, err := s.List(ctx, tenant, all)
				if err != nil {
					t.Fatal(err)
				}
				return len(ls)
			}
			if g, a, e, all := count("", false), count("acme", false), count("evil", false), count("", true); g != 1 || a != 2 || e != 1 || all != 4 {
				t.Errorf("global %d, acme %d, evil %d, all %d; want 1, 2, 1, 4", g, a, e, all)
			}
			all, _ := s.List(ctx, "", true)
			if all[0].ID != admin.ID || all[0].Expert != "travel" || all[0].Source != SourceAdmin {
				t.Errorf("first label %+v, want %+v", all[0], admin)
			}
			// Tenant isolation: evil's feedback never trains acme's routing.
			for _, ex := range Examples(all, "acme") {
				if ex.Expert == "travel" && ex.Text == "my card was stolen" {
					t.Errorf("acme trains on evil's feedback: %+v", ex)
				}
			}
			if n := len(Examples(all, "acme")); n != 3 {
				t.Errorf("acme trains on %d labels, want 3 (global + its own)", n)
			}
			if err := s.Delete(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, a.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("second delete: %v", err)
			}
			if n := count("acme", false); n != 1 {
				t.Errorf("acme has %d labels after a delete, want 1", n)
			}
		})
	}
}
