package experts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SpecStore persists expert specs. Each method is atomic: after an error
// the stored set is unchanged.
type SpecStore interface {
	// Load returns every stored spec.
	Load(ctx context.Context) ([]Spec, error)
	// Create stores a new spec; ErrExists if the name is taken.
	Create(ctx context.Context, s Spec) error
	// Put stores s, replacing any spec of the same name.
	Put(ctx context.Context, s Spec) error
	// Delete removes the named spec; ErrNotFound if absent.
	Delete(ctx context.Context, name string) error
}

// Entry is one registered expert.
type Entry struct {
	Spec Spec
	// Expert is nil when the spec is disabled or failed to build.
	Expert Expert
	// Err says why the expert failed to build (only after Load, Seed or
	// Refresh; Add and Update refuse specs that fail to build).
	Err error
}

// Ready reports whether the entry can take traffic.
func (e Entry) Ready() bool { return e.Expert != nil && e.Spec.IsEnabled() }

// Snapshot is an immutable view of the registry. A request holds one for
// its whole life, so experts removed or replaced meanwhile keep serving it.
type Snapshot struct {
	version uint64
	entries map[string]*Entry // read only: Lookup lends them
	names   []string          // sorted
}

// Version increases with every change to the registry.
func (s *Snapshot) Version() uint64 { return s.version }

// Get returns the named entry.
func (s *Snapshot) Get(name string) (Entry, bool) {
	if e, ok := s.entries[name]; ok {
		return *e, true
	}
	return Entry{}, false
}

// Lookup returns the named entry without copying it (a Spec is a few
// hundred bytes, and the pipeline looks up every candidate expert per
// request). It must not be changed: snapshots are shared.
func (s *Snapshot) Lookup(name string) (*Entry, bool) {
	e, ok := s.entries[name]
	return e, ok
}

// Names returns all expert names, sorted.
func (s *Snapshot) Names() []string { return slices.Clone(s.names) }

// Entries returns all entries sorted by name.
func (s *Snapshot) Entries() []Entry {
	out := make([]Entry, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, *s.entries[n])
	}
	return out
}

// Ready returns the entries that can take traffic, sorted by name.
func (s *Snapshot) Ready() []Entry {
	var out []Entry
	for _, n := range s.names {
		if e := s.entries[n]; e.Ready() {
			out = append(out, *e)
		}
	}
	return out
}

// Len returns the number of registered experts.
func (s *Snapshot) Len() int { return len(s.names) }

// Registry holds the experts the gateway can route to. It can change at run
// time; every change is validated, built and persisted before it becomes
// visible, and a failed change leaves both the registry and its store as
// they were.
//
// Readers never block: they load the current Snapshot atomically. Writers
// are serialised. The registry never closes an Expert it drops: requests
// holding an older Snapshot may still be using it, and the Factory (which
// made it) owns its resources.
type Registry struct {
	store   SpecStore
	builder Builder
	log     *slog.Logger
	now     func() time.Time
	env     EnvPolicy
	getenv  func(string) string

	mu  sync.Mutex // serialises writers
	cur atomic.Pointer[Snapshot]

	subMu sync.Mutex
	subs  []chan struct{}
}

// NewRegistry returns an empty registry backed by store. Call Load to fill
// it from the store. A nil logger discards logs.
func NewRegistry(store SpecStore, builder Builder, logger *slog.Logger) *Registry {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{store: store, builder: builder, log: logger, now: time.Now, getenv: os.Getenv}
	r.cur.Store(&Snapshot{entries: map[string]*Entry{}})
	return r
}

// SetEnvPolicy restricts the environment variables specs may name for
// their secrets (beyond the default, which refuses MOEGATE_*). Call it
// before Load.
func (r *Registry) SetEnvPolicy(p EnvPolicy) { r.env = p }

// Snapshot returns the current immutable view.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Get returns the named entry from the current snapshot.
func (r *Registry) Get(name string) (Entry, bool) { return r.Snapshot().Get(name) }

// List returns copies of all specs, sorted by name.
func (r *Registry) List() []Spec {
	snap := r.Snapshot()
	out := make([]Spec, 0, snap.Len())
	for _, n := range snap.names {
		out = append(out, snap.entries[n].Spec.Clone())
	}
	return out
}

// Subscribe returns a channel that receives a value after each change to
// the registry. Notifications coalesce: a slow reader sees at least one
// value after the last change, not one per change. The channel lives as
// long as the registry.
func (r *Registry) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	r.subMu.Lock()
	r.subs = append(r.subs, ch)
	r.subMu.Unlock()
	return ch
}

