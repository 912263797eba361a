package policies

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moegate/moegate/internal/errs"
)

// KeyPrefix starts every API key the gateway issues, so leaked keys are easy
// to recognise in logs and by secret scanners.
const KeyPrefix = "mg-"

// NewKey returns a fresh API key: KeyPrefix and 32 random bytes, base64url.
func NewKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("policies: generating key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashKey returns the hex SHA-256 of key, the only form in which keys are
// stored or compared.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// normalizeHash accepts "sha256:<hex>" or "<hex>" and returns lower-case hex.
func normalizeHash(h string) (string, error) {
	h = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(h), "sha256:"))
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%w: key hash must be 64 hex digits (sha256)", ErrInvalid)
	}
	return h, nil
}

// Record is a tenant as persisted: its policy and the hash of its key.
type Record struct {
	Tenant  Tenant `json:"tenant"`
	KeyHash string `json:"key_hash"` // hex SHA-256 of the key
}

// Backend persists tenant records. Implementations: FileBackend (one
// replica, or replicas sharing a file system) and PostgresBackend (shared).
type Backend interface {
	Insert(ctx context.Context, r Record) error // ErrExists if the name is taken
	Get(ctx context.Context, name string) (Record, error)
	List(ctx context.Context) ([]Record, error) // sorted by name
	Delete(ctx context.Context, name string) error
	// Replace stores t as the tenant of its name, keeping its key;
	// ErrNotFound if absent.
	Replace(ctx context.Context, t Tenant) error
	// ByKeyHash finds the record whose KeyHash equals keyHash.
	ByKeyHash(ctx context.Context, keyHash string) (Record, error)
}

// TenantStore is what the HTTP layer needs of tenants. *Tenants and
// NoAuth implement it.
type TenantStore interface {
	Create(ctx context.Context, t Tenant) (Tenant, string, error)
	Get(ctx context.Context, name string) (Tenant, error)
	List(ctx context.Context) ([]Tenant, error)
	Update(ctx context.Context, name string, t Tenant) (Tenant, error)
	Delete(ctx context.Context, name string) error
	Authenticate(ctx context.Context, key string) (Tenant, error)
}

// StaticTenant is a tenant defined in configuration. Its key is given either
// as the name of an environment variable holding it or as its SHA-256 hash
// ("sha256:<hex>" or plain hex), never in plain text.
type StaticTenant struct {
	Tenant
	KeyEnv  string `json:"key_env,omitempty" yaml:"key_env"`
	KeyHash string `json:"key_hash,omitempty" yaml:"key_hash"`
}

// Tenants is the tenant store: static tenants from configuration plus
// runtime tenants persisted in a Backend. Static tenants cannot be created
// or deleted at runtime.
type Tenants struct {
	static  []Record // sorted by name
	backend Backend
	now     func() time.Time

	// known holds each key's tenant as the backend last returned it, by
	// key hash: while the backend cannot be reached, the keys it
	// recognised keep working with the policy it gave them, for up to
	// staleAuth after that answer. Only keys the backend accepted get an
	// entry, so there is one per tenant at most; one it no longer knows
	// loses its entry.
	mu    sync.Mutex
	known map[string]knownKey
	// store is open while the backend is out of reach: lookups are then
	// skipped, and a background probe finds when it is back.
	store *circuit
}

// knownKey is a tenant the backend returned for a key, and when.
type knownKey struct {
	tenant Tenant
	at     time.Time
}

// staleAuth bounds how long a key keeps working on its last known tenant
// while the backend is unreachable: an outage is ridden out, but a key
// revoked on another replica in the meantime stops within the hour.
const staleAuth = time.Hour

