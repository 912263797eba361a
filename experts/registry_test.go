package experts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moegate/moegate/internal/testdb"
)

// fixed is a tiny Expert that answers with its name; the registry tests
// only need identity.
type fixed struct{ name string }

func (f *fixed) Complete(ctx context.Context, req *Request) (*Response, error) {
	return &Response{Content: f.name, FinishReason: "stop"}, nil
}

func (f *fixed) Stream(ctx context.Context, req *Request, onDelta func(Delta) error) (*Response, error) {
	if err := onDelta(Delta{Content: f.name}); err != nil {
		return nil, err
	}
	return f.Complete(ctx, req)
}

// testFactory builds fixed experts, failing for specs whose description
// is "fail-build", and counts builds.
type testFactory struct{ builds atomic.Int32 }

func (tf *testFactory) build(ctx context.Context, s Spec) (Expert, error) {
	tf.builds.Add(1)
	if s.Description == "fail-build" {
		return nil, errors.New("cannot build")
	}
	return &fixed{name: s.Name + ":" + s.Description}, nil
}

// storeKinds opens each kind of store; open may be called again to get a
// fresh handle on the same underlying data (a reopen).
var storeKinds = []struct {
	name  string
	setup func(t *testing.T) (open func() SpecStore)
}{
	{"file", func(t *testing.T) func() SpecStore {
		path := filepath.Join(t.TempDir(), "experts.json")
		return func() SpecStore { return NewFileStore(path) }
	}},
	{"postgres", func(t *testing.T) func() SpecStore {
		schema := pgSchema(t)
		return func() SpecStore {
			st, err := NewPostgresStore(context.Background(), pgPool(t, schema))
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	}},
}

// pgSchema creates a schema for one test and drops it afterwards.
func pgSchema(t *testing.T) string {
	t.Helper()
	schema := testdb.Schema(t)
	if _, err := testdb.Pool(t, "public").Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	return schema
}

// pgPool returns a pool whose tables live in schema.
func pgPool(t *testing.T, schema string) *pgxpool.Pool {
	t.Helper()
	return testdb.Pool(t, schema)
}

func specJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func localSpec(name, desc string) Spec { return Spec{Name: name, Kind: KindLocal, Description: desc} }

func TestRegistryLifecycle(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			ctx := context.Background()
			open := sk.setup(t)
			tf := &testFactory{}
			r := NewRegistry(open(), Factory(tf.build), nil)
			if err := r.Load(ctx); err != nil {
				t.Fatal(err)
			}
			changes := r.Subscribe()

			b, err := r.Add(ctx, localSpec("travel", "v1"))
			if err != nil {
				t.Fatal(err)
			}
			if b.CreatedAt.IsZero() || !b.CreatedAt.Equal(b.UpdatedAt) || !b.IsEnabled() {
				t.Fatalf("added spec %+v", b)
			}
			if _, err := r.Add(ctx, Spec{Name: "banking", Kind: KindOpenAI, BaseURL: "http://h", Model: "m", Description: "v1"}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-changes:
			default:
				t.Fatal("no change notification after Add")
			}
			if names := r.Snapshot().Names(); strings.Join(names, ",") != "banking,travel" {
				t.Fatalf("names %v", names)
			}
			if l := r.List(); len(l) != 2 || l[0].Name != "banking" || l[1].Name != "travel" {
				t.Fatalf("List %+v", l)
			}
			// Lookup lends the entry Get copies, each expert its own; none
			// for an unknown name.
			snap := r.Snapshot()
			for _, n := range []string{"banking", "travel"} {
				e, ok := snap.Lookup(n)
				g, _ := snap.Get(n)
				if !ok || e.Spec.Name != n || e.Spec.Description != g.Spec.Description || e.Expert != g.Expert {
					t.Fatalf("Lookup(%q) = %+v, %v; Get gives %+v", n, e, ok, g)
				}
			}
			if e, ok := snap.Lookup("nope"); ok || e != nil {
				t.Fatalf("Lookup of an unknown name: %+v, %v", e, ok)
			}

			before := r.Snapshot()
			old, _ := before.Get("travel")
			time.Sleep(2 * time.Millisecond)
			up, err := r.Update(ctx, "travel", localSpec("", "v2"))
			if err != nil {
				t.Fatal(err)
			}
			if !up.CreatedAt.Equal(b.CreatedAt) || !up.UpdatedAt.After(b.UpdatedAt) || up.Description != "v2" {
				t.Fatalf("updated spec %+v (created %v)", up, b.CreatedAt)
			}
			cur, _ := r.Get("travel")
			if cur.Expert == old.Expert {
				t.Fatal("Update did not rebuild the expert")
			}
			// A request holding the old snapshot still sees (and can use) the old expert.
			if e, _ := before.Get("travel"); e.Spec.Description != "v1" {
				t.Fatalf("old snapshot changed: %+v", e.Spec)
			}
			if resp, err := old.Expert.Complete(ctx, &Request{}); err != nil || resp.Content != "travel:v1" {
				t.Fatalf("old expert: %v %v", resp, err)
			}

			if err := r.Remove(ctx, "banking"); err != nil {
				t.Fatal(err)
			}
			if _, ok := r.Get("banking"); ok {
				t.Fatal("removed expert still listed")
			}
			if _, ok := before.Get("banking"); !ok {
				t.Fatal("old snapshot lost the removed expert")
			}

			// Reopen: a new registry on the same data sees the same specs.
			r2 := NewRegistry(open(), Factory(tf.build), nil)
			if err := r2.Load(ctx); err != nil {
				t.Fatal(err)
			}
			if got, want := specJSON(t, r2.List()), specJSON(t, r.List()); got != want {
				t.Fatalf("after reopen\n got %s\nwant %s", got, want)
			}
			if e, _ := r2.Get("travel"); !e.Ready() {
				t.Fatal("reloaded expert is not ready")
			}
		})
	}
}

