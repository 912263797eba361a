package requestlog

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moegate/moegate/internal/testdb"
)

// opener returns two Logs over the same storage, as two replicas would
// have, keeping records for ttl.
type opener func(t *testing.T, ttl time.Duration) (a, b Log)

var kinds = []struct {
	name string
	open opener
}{
	{"memory", func(t *testing.T, ttl time.Duration) (Log, Log) {
		m := NewMemory(100, ttl)
		return m, m // one process: both "replicas" share it
	}},
	{"redis", func(t *testing.T, ttl time.Duration) (Log, Log) {
		rdb, prefix := testdb.Redis(t)
		rdb2, _ := testdb.Redis(t)
		return NewRedis(rdb, prefix, ttl), NewRedis(rdb2, prefix, ttl)
	}},
	{"postgres", func(t *testing.T, ttl time.Duration) (Log, Log) {
		schema := testdb.Schema(t)
		ctx := context.Background()
		if _, err := testdb.Pool(t, "public").Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
		a, err := NewPostgres(ctx, testdb.Pool(t, schema), ttl)
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewPostgres(ctx, testdb.Pool(t, schema), ttl)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}},
	{"guarded redis", func(t *testing.T, ttl time.Duration) (Log, Log) {
		rdb, prefix := testdb.Redis(t)
		rdb2, _ := testdb.Redis(t)
		return NewGuarded(NewRedis(rdb, prefix, ttl), time.Second, time.Second), NewGuarded(NewRedis(rdb2, prefix, ttl), time.Second, time.Second)
	}},
}

func TestContract(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Run("CrossReplica", func(t *testing.T) { testCrossReplica(t, k.open) })
			t.Run("TenantIsolation", func(t *testing.T) { testTenantIsolation(t, k.open) })
			t.Run("Replace", func(t *testing.T) { testReplace(t, k.open) })
			t.Run("Invalid", func(t *testing.T) { testInvalid(t, k.open) })
			t.Run("Expiry", func(t *testing.T) { testExpiry(t, k.open) })
			t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, k.open) })
		})
	}
}

func mustPut(t *testing.T, l Log, r Record) {
	t.Helper()
	if err := l.Put(context.Background(), r); err != nil {
		t.Fatalf("Put(%+v): %v", r, err)
	}
}

func wantRecord(t *testing.T, l Log, tenant, id string, want Record) {
	t.Helper()
	got, err := l.Get(context.Background(), tenant, id)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", tenant, id, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get(%q, %q) = %+v, want %+v", tenant, id, got, want)
	}
}

func wantNotFound(t *testing.T, l Log, tenant, id string) {
	t.Helper()
	r, err := l.Get(context.Background(), tenant, id)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(%q, %q) = %+v, %v; want ErrNotFound", tenant, id, r, err)
	}
}

func testCrossReplica(t *testing.T, open opener) {
	a, b := open(t, time.Hour)
	// Microseconds: Postgres keeps no finer time.
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	r := Record{RequestID: "req-1", TenantID: "acme", Query: "what is the refund policy?",
		History: []string{"hello", "I bought a kettle"}, Experts: []string{"support", "legal"}, Time: at}
	mustPut(t, a, r)
	wantRecord(t, b, "acme", "req-1", r)
	wantNotFound(t, b, "acme", "req-2")

	// No time: the time of Put; no history or experts: nil.
	before := time.Now().Add(-time.Second)
	mustPut(t, b, Record{RequestID: "req-2", TenantID: "acme", Query: "q"})
	got, err := a.Get(context.Background(), "acme", "req-2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Time.Before(before) || got.Time.After(time.Now().Add(time.Second)) || got.Time.Location() != time.UTC {
		t.Errorf("filled-in time %v, want about now in UTC", got.Time)
	}
	if got.History != nil || got.Experts != nil || got.Query != "q" {
		t.Errorf("Get = %+v", got)
	}
}