// NewTenants checks static and reads their keys (from the environment when
// KeyEnv is set). backend may be nil: then only static tenants exist and
// Create fails.
// log (nil: none) hears when the backend becomes unreachable and when it
// is back.
func NewTenants(static []StaticTenant, backend Backend, log *slog.Logger) (*Tenants, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ts := &Tenants{backend: backend, now: time.Now, known: map[string]knownKey{}}
	ts.store = &circuit{store: "tenant store", what: "tenant store", fallback: "the keys seen in the last hour", degraded: "only recently seen keys work",
		every: 2 * time.Second, log: log, now: func() time.Time { return ts.now() }, ping: func(ctx context.Context) error {
			// Any hash will do: a store that answers says it is not found.
			if _, err := backend.ByKeyHash(ctx, HashKey("moegate probe")); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			return nil
		}}
	seenHash := map[string]string{}
	var errs []error
	for _, s := range static {
		if err := s.Tenant.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: %w", s.Name, err))
			continue
		}
		var h string
		switch {
		case s.KeyEnv != "" && s.KeyHash != "":
			errs = append(errs, fmt.Errorf("tenant %q: %w: set key_env or key_hash, not both", s.Name, ErrInvalid))
			continue
		case s.KeyEnv != "":
			key := os.Getenv(s.KeyEnv)
			if key == "" {
				errs = append(errs, fmt.Errorf("tenant %q: %w: environment variable %s is empty or unset", s.Name, ErrInvalid, s.KeyEnv))
				continue
			}
			h = HashKey(key)
		case s.KeyHash != "":
			var err error
			if h, err = normalizeHash(s.KeyHash); err != nil {
				errs = append(errs, fmt.Errorf("tenant %q: %w", s.Name, err))
				continue
			}
		default:
			errs = append(errs, fmt.Errorf("tenant %q: %w: no key (set key_env or key_hash)", s.Name, ErrInvalid))
			continue
		}
		if other, dup := seenHash[h]; dup {
			errs = append(errs, fmt.Errorf("tenant %q: %w: same key as tenant %q", s.Name, ErrInvalid, other))
			continue
		}
		if slices.ContainsFunc(ts.static, func(r Record) bool { return r.Tenant.Name == s.Name }) {
			errs = append(errs, fmt.Errorf("tenant %q: %w: defined twice", s.Name, ErrExists))
			continue
		}
		seenHash[h] = s.Name
		ts.static = append(ts.static, Record{Tenant: s.Tenant, KeyHash: h})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(ts.static, func(a, b Record) int { return strings.Compare(a.Tenant.Name, b.Tenant.Name) })
	return ts, nil
}

func (ts *Tenants) staticByName(name string) (Record, bool) {
	i, ok := slices.BinarySearchFunc(ts.static, name, func(r Record, n string) int { return strings.Compare(r.Tenant.Name, n) })
	if !ok {
		return Record{}, false
	}
	return ts.static[i], true
}

// Create validates t, gives it a new key, persists it with the key's hash
// and returns the tenant and the key. The key is never stored or shown
// again.
func (ts *Tenants) Create(ctx context.Context, t Tenant) (Tenant, string, error) {
	if ts.backend == nil {
		return Tenant{}, "", fmt.Errorf("%w: no tenant backend configured; tenants come from configuration only", ErrReadOnly)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = ts.now().UTC().Truncate(time.Millisecond)
	}
	if err := t.Validate(); err != nil {
		return Tenant{}, "", err
	}
	if _, ok := ts.staticByName(t.Name); ok {
		return Tenant{}, "", fmt.Errorf("tenant %q: %w", t.Name, ErrExists)
	}
	key, err := NewKey()
	if err != nil {
		return Tenant{}, "", err
	}
	if t.ID, err = NewTenantID(); err != nil {
		return Tenant{}, "", err
	}
	if err := ts.backend.Insert(ctx, Record{Tenant: t, KeyHash: HashKey(key)}); err != nil {
		return Tenant{}, "", err
	}
	return t, key, nil
}