func TestRegistryErrors(t *testing.T) {
	ctx := context.Background()
	r := NewRegistry(NewFileStore(filepath.Join(t.TempDir(), "e.json")), Factory((&testFactory{}).build), nil)
	if _, err := r.Add(ctx, localSpec("a", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(ctx, "missing", localSpec("", "")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update unknown: %v", err)
	}
	if _, err := r.Update(ctx, "a", localSpec("b", "")); !errors.Is(err, ErrInvalid) {
		t.Errorf("Update with another name: %v", err)
	}
	if err := r.Remove(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove unknown: %v", err)
	}
	if _, err := r.Add(ctx, localSpec("auto", "")); !errors.Is(err, ErrInvalid) {
		t.Errorf("Add reserved: %v", err)
	}
}

func TestRegistryFailedChangesLeaveStateUnchanged(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			ctx := context.Background()
			open := sk.setup(t)
			store := open()
			r := NewRegistry(store, Factory((&testFactory{}).build), nil)
			if _, err := r.Add(ctx, localSpec("a", "v1")); err != nil {
				t.Fatal(err)
			}
			stored := func() string {
				specs, err := open().Load(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return specJSON(t, specs)
			}
			wantStore, wantList, wantVersion := stored(), specJSON(t, r.List()), r.Snapshot().Version()
			changes := r.Subscribe()

			failures := []struct {
				name string
				op   func() error
				is   error
			}{
				{"add invalid", func() error { _, err := r.Add(ctx, Spec{Name: "Bad Name", Kind: KindLocal}); return err }, ErrInvalid},
				{"add duplicate", func() error { _, err := r.Add(ctx, localSpec("a", "v2")); return err }, ErrExists},
				{"add factory error", func() error { _, err := r.Add(ctx, localSpec("b", "fail-build")); return err }, nil},
				{"update factory error", func() error { _, err := r.Update(ctx, "a", localSpec("a", "fail-build")); return err }, nil},
				{"update invalid", func() error { _, err := r.Update(ctx, "a", Spec{Kind: ""}); return err }, ErrInvalid},
			}
			for _, f := range failures {
				err := f.op()
				if err == nil || (f.is != nil && !errors.Is(err, f.is)) {
					t.Fatalf("%s: err = %v, want %v", f.name, err, f.is)
				}
				if got := specJSON(t, r.List()); got != wantList {
					t.Fatalf("%s changed the registry: %s", f.name, got)
				}
				if got := stored(); got != wantStore {
					t.Fatalf("%s changed the store: %s", f.name, got)
				}
				if r.Snapshot().Version() != wantVersion {
					t.Fatalf("%s published a snapshot", f.name)
				}
			}
			select {
			case <-changes:
				t.Fatal("failed changes sent a notification")
			default:
			}
		})
	}
}