func testTenantIsolation(t *testing.T, open opener) {
	a, b := open(t, time.Hour)
	acme := Record{RequestID: "shared-id", TenantID: "acme", Query: "acme's question", Experts: []string{"support"}, Time: time.Unix(100, 0).UTC()}
	mustPut(t, a, acme)
	wantNotFound(t, b, "globex", "shared-id")
	wantNotFound(t, b, "", "shared-id")

	// Another tenant choosing the same request id gets its own entry.
	globex := Record{RequestID: "shared-id", TenantID: "globex", Query: "globex's question", Time: time.Unix(200, 0).UTC()}
	mustPut(t, b, globex)
	wantRecord(t, a, "acme", "shared-id", acme)
	wantRecord(t, a, "globex", "shared-id", globex)

	// Separators in ids cannot make two keys meet.
	x := Record{RequestID: "c", TenantID: "a:b", Query: "x", Time: time.Unix(300, 0).UTC()}
	y := Record{RequestID: "b:c", TenantID: "a", Query: "y", Time: time.Unix(400, 0).UTC()}
	mustPut(t, a, x)
	mustPut(t, a, y)
	wantRecord(t, b, "a:b", "c", x)
	wantRecord(t, b, "a", "b:c", y)
}

func testReplace(t *testing.T, open opener) {
	a, b := open(t, time.Hour)
	mustPut(t, a, Record{RequestID: "r", TenantID: "acme", Query: "first", Experts: []string{"one"}})
	second := Record{RequestID: "r", TenantID: "acme", Query: "second", History: []string{"h"}, Time: time.Unix(500, 0).UTC()}
	mustPut(t, b, second)
	wantRecord(t, a, "acme", "r", second)
}