// Get returns the named tenant, static or runtime.
func (ts *Tenants) Get(ctx context.Context, name string) (Tenant, error) {
	if r, ok := ts.staticByName(name); ok {
		return r.Tenant, nil
	}
	if ts.backend == nil {
		return Tenant{}, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	r, err := ts.backend.Get(ctx, name)
	return r.Tenant, err
}

// List returns every tenant sorted by name.
func (ts *Tenants) List(ctx context.Context) ([]Tenant, error) {
	out := make([]Tenant, 0, len(ts.static))
	for _, r := range ts.static {
		out = append(out, r.Tenant)
	}
	if ts.backend != nil {
		rs, err := ts.backend.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if _, ok := ts.staticByName(r.Tenant.Name); !ok {
				out = append(out, r.Tenant)
			}
		}
	}
	slices.SortFunc(out, func(a, b Tenant) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Update replaces a runtime tenant's policy, keeping its key, id and
// creation time. t is validated before anything is stored; its name must be empty
// or name.
func (ts *Tenants) Update(ctx context.Context, name string, t Tenant) (Tenant, error) {
	if t.Name == "" {
		t.Name = name
	}
	if t.Name != name {
		return Tenant{}, fmt.Errorf("%w: name %q does not match %q (tenants cannot be renamed)", ErrInvalid, t.Name, name)
	}
	if _, ok := ts.staticByName(name); ok {
		return Tenant{}, fmt.Errorf("tenant %q is defined in the configuration: %w", name, ErrReadOnly)
	}
	if ts.backend == nil {
		return Tenant{}, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	old, err := ts.backend.Get(ctx, name)
	if err != nil {
		return Tenant{}, err
	}
	t.CreatedAt, t.ID = old.Tenant.CreatedAt, old.Tenant.ID // identity is not the caller's to change
	if err := t.Validate(); err != nil {
		return Tenant{}, err
	}
	if err := ts.backend.Replace(ctx, t); err != nil {
		return Tenant{}, err
	}
	ts.forgetTenant(name)
	return t, nil
}

// Delete removes a runtime tenant; its key stops working at once on every
// replica that reads the same backend (one that cannot reach it keeps
// serving the keys it knew, see staleAuth).
func (ts *Tenants) Delete(ctx context.Context, name string) error {
	if _, ok := ts.staticByName(name); ok {
		return fmt.Errorf("tenant %q: %w", name, ErrReadOnly)
	}
	if ts.backend == nil {
		return fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	if err := ts.backend.Delete(ctx, name); err != nil {
		return err
	}
	ts.forgetTenant(name)
	return nil
}

// Authenticate returns the tenant owning key, or ErrUnauthorized. Keys are
// compared by hash in constant time; the key itself appears in no error.
func (ts *Tenants) Authenticate(ctx context.Context, key string) (Tenant, error) {
	if key == "" || len(key) > 512 {
		return Tenant{}, ErrUnauthorized
	}
	h := HashKey(key)
	hb := []byte(h)
	// Visit every static record so the time taken does not reveal which
	// (or whether one) matched.
	found := -1
	for i, r := range ts.static {
		if subtle.ConstantTimeCompare(hb, []byte(r.KeyHash)) == 1 {
			found = i
		}
	}
	if found >= 0 {
		return ts.static[found].Tenant, nil
	}
	if ts.backend == nil {
		return Tenant{}, ErrUnauthorized
	}
	if ts.store.use() {
		r, err := ts.backend.ByKeyHash(ctx, h)
		switch {
		case errors.Is(err, ErrNotFound):
			ts.forget(h)
			return Tenant{}, ErrUnauthorized
		case err == nil:
			// The backend found it by an index lookup on the hash; confirm
			// in constant time so a backend bug cannot let a near-match
			// through.
			if subtle.ConstantTimeCompare(hb, []byte(r.KeyHash)) != 1 {
				return Tenant{}, ErrUnauthorized
			}
			if _, shadowed := ts.staticByName(r.Tenant.Name); shadowed {
				ts.forget(h)
				return Tenant{}, ErrUnauthorized
			}
			ts.mu.Lock()
			ts.known[h] = knownKey{r.Tenant, ts.now()}
			ts.mu.Unlock()
			return r.Tenant, nil
		case ctx.Err() != nil:
			return Tenant{}, fmt.Errorf("policies: authenticating: %w", ctx.Err())
		case !errs.Is(err, errs.Unavailable) && !errors.Is(err, context.DeadlineExceeded):
			return Tenant{}, fmt.Errorf("policies: authenticating: %w", err)
		default:
			ts.store.fail(err)
		}
	}
	// The backend is out of reach: the keys it accepted lately still work.
	ts.mu.Lock()
	k, ok := ts.known[h]
	ts.mu.Unlock()
	if ok && ts.now().Sub(k.at) <= staleAuth {
		return k.tenant, nil
	}
	return Tenant{}, errs.E(errs.Unavailable, "The tenant store is unreachable and this key was not seen recently; retry later.")
}

func (ts *Tenants) forget(h string) {
	ts.mu.Lock()
	if len(ts.known) > 0 {
		delete(ts.known, h)
	}
	ts.mu.Unlock()
}

// forgetTenant drops the last known answers for the tenant name, changed
// or deleted here: no stale copy of it may be served.
func (ts *Tenants) forgetTenant(name string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for h, k := range ts.known {
		if k.tenant.Name == name {
			delete(ts.known, h)
		}
	}
}

// NoAuth is the tenant store for auth mode "none": every caller, with or
// without a key, is the unrestricted DefaultTenant.
type NoAuth struct{}

// Create fails: there are no tenants to manage without authentication.
func (NoAuth) Create(context.Context, Tenant) (Tenant, string, error) {
	return Tenant{}, "", fmt.Errorf("%w: authentication is off", ErrReadOnly)
}

// Get returns DefaultTenant for its name.
func (NoAuth) Get(_ context.Context, name string) (Tenant, error) {
	if name == DefaultTenantName {
		return DefaultTenant(), nil
	}
	return Tenant{}, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
}

// List returns DefaultTenant.
func (NoAuth) List(context.Context) ([]Tenant, error) { return []Tenant{DefaultTenant()}, nil }

// Update fails.
func (NoAuth) Update(context.Context, string, Tenant) (Tenant, error) {
	return Tenant{}, fmt.Errorf("%w: authentication is off", ErrReadOnly)
}

// Delete fails.
func (NoAuth) Delete(context.Context, string) error {
	return fmt.Errorf("%w: authentication is off", ErrReadOnly)
}

// Authenticate returns DefaultTenant whatever the key.
func (NoAuth) Authenticate(context.Context, string) (Tenant, error) { return DefaultTenant(), nil }
