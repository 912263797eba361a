package policies

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/internal/testdb"
)

// testPool connects to the test Postgres or fails the test saying so.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return testdb.Pool(t, "public")
}

func TestTenantValidate(t *testing.T) {
	tests := []struct {
		name    string
		t       Tenant
		wantErr string // substring; "" means valid
	}{
		{"minimal", Tenant{Name: "acme"}, ""},
		{"full", Tenant{Name: "acme-2.eu_west", RPM: 10, TPM: 1000, BudgetTokens: 1e6, BudgetPeriod: "day",
			AllowedExperts: []string{"banking"}, DeniedData: []string{"globex"}, DefaultAggregate: "top1", MaxK: 2}, ""},
		{"duration period", Tenant{Name: "a", BudgetPeriod: "168h"}, ""},
		{"empty name", Tenant{}, "tenant name"},
		{"upper case name", Tenant{Name: "Acme"}, "tenant name"},
		{"name with colon", Tenant{Name: "a:b"}, "tenant name"},
		{"long name", Tenant{Name: strings.Repeat("a", 64)}, "tenant name"},
		{"negative rpm", Tenant{Name: "a", RPM: -1}, "rpm -1 is negative"},
		{"negative tpm", Tenant{Name: "a", TPM: -5}, "tpm -5 is negative"},
		{"negative budget", Tenant{Name: "a", BudgetTokens: -1}, "budget_tokens"},
		{"negative max_k", Tenant{Name: "a", MaxK: -1}, "max_k"},
		{"bad period", Tenant{Name: "a", BudgetPeriod: "week"}, "budget_period"},
		{"tiny period", Tenant{Name: "a", BudgetPeriod: "1s"}, "budget_period"},
		{"bad aggregate", Tenant{Name: "a", DefaultAggregate: "vote"}, "default_aggregate"},
		{"allowed and denied expert", Tenant{Name: "a", AllowedExperts: []string{"x", "y"}, DeniedExperts: []string{"y"}}, `expert "y" is both allowed and denied`},
		{"allowed and denied data", Tenant{Name: "a", AllowedData: []string{"o"}, DeniedData: []string{"o"}}, `data owner "o" is both`},
		{"empty expert name", Tenant{Name: "a", DeniedExperts: []string{""}}, "denied_experts"},
		{"comma in data owner", Tenant{Name: "a", DeniedData: []string{"a,b"}}, "denied_data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.t.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
	// Several problems are all reported.
	err := Tenant{Name: "a", RPM: -1, TPM: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "rpm") || !strings.Contains(err.Error(), "tpm") {
		t.Fatalf("want both rpm and tpm reported, got %v", err)
	}
}

func TestBudgetWindow(t *testing.T) {
	now := time.Date(2026, 3, 15, 13, 45, 10, 0, time.UTC)
	tests := []struct {
		period     string
		start, end time.Time
	}{
		{"", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"month", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"day", time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)},
		{"1h", time.Date(2026, 3, 15, 13, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 14, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		s, e := Tenant{BudgetPeriod: tt.period}.BudgetWindow(now)
		if !s.Equal(tt.start) || !e.Equal(tt.end) {
			t.Errorf("period %q: window [%v, %v), want [%v, %v)", tt.period, s, e, tt.start, tt.end)
		}
	}
}

func TestNewKeyAndHash(t *testing.T) {
	k1, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := NewKey()
	if !strings.HasPrefix(k1, KeyPrefix) || k1 == k2 || len(k1) < len(KeyPrefix)+40 {
		t.Fatalf("keys %q, %q: want distinct, prefixed, long", k1, k2)
	}
	if h := HashKey(k1); len(h) != 64 || h == HashKey(k2) || strings.Contains(h, k1) {
		t.Fatalf("HashKey(%q) = %q", k1, h)
	}
}

// backendFactory opens two handles on the same storage, as two replicas would.
type backendFactory func(t *testing.T) (Backend, Backend)

func fileBackends(t *testing.T) (Backend, Backend) {
	path := filepath.Join(t.TempDir(), "data", "tenants.json")
	a, err := NewFileBackend(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewFileBackend(path)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func postgresBackends(t *testing.T) (Backend, Backend) {
	pool := testPool(t)
	// A schema of its own: the table and its migration record go with it.
	table := testdb.Schema(t) + ".moegate_tenants"
	ctx := context.Background()
	a, err := NewPostgresBackend(ctx, pool, table)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewPostgresBackend(ctx, pool, table)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestTenantStores(t *testing.T) {
	for name, open := range map[string]backendFactory{"file": fileBackends, "postgres": postgresBackends} {
		t.Run(name, func(t *testing.T) { testTenantStore(t, open) })
	}
}

func testTenantStore(t *testing.T, open backendFactory) {
	ctx := context.Background()
	ba, bb := open(t)
	t.Setenv("MOEGATE_TEST_STATIC_KEY", "mg-static-secret")
	static := []StaticTenant{
		{Tenant: Tenant{Name: "ops", RPM: 5}, KeyEnv: "MOEGATE_TEST_STATIC_KEY"},
		{Tenant: Tenant{Name: "bi"}, KeyHash: "sha256:" + strings.ToUpper(HashKey("mg-bi-secret"))},
	}
	a, err := NewTenants(static, ba, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewTenants(static, bb, nil)
	if err != nil {
		t.Fatal(err)
	}

	created, key, err := a.Create(ctx, Tenant{Name: "acme", RPM: 10, DeniedData: []string{"globex"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, KeyPrefix) || created.CreatedAt.IsZero() || created.RPM != 10 {
		t.Fatalf("Create = %+v, %q", created, key)
	}
	// The other replica sees the new tenant and accepts its key.
	got, err := b.Authenticate(ctx, key)
	if err != nil || got.Name != "acme" || got.RPM != 10 || len(got.DeniedData) != 1 {
		t.Fatalf("replica b Authenticate(new key) = %+v, %v", got, err)
	}
	if !got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("CreatedAt round trip: %v, want %v", got.CreatedAt, created.CreatedAt)
	}
	for _, k := range []string{"", "mg-wrong", key + "x", key[:len(key)-1], strings.ToUpper(key)} {
		if _, err := b.Authenticate(ctx, k); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Authenticate(%q) err = %v, want ErrUnauthorized", k, err)
		}
	}
	if tn, err := a.Authenticate(ctx, "mg-static-secret"); err != nil || tn.Name != "ops" {
		t.Errorf("static env key: %+v, %v", tn, err)
	}
	if tn, err := a.Authenticate(ctx, "mg-bi-secret"); err != nil || tn.Name != "bi" {
		t.Errorf("static hashed key: %+v, %v", tn, err)
	}

	if _, _, err := b.Create(ctx, Tenant{Name: "acme"}); !errors.Is(err, ErrExists) {
		t.Errorf("Create duplicate: %v, want ErrExists", err)
	}
	if _, _, err := a.Create(ctx, Tenant{Name: "ops"}); !errors.Is(err, ErrExists) {
		t.Errorf("Create over static: %v, want ErrExists", err)
	}
	if _, _, err := a.Create(ctx, Tenant{Name: "Bad Name"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Create invalid: %v, want ErrInvalid", err)
	}
	if _, err := a.Get(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing: %v, want ErrNotFound", err)
	}
	list, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range list {
		names = append(names, tn.Name)
	}
	if strings.Join(names, ",") != "acme,bi,ops" {
		t.Errorf("List = %v, want acme,bi,ops", names)
	}

	// Update replaces the policy, keeps the key and the creation time; the
	// other replica sees it; invalid updates change nothing.
	up, err := a.Update(ctx, "acme", Tenant{RPM: 99, AllowedExperts: []string{"banking"}})
	if err != nil || up.RPM != 99 || !up.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("Update = %+v, %v", up, err)
	}
	if got, err := b.Authenticate(ctx, key); err != nil || got.RPM != 99 || len(got.DeniedData) != 0 || len(got.AllowedExperts) != 1 {
		t.Fatalf("replica b after Update: %+v, %v", got, err)
	}
	for _, bad := range []struct {
		name string
		t    Tenant
		want error
	}{
		{"acme", Tenant{RPM: -1}, ErrInvalid},
		{"acme", Tenant{Name: "other"}, ErrInvalid},
		{"ops", Tenant{RPM: 1}, ErrReadOnly},
		{"nobody", Tenant{RPM: 1}, ErrNotFound},
	} {
		if _, err := a.Update(ctx, bad.name, bad.t); !errors.Is(err, bad.want) {
			t.Errorf("Update(%s, %+v) = %v, want %v", bad.name, bad.t, err, bad.want)
		}
	}
	if got, _ := b.Get(ctx, "acme"); got.RPM != 99 {
		t.Errorf("a failed update changed the tenant: %+v", got)
	}

	if err := a.Delete(ctx, "ops"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete static: %v, want ErrReadOnly", err)
	}
	if err := a.Delete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, key); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("deleted tenant's key on replica b: %v, want ErrUnauthorized", err)
	}
	if _, err := b.Get(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get deleted on replica b: %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete twice: %v, want ErrNotFound", err)
	}
}

func TestFileBackendStoresOnlyHashes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.json")
	fb, err := NewFileBackend(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := NewTenants(nil, fb, nil)
	_, key, err := ts.Create(context.Background(), Tenant{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), key) || strings.Contains(string(data), strings.TrimPrefix(key, KeyPrefix)) {
		t.Fatal("tenant file contains the plaintext key")
	}
	if !strings.Contains(string(data), HashKey(key)) {
		t.Fatal("tenant file lacks the key hash")
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("tenant file mode %v, want 0600", info.Mode().Perm())
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tenants.json.tmp-*"))
	if len(matches) != 0 {
		t.Errorf("temp files left behind: %v", matches)
	}
	// A fresh process reading the file authenticates the key.
	fb2, err := NewFileBackend(path)
	if err != nil {
		t.Fatal(err)
	}
	ts2, _ := NewTenants(nil, fb2, nil)
	if tn, err := ts2.Authenticate(context.Background(), key); err != nil || tn.Name != "acme" {
		t.Fatalf("reopened store: %+v, %v", tn, err)
	}
}

func TestNewTenantsRejectsBadStatic(t *testing.T) {
	t.Setenv("MOEGATE_TEST_EMPTY", "")
	tests := []struct {
		name   string
		static []StaticTenant
		want   string
	}{
		{"no key", []StaticTenant{{Tenant: Tenant{Name: "a"}}}, "no key"},
		{"both", []StaticTenant{{Tenant: Tenant{Name: "a"}, KeyEnv: "X", KeyHash: HashKey("k")}}, "not both"},
		{"empty env", []StaticTenant{{Tenant: Tenant{Name: "a"}, KeyEnv: "MOEGATE_TEST_EMPTY"}}, "MOEGATE_TEST_EMPTY"},
		{"short hash", []StaticTenant{{Tenant: Tenant{Name: "a"}, KeyHash: "abcd"}}, "64 hex"},
		{"invalid tenant", []StaticTenant{{Tenant: Tenant{Name: "a", RPM: -1}, KeyHash: HashKey("k")}}, "rpm"},
		{"same key", []StaticTenant{{Tenant: Tenant{Name: "a"}, KeyHash: HashKey("k")}, {Tenant: Tenant{Name: "b"}, KeyHash: HashKey("k")}}, "same key"},
		{"twice", []StaticTenant{{Tenant: Tenant{Name: "a"}, KeyHash: HashKey("k")}, {Tenant: Tenant{Name: "a"}, KeyHash: HashKey("j")}}, "defined twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTenants(tt.static, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewTenants = %v, want error containing %q", err, tt.want)
			}
		})
	}
	ts, err := NewTenants([]StaticTenant{{Tenant: Tenant{Name: "a"}, KeyHash: HashKey("k")}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.Create(context.Background(), Tenant{Name: "b"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Create without backend: %v, want ErrReadOnly", err)
	}
}

func TestNoAuth(t *testing.T) {
	ctx := context.Background()
	var s TenantStore = NoAuth{}
	for _, key := range []string{"", "anything"} {
		tn, err := s.Authenticate(ctx, key)
		if err != nil || tn.Name != DefaultTenantName || tn.RPM != 0 || tn.BudgetTokens != 0 {
			t.Errorf("Authenticate(%q) = %+v, %v", key, tn, err)
		}
	}
	if _, _, err := s.Create(ctx, Tenant{Name: "x"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Create: %v", err)
	}
	var _ TenantStore = (*Tenants)(nil)
}

// unreachableBackend is a real FileBackend whose key lookups fail as an
// unreachable database's do while down is set.
type unreachableBackend struct {
	*FileBackend
	down    bool
	err     error       // what a lookup fails with; an Unavailable error by default
	stalled atomic.Bool // lookups hang for stalledLookup, then fail as past their timeout
}

func (b *unreachableBackend) ByKeyHash(ctx context.Context, h string) (Record, error) {
	if b.stalled.Load() {
		// A stalled database, as the Postgres backend reports it: past its
		// own lookup timeout.
		select {
		case <-ctx.Done():
			return Record{}, ctx.Err()
		case <-time.After(stalledLookup):
			return Record{}, fmt.Errorf("policies: reading tenant: %w", context.DeadlineExceeded)
		}
	}
	if b.down {
		if b.err != nil {
			return Record{}, b.err
		}
		return Record{}, errs.E(errs.Unavailable, "tenant store unreachable: connection refused")
	}
	return b.FileBackend.ByKeyHash(ctx, h)
}

// While the backend cannot be reached, a key it accepted keeps working on
// its last known tenant for staleAuth; a key it never accepted, a key it
// no longer knows and a tenant changed or deleted here do not, and a
// failure other than unreachability is not covered up.
func TestAuthenticateRidesOutAnOutage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// before runs with the backend up, after the key was used once;
		// it may return another key to try while the backend is down.
		before  func(t *testing.T, ts *Tenants, key string) string
		elapsed time.Duration // since the key's last good lookup
		failure error         // nil: unreachable
		served  bool
		kind    errs.Kind // of the error when not served
	}{
		{name: "known key", served: true},
		{name: "known key, answer just within the hour", elapsed: staleAuth, served: true},
		{name: "known key, answer too old", elapsed: staleAuth + time.Second, kind: errs.Unavailable},
		{name: "key never seen", kind: errs.Unavailable, before: func(t *testing.T, ts *Tenants, _ string) string {
			_, key, err := ts.Create(ctx, Tenant{Name: "newcomer"})
			if err != nil {
				t.Fatal(err)
			}
			return key
		}},
		{name: "tenant deleted here", kind: errs.Unavailable, before: func(t *testing.T, ts *Tenants, key string) string {
			if err := ts.Delete(ctx, "acme"); err != nil {
				t.Fatal(err)
			}
			return key
		}},
		{name: "tenant updated here", kind: errs.Unavailable, before: func(t *testing.T, ts *Tenants, key string) string {
			if _, err := ts.Update(ctx, "acme", Tenant{RPM: 5}); err != nil {
				t.Fatal(err)
			}
			return key
		}},
		{name: "key revoked elsewhere, seen here", kind: errs.Unavailable, before: func(t *testing.T, ts *Tenants, key string) string {
			if err := ts.backend.Delete(ctx, "acme"); err != nil { // as another replica would
				t.Fatal(err)
			}
			if _, err := ts.Authenticate(ctx, key); !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("revoked key: %v, want ErrUnauthorized", err)
			}
			return key
		}},
		{name: "a failure that is not an outage", failure: errors.New("policies: decoding tenant: bad JSON"), kind: errs.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb, err := NewFileBackend(filepath.Join(t.TempDir(), "tenants.json"))
			if err != nil {
				t.Fatal(err)
			}
			b := &unreachableBackend{FileBackend: fb, err: tt.failure}
			ts, err := NewTenants(nil, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			ts.now = func() time.Time { return now }
			_, key, err := ts.Create(ctx, Tenant{Name: "acme", RPM: 60})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Authenticate(ctx, key); err != nil {
				t.Fatal(err)
			}
			if tt.before != nil {
				key = tt.before(t, ts, key)
			}
			b.down = true
			now = now.Add(tt.elapsed)
			got, err := ts.Authenticate(ctx, key)
			switch {
			case tt.served && err != nil:
				t.Fatalf("not served: %v", err)
			case tt.served && (got.Name != "acme" || got.RPM != 60):
				t.Fatalf("served %+v, want acme's last known policy", got)
			case !tt.served && err == nil:
				t.Fatalf("served %+v, want an error", got)
			case !tt.served && errs.KindOf(err) != tt.kind:
				t.Fatalf("error %v of kind %v, want %v", err, errs.KindOf(err), tt.kind)
			}
		})
	}
}

// An unreachable Postgres is Unavailable (503, worth a retry), not an
// internal error.
func TestPostgresBackendUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	pool, err := pgxpool.New(ctx, "postgres://postgres@"+addr+"/test?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	b := &PostgresBackend{pool: pool, table: "moegate_tenants"}
	_, err = b.ByKeyHash(ctx, HashKey("mg-anything"))
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("lookup on an unreachable Postgres: %v (kind %v), want Unavailable", err, errs.KindOf(err))
	}
}

// stalledLookup is how long the stalled backend takes to give up.
const stalledLookup = 200 * time.Millisecond

// A stalled tenant store costs one request its lookup timeout:
// the known key is served from memory, the next requests do not wait for
// the store at all, and once a probe finds it back, lookups resume and a
// key deleted meanwhile stops working.
func TestAuthenticateStalledStore(t *testing.T) {
	ctx := context.Background()
	fb, err := NewFileBackend(filepath.Join(t.TempDir(), "tenants.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := &unreachableBackend{FileBackend: fb}
	ts, err := NewTenants(nil, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts.store.every = 50 * time.Millisecond
	_, key, err := ts.Create(ctx, Tenant{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}

	b.stalled.Store(true)
	start := time.Now()
	if got, err := ts.Authenticate(ctx, key); err != nil || got.Name != "acme" {
		t.Fatalf("first request in the stall: %+v, %v", got, err)
	}
	if waited := time.Since(start); waited < stalledLookup || waited > 5*stalledLookup {
		t.Fatalf("first request in the stall waited %s, want about %s", waited, stalledLookup)
	}
	for range 5 {
		start := time.Now()
		if _, err := ts.Authenticate(ctx, key); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited > stalledLookup/2 {
			t.Fatalf("a request waited %s for a store known to be stalled", waited)
		}
	}

	if err := fb.Delete(ctx, "acme"); err != nil { // as another replica would, meanwhile
		t.Fatal(err)
	}
	b.stalled.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := ts.Authenticate(ctx, key)
		if errors.Is(err, ErrUnauthorized) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("after the stall: %v; want the deleted key refused once the store is back", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