func TestRegistryStoreWriteError(t *testing.T) {
	ctx := context.Background()
	// A store whose directory does not exist: reads find nothing, writes fail.
	r := NewRegistry(NewFileStore(filepath.Join(t.TempDir(), "missing", "e.json")), Factory((&testFactory{}).build), nil)
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Add(ctx, localSpec("a", "")); err == nil {
		t.Fatal("Add succeeded with an unwritable store")
	}
	if r.Snapshot().Len() != 0 {
		t.Fatal("failed Add left an entry")
	}

	// A read-only directory (only meaningful when not root: root ignores modes).
	dir := t.TempDir()
	path := filepath.Join(dir, "e.json")
	r = NewRegistry(NewFileStore(path), Factory((&testFactory{}).build), nil)
	if _, err := r.Add(ctx, localSpec("a", "v1")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	_, addErr := r.Add(ctx, localSpec("b", ""))
	_, updErr := r.Update(ctx, "a", localSpec("a", "v2"))
	rmErr := r.Remove(ctx, "a")
	if os.Geteuid() != 0 && (addErr == nil || updErr == nil || rmErr == nil) {
		t.Fatalf("writes to a read-only directory succeeded: %v %v %v", addErr, updErr, rmErr)
	}
	if addErr != nil || updErr != nil || rmErr != nil {
		after, _ := os.ReadFile(path)
		if string(after) != string(before) {
			t.Fatalf("file changed by failed writes:\n%s", after)
		}
		if e, ok := r.Get("a"); !ok || e.Spec.Description != "v1" {
			t.Fatalf("registry changed by failed writes: %+v", e)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("temporary files left behind: %v", entries)
		}
	}
}

func TestRegistryDisabledSpecIsNotBuilt(t *testing.T) {
	ctx := context.Background()
	tf := &testFactory{}
	r := NewRegistry(NewFileStore(filepath.Join(t.TempDir(), "e.json")), Factory(tf.build), nil)
	off := false
	s := localSpec("quiet", "")
	s.Enabled = &off
	if _, err := r.Add(ctx, s); err != nil {
		t.Fatal(err)
	}
	e, _ := r.Get("quiet")
	if e.Expert != nil || e.Ready() || tf.builds.Load() != 0 {
		t.Fatalf("disabled expert was built: %+v", e)
	}
	if len(r.Snapshot().Ready()) != 0 {
		t.Fatal("disabled expert is ready")
	}
	s.Enabled = nil
	if _, err := r.Update(ctx, "quiet", s); err != nil {
		t.Fatal(err)
	}
	if e, _ := r.Get("quiet"); !e.Ready() {
		t.Fatal("re-enabled expert is not ready")
	}
}

func TestRegistryLoadKeepsBrokenExperts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "e.json")
	st := NewFileStore(path)
	for _, s := range []Spec{localSpec("good", ""), localSpec("broken", "fail-build"), {Name: "Invalid!", Kind: KindLocal}} {
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	r := NewRegistry(st, Factory((&testFactory{}).build), nil)
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	snap := r.Snapshot()
	if snap.Len() != 3 {
		t.Fatalf("%d entries, want 3", snap.Len())
	}
	if e, _ := snap.Get("good"); !e.Ready() || e.Err != nil {
		t.Fatalf("good: %+v", e)
	}
	for _, name := range []string{"broken", "Invalid!"} {
		if e, _ := snap.Get(name); e.Ready() || e.Err == nil {
			t.Fatalf("%s: %+v, want kept with Err and no traffic", name, e)
		}
	}
	if ready := snap.Ready(); len(ready) != 1 || ready[0].Spec.Name != "good" {
		t.Fatalf("Ready %+v", ready)
	}
}

func TestRegistrySeed(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			ctx := context.Background()
			open := sk.setup(t)
			r := NewRegistry(open(), Factory((&testFactory{}).build), nil)
			if err := r.Load(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.Seed(ctx, []Spec{localSpec("a", "cfg"), {Name: "BAD", Kind: KindLocal}}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("invalid seed: %v", err)
			}
			if r.Snapshot().Len() != 0 {
				t.Fatal("invalid seed changed the registry")
			}
			if err := r.Seed(ctx, []Spec{localSpec("a", "cfg"), localSpec("b", "cfg")}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Update(ctx, "a", localSpec("a", "edited")); err != nil {
				t.Fatal(err)
			}
			// Restart: the config is seeded again, but the admin's edit wins.
			r2 := NewRegistry(open(), Factory((&testFactory{}).build), nil)
			if err := r2.Load(ctx); err != nil {
				t.Fatal(err)
			}
			err := r2.Seed(ctx, []Spec{localSpec("a", "cfg"), localSpec("b", "cfg"), localSpec("c", "fail-build")})
			if err == nil {
				t.Fatal("seeding an expert that fails to build returned no error")
			}
			if e, _ := r2.Get("a"); e.Spec.Description != "edited" {
				t.Fatalf("seed overwrote an edited expert: %+v", e.Spec)
			}
			if e, ok := r2.Get("c"); !ok || e.Ready() || e.Err == nil {
				t.Fatalf("c: %+v", e)
			}
			if n := r2.Snapshot().Len(); n != 3 {
				t.Fatalf("%d experts, want 3", n)
			}
		})
	}
}