func (r *Registry) notify() {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for _, ch := range r.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// publish installs a new snapshot built from entries. Callers hold r.mu.
func (r *Registry) publish(entries map[string]Entry) {
	names := make([]string, 0, len(entries))
	refs := make(map[string]*Entry, len(entries))
	for n, e := range entries {
		names = append(names, n)
		refs[n] = &e
	}
	slices.Sort(names)
	r.cur.Store(&Snapshot{version: r.cur.Load().version + 1, entries: refs, names: names})
	r.notify()
}

// withEntries returns a copy of the current entries. Callers hold r.mu.
func (r *Registry) withEntries() map[string]Entry {
	old := r.cur.Load().entries
	m := make(map[string]Entry, len(old)+1)
	for k, v := range old {
		m[k] = *v
	}
	return m
}

// build makes the expert for s, or nil for a disabled spec.
func (r *Registry) build(ctx context.Context, s Spec) (Expert, error) {
	if !s.IsEnabled() {
		return nil, nil
	}
	// Specs loaded from the store went through no check of this gateway's
	// policy: a secret it forbids is never read.
	if err := r.env.Check(s); err != nil {
		return nil, fmt.Errorf("build expert %q: %w", s.Name, err)
	}
	bs, err := s.ResolveEnv(r.getenv)
	if err != nil {
		return nil, fmt.Errorf("build expert %q: %w", s.Name, err)
	}
	e, err := r.builder.Build(ctx, bs.Clone())
	if err != nil {
		return nil, fmt.Errorf("build expert %q: %w", s.Name, err)
	}
	if e == nil {
		return nil, fmt.Errorf("build expert %q: factory returned no expert", s.Name)
	}
	return e, nil
}

// prepare normalizes and checks s: the fields every expert has, then its
// kind's own.
func (r *Registry) prepare(s Spec) (Spec, error) {
	s = s.Clone()
	s.Normalize()
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	if err := r.env.Check(s); err != nil {
		return Spec{}, err
	}
	if hs := CredentialHeaders(s); len(hs) > 0 {
		// Accepted, for existing configurations, but stored as given: say so.
		r.log.Warn("expert headers carry credentials in plain text; name their environment variables in headers_env instead", "expert", s.Name, "headers", hs)
	}
	if err := r.builder.Check(s); err != nil {
		return Spec{}, err
	}
	return s, nil
}

func (r *Registry) stamp() time.Time { return r.now().UTC().Round(0).Truncate(time.Microsecond) }

// Add validates s, builds its expert, stores it and makes it visible, in
// that order. Errors: ErrInvalid (bad spec, or the factory says so),
// ErrExists, or a build or store failure; after any error the registry and
// the store are unchanged.
func (r *Registry) Add(ctx context.Context, s Spec) (Spec, error) {
	s, err := r.prepare(s)
	if err != nil {
		return Spec{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cur.Load().entries[s.Name]; ok {
		return Spec{}, fmt.Errorf("%w: %q", ErrExists, s.Name)
	}
	s.CreatedAt = r.stamp()
	s.UpdatedAt = s.CreatedAt
	e, err := r.build(ctx, s)
	if err != nil {
		return Spec{}, err
	}
	if err := r.store.Create(ctx, s); err != nil {
		if errors.Is(err, ErrExists) {
			return Spec{}, fmt.Errorf("%w: %q (in store)", ErrExists, s.Name)
		}
		return Spec{}, fmt.Errorf("store expert %q: %w", s.Name, err)
	}
	m := r.withEntries()
	m[s.Name] = Entry{Spec: s, Expert: e}
	r.publish(m)
	r.log.Info("expert added", "expert", s.Name, "kind", s.Kind)
	return s.Clone(), nil
}

// Update replaces the named expert's spec. The name in s must be empty or
// equal name. CreatedAt is kept. Errors and atomicity as for Add, with
// ErrNotFound for an unknown name.
func (r *Registry) Update(ctx context.Context, name string, s Spec) (Spec, error) {
	if s.Name == "" {
		s.Name = name
	}
	if s.Name != name {
		return Spec{}, invalid("name", "%q does not match %q", s.Name, name)
	}
	s, err := r.prepare(s)
	if err != nil {
		return Spec{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.cur.Load().entries[s.Name]
	if !ok {
		return Spec{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	s.CreatedAt = old.Spec.CreatedAt
	s.UpdatedAt = r.stamp()
	e, err := r.build(ctx, s)
	if err != nil {
		return Spec{}, err
	}
	if err := r.store.Put(ctx, s); err != nil {
		return Spec{}, fmt.Errorf("store expert %q: %w", s.Name, err)
	}
	m := r.withEntries()
	m[s.Name] = Entry{Spec: s, Expert: e}
	r.publish(m)
	r.log.Info("expert updated", "expert", s.Name, "kind", s.Kind)
	return s.Clone(), nil
}

// Remove deletes the named expert from the store and the registry.
// Requests already holding a Snapshot keep using it.
func (r *Registry) Remove(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cur.Load().entries[name]; !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	// ErrNotFound from the store means another replica removed it first;
	// dropping it here too is what the caller asked for.
	if err := r.store.Delete(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete expert %q: %w", name, err)
	}
	m := r.withEntries()
	delete(m, name)
	r.publish(m)
	r.log.Info("expert removed", "expert", name)
	return nil
}

// Load replaces the registry's contents with the store's. It is Refresh
// under the name used at start-up.
func (r *Registry) Load(ctx context.Context) error { return r.Refresh(ctx) }

// Refresh reloads specs from the store, so changes made by other replicas
// become visible. Experts whose spec is unchanged keep their Expert;
// changed ones are rebuilt. A spec that fails to build (or to validate)
// stays listed with Entry.Err set and takes no traffic; the failure is
// logged. Subscribers are notified only when something changed.
func (r *Registry) Refresh(ctx context.Context) error {
	// Load under the lock: a change committed between an unlocked load and
	// the publish would otherwise vanish until the next refresh.
	r.mu.Lock()
	defer r.mu.Unlock()
	specs, err := r.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("load experts: %w", err)
	}
	old := r.cur.Load().entries
	next := make(map[string]Entry, len(specs))
	changed := false
	for _, s := range specs {
		if prev, ok := old[s.Name]; ok && sameSpec(prev.Spec, s) {
			next[s.Name] = *prev
			continue
		}
		changed = true
		next[s.Name] = r.entryFor(ctx, s)
	}
	for n := range old {
		if _, ok := next[n]; !ok {
			changed = true
		}
	}
	if changed {
		r.publish(next)
	}
	return nil
}

// entryFor builds the entry for a stored spec, keeping failures visible.
func (r *Registry) entryFor(ctx context.Context, s Spec) Entry {
	p, err := r.prepare(s)
	if err != nil {
		s.Normalize()
		r.log.Error("stored expert is invalid; keeping it without traffic", "expert", s.Name, "err", err)
		return Entry{Spec: s, Err: err}
	}
	e, err := r.build(ctx, p)
	if err != nil {
		r.log.Error("expert failed to build; keeping it without traffic", "expert", p.Name, "err", err)
	}
	return Entry{Spec: p, Expert: e, Err: err}
}

func sameSpec(a, b Spec) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// Seed adds config-defined experts that the store does not hold yet; specs
// already registered (perhaps edited through the admin API) win. All specs
// are validated first and an invalid one fails the whole call with nothing
// changed. A spec that validates but fails to build is still stored and
// listed with Entry.Err set; Seed then returns the joined build errors
// after registering everything it could.
func (r *Registry) Seed(ctx context.Context, specs []Spec) error {
	prepared := make([]Spec, 0, len(specs))
	seen := map[string]bool{}
	for _, s := range specs {
		p, err := r.prepare(s)
		if err != nil {
			return fmt.Errorf("seed expert %q: %w", s.Name, err)
		}
		if seen[p.Name] {
			return fmt.Errorf("seed expert %q: %w: listed twice", p.Name, ErrInvalid)
		}
		seen[p.Name] = true
		prepared = append(prepared, p)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	m := r.withEntries()
	added := 0
	for _, s := range prepared {
		if _, ok := m[s.Name]; ok {
			continue
		}
		s.CreatedAt = r.stamp()
		s.UpdatedAt = s.CreatedAt
		if err := r.store.Create(ctx, s); err != nil {
			if errors.Is(err, ErrExists) {
				continue // another replica seeded it; Refresh will pick it up
			}
			errs = append(errs, fmt.Errorf("store expert %q: %w", s.Name, err))
			continue
		}
		e, err := r.build(ctx, s)
		if err != nil {
			r.log.Error("seeded expert failed to build; keeping it without traffic", "expert", s.Name, "err", err)
			errs = append(errs, err)
		}
		m[s.Name] = Entry{Spec: s, Expert: e, Err: err}
		added++
	}
	if added > 0 {
		r.publish(m)
		r.log.Info("experts seeded", "added", added)
	}
	return errors.Join(errs...)
}

// Run calls Refresh every interval until ctx ends, logging failures. It is
// for deployments where several replicas share one store.
func (r *Registry) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("expert registry refresh failed", "err", err)
			}
		}
	}
}