func testInvalid(t *testing.T, open opener) {
	a, _ := open(t, time.Hour)
	if err := a.Put(context.Background(), Record{TenantID: "acme", Query: "q"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Put without a request id: %v, want ErrInvalid", err)
	}
}

func testExpiry(t *testing.T, open opener) {
	const ttl = 400 * time.Millisecond
	a, b := open(t, ttl)
	mustPut(t, a, Record{RequestID: "old", TenantID: "acme", Query: "q"})
	if _, err := b.Get(context.Background(), "acme", "old"); err != nil {
		t.Fatalf("Get before the TTL: %v", err)
	}
	time.Sleep(ttl + 300*time.Millisecond)
	wantNotFound(t, b, "acme", "old")
	wantNotFound(t, a, "acme", "old")
}

func testConcurrent(t *testing.T, open opener) {
	a, b := open(t, time.Hour)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		for j, l := range []Log{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("r%d-%d", i, j)
				if err := l.Put(context.Background(), Record{RequestID: id, TenantID: "acme", Query: id}); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range n {
		for j, l := range []Log{b, a} { // read from the other replica
			id := fmt.Sprintf("r%d-%d", i, j)
			if r, err := l.Get(context.Background(), "acme", id); err != nil || r.Query != id {
				t.Errorf("Get(%q) = %+v, %v", id, r, err)
			}
		}
	}
}

func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(3, time.Hour)
	for i := range 5 {
		mustPut(t, m, Record{RequestID: fmt.Sprint(i), TenantID: "t", Query: fmt.Sprint(i)})
	}
	for i := range 2 {
		wantNotFound(t, m, "t", fmt.Sprint(i))
	}
	for i := 2; i < 5; i++ {
		if _, err := m.Get(ctx, "t", fmt.Sprint(i)); err != nil {
			t.Errorf("Get(%d): %v", i, err)
		}
	}
	if n := m.held(); n != 3 || len(m.slots) != 3 {
		t.Errorf("%d entries held in %d slots, want 3", n, len(m.slots))
	}
	// A record put again is the newest: the next two records evict the
	// two others.
	m = NewMemory(3, time.Hour)
	for _, id := range []string{"a", "b", "c"} {
		mustPut(t, m, Record{RequestID: id, TenantID: "t", Query: id})
	}
	mustPut(t, m, Record{RequestID: "a", TenantID: "t", Query: "a again"})
	mustPut(t, m, Record{RequestID: "d", TenantID: "t"})
	mustPut(t, m, Record{RequestID: "e", TenantID: "t"})
	wantNotFound(t, m, "t", "b")
	wantNotFound(t, m, "t", "c")
	if r, err := m.Get(ctx, "t", "a"); err != nil || r.Query != "a again" {
		t.Errorf("Get(a) = %+v, %v; want the record put again", r, err)
	}

	// Records are copies: callers cannot change what is stored.
	h := []string{"a"}
	mustPut(t, m, Record{RequestID: "c", TenantID: "t", History: h})
	h[0] = "changed"
	got, _ := m.Get(ctx, "t", "c")
	got.History = append(got.History[:0], "changed too")
	if again, _ := m.Get(ctx, "t", "c"); again.History[0] != "a" {
		t.Errorf("stored history changed to %q", again.History[0])
	}
}

func TestPostgresPurge(t *testing.T) {
	ctx := context.Background()
	schema := testdb.Schema(t)
	if _, err := testdb.Pool(t, "public").Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	pool := testdb.Pool(t, schema)
	p, err := NewPostgres(ctx, pool, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		mustPut(t, p, Record{RequestID: fmt.Sprint(i), TenantID: "t"})
	}
	time.Sleep(500 * time.Millisecond)
	// A fresh record is not purged.
	if _, err := pool.Exec(ctx, `UPDATE moegate_request_log SET expires_at = now() + interval '1 hour' WHERE request_id = '0'`); err != nil {
		t.Fatal(err)
	}
	n, err := p.Purge(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM moegate_request_log`).Scan(&left); err != nil || left != 1 {
		t.Errorf("%d rows left, %v; want 1", left, err)
	}
}

// stallingLog is a Memory log whose Puts hang, while stalled is set, until
// their context ends: a database that stopped answering.
type stallingLog struct {
	*Memory
	stalled atomic.Bool
	puts    atomic.Int32
}

func (l *stallingLog) Put(ctx context.Context, r Record) error {
	l.puts.Add(1)
	if l.stalled.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return l.Memory.Put(ctx, r)
}

// A stalled log costs one request its timeout; the next requests in the
// cooldown skip the write at once, and after it writes resume.
func TestGuardedStall(t *testing.T) {
	ctx := context.Background()
	inner := &stallingLog{Memory: NewMemory(100, time.Hour)}
	g := NewGuarded(inner, 100*time.Millisecond, 300*time.Millisecond)
	rec := func(id string) Record { return Record{RequestID: id, TenantID: "t", Query: "q"} }
	if err := g.Put(ctx, rec("a")); err != nil {
		t.Fatal(err)
	}
	inner.stalled.Store(true)
	start := time.Now()
	if err := g.Put(ctx, rec("b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put in the stall: %v, want its timeout", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond || waited > time.Second {
		t.Fatalf("put in the stall waited %s, want about 100ms", waited)
	}
	before := inner.puts.Load()
	for i := range 5 {
		if err := g.Put(ctx, rec(fmt.Sprint("c", i))); !errors.Is(err, ErrSkipped) {
			t.Fatalf("put in the cooldown: %v, want ErrSkipped", err)
		}
	}
	if inner.puts.Load() != before {
		t.Fatalf("the cooldown's puts reached the stalled log")
	}
	inner.stalled.Store(false)
	time.Sleep(350 * time.Millisecond)
	if err := g.Put(ctx, rec("d")); err != nil {
		t.Fatalf("put after the cooldown: %v", err)
	}
	if _, err := g.Get(ctx, "t", "d"); err != nil {
		t.Fatalf("get after the cooldown: %v", err)
	}
	// An invalid record is the caller's fault: it opens no cooldown.
	if err := g.Put(ctx, Record{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid record: %v", err)
	}
	if err := g.Put(ctx, rec("e")); err != nil {
		t.Fatalf("put after an invalid record: %v", err)
	}
}