func TestRegistryRefreshAcrossReplicas(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			ctx := context.Background()
			open := sk.setup(t)
			tf := &testFactory{}
			r1 := NewRegistry(open(), Factory(tf.build), nil)
			r2 := NewRegistry(open(), Factory(tf.build), nil)
			if _, err := r1.Add(ctx, localSpec("a", "v1")); err != nil {
				t.Fatal(err)
			}
			if _, err := r1.Add(ctx, localSpec("b", "v1")); err != nil {
				t.Fatal(err)
			}
			changes := r2.Subscribe()
			if err := r2.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			<-changes
			a1, _ := r2.Get("a")
			// Replica 2 adding a name replica 1 already stored is a conflict.
			if _, err := NewRegistry(open(), Factory(tf.build), nil).Add(ctx, localSpec("a", "v9")); !errors.Is(err, ErrExists) {
				t.Fatalf("duplicate across replicas: %v", err)
			}
			if _, err := r1.Update(ctx, "b", localSpec("b", "v2")); err != nil {
				t.Fatal(err)
			}
			if err := r1.Remove(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if _, err := r1.Add(ctx, localSpec("c", "v1")); err != nil {
				t.Fatal(err)
			}
			builds := tf.builds.Load()
			if err := r2.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			<-changes
			if got, want := specJSON(t, r2.List()), specJSON(t, r1.List()); got != want {
				t.Fatalf("replica 2\n got %s\nwant %s", got, want)
			}
			if n := tf.builds.Load() - builds; n != 2 {
				t.Fatalf("refresh built %d experts, want 2 (changed b, new c)", n)
			}
			// Nothing changed: no rebuild, no notification, same expert objects.
			c1, _ := r2.Get("c")
			if err := r2.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-changes:
				t.Fatal("notification without a change")
			default:
			}
			if c2, _ := r2.Get("c"); c2.Expert != c1.Expert {
				t.Fatal("unchanged expert was rebuilt")
			}
			if a1.Expert == nil {
				t.Fatal("replica 2 never saw a")
			}
			// A replica removing an expert another replica already removed succeeds.
			r3 := NewRegistry(open(), Factory(tf.build), nil)
			if err := r3.Load(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r1.Remove(ctx, "c"); err != nil {
				t.Fatal(err)
			}
			if err := r3.Remove(ctx, "c"); err != nil {
				t.Fatalf("remove of an already removed expert: %v", err)
			}
		})
	}
}

func TestRegistryRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "e.json")
	r1 := NewRegistry(NewFileStore(path), Factory((&testFactory{}).build), nil)
	r2 := NewRegistry(NewFileStore(path), Factory((&testFactory{}).build), nil)
	changes := r2.Subscribe()
	done := make(chan struct{})
	go func() { r2.Run(ctx, 10*time.Millisecond); close(done) }()
	if _, err := r1.Add(ctx, localSpec("a", "")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(2 * time.Second):
		t.Fatal("periodic refresh did not pick up the change")
	}
	if _, ok := r2.Get("a"); !ok {
		t.Fatal("a missing after refresh")
	}
	cancel()
	<-done
}

func TestRegistryConcurrent(t *testing.T) {
	ctx := context.Background()
	r := NewRegistry(NewFileStore(filepath.Join(t.TempDir(), "e.json")), Factory((&testFactory{}).build), nil)
	changes := r.Subscribe()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				name := fmt.Sprintf("e%d", i%5)
				switch (w + i) % 3 {
				case 0:
					r.Add(ctx, localSpec(name, fmt.Sprint(w)))
				case 1:
					r.Update(ctx, name, localSpec(name, fmt.Sprint(i)))
				case 2:
					r.Remove(ctx, name)
				}
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for w := 0; w < 4; w++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				case <-changes:
				default:
				}
				snap := r.Snapshot()
				for _, e := range snap.Entries() {
					if got, ok := snap.Get(e.Spec.Name); !ok || got.Spec.Name != e.Spec.Name {
						t.Error("snapshot is inconsistent")
						return
					}
					if e.Ready() {
						e.Expert.Complete(ctx, &Request{})
					}
				}
				r.List()
				r.Get("e1")
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	// The store and the registry agree after the storm.
	specs, err := NewFileStore(filepath.Join(filepath.Dir(r.store.(*FileStore).Path()), "e.json")).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := specJSON(t, specs), specJSON(t, r.List()); got != want && !(len(specs) == 0 && len(r.List()) == 0) {
		t.Fatalf("store %s\nregistry %s", got, want)
	}
}
