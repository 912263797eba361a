package teacher

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moegate/moegate/internal/atomicfile"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/router"
)

// Sources of labels.
const (
	SourceTeacher  = "teacher"
	SourceFeedback = "feedback"
	SourceAdmin    = "admin"
)

// Label says which expert should answer a query ("" = none: the default
// expert). Tenant is the tenant whose traffic the query came from and
// whose routing the label may move; "" is global (admin labels).
type Label struct {
	ID     string    `json:"id"`
	Tenant string    `json:"tenant,omitempty"`
	Text   string    `json:"text"`
	Expert string    `json:"expert"`
	Source string    `json:"source"`
	Time   time.Time `json:"time"`
}

// ErrNotFound reports a label id that is not stored.
var ErrNotFound = errs.New(errs.NotFound, "teacher: label not found")

// Store keeps labels for review, deletion and training.
type Store interface {
	Add(ctx context.Context, l Label) (Label, error)
	// List returns the labels of tenant ("" and all false: the global
	// ones), or every label when all is set, oldest first.
	List(ctx context.Context, tenant string, all bool) ([]Label, error)
	Delete(ctx context.Context, id string) error
}

// complete checks l and fills its id and time.
func complete(l Label) (Label, error) {
	switch {
	case l.Text == "":
		return l, errors.New("teacher: label without text")
	case l.Source != SourceTeacher && l.Source != SourceFeedback && l.Source != SourceAdmin:
		return l, fmt.Errorf("teacher: label source %q (want teacher, feedback or admin)", l.Source)
	case l.Source == SourceFeedback && l.Tenant == "":
		// Feedback without a tenant would move every tenant's routing.
		return l, errors.New("teacher: feedback label without a tenant")
	}
	if l.ID == "" {
		var b [8]byte
		rand.Read(b[:])
		l.ID = hex.EncodeToString(b[:])
	}
	if l.Time.IsZero() {
		l.Time = time.Now().UTC()
	}
	return l, nil
}

// Examples returns the router examples that may train the routing of
// tenant: the global labels and tenant's own, never another tenant's.
// Teacher and admin labels weigh 1, feedback 0.5 (one user's view).
func Examples(labels []Label, tenant string) []router.Example {
	var out []router.Example
	for _, l := range labels {
		if l.Tenant != "" && l.Tenant != tenant {
			continue
		}
		w := 1.0
		if l.Source == SourceFeedback {
			w = 0.5
		}
		out = append(out, router.Example{Text: l.Text, Expert: l.Expert, Weight: w})
	}
	return out
}

func filter(labels []Label, tenant string, all bool) []Label {
	if all {
		return labels
	}
	var out []Label
	for _, l := range labels {
		if l.Tenant == tenant {
			out = append(out, l)
		}
	}
	return out
}

// FileStore keeps labels in a JSON Lines file, rewritten atomically on
// every change (label sets are small: thousands). It is safe for
// concurrent use within one process.
type FileStore struct {
	path string
	mu   sync.Mutex
}

// NewFileStore returns a store in the file at path (created on the first
// Add).
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

func (f *FileStore) load() ([]Label, error) {
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("teacher: labels: %w", err)
	}
	defer file.Close()
	var out []Label
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var l Label
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("teacher: labels %s line %d: %w", f.path, n, err)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

func (f *FileStore) save(labels []Label) error {
	return atomicfile.Write(f.path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, l := range labels {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	})
}

// Add implements Store.
func (f *FileStore) Add(_ context.Context, l Label) (Label, error) {
	l, err := complete(l)
	if err != nil {
		return l, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	labels, err := f.load()
	if err != nil {
		return l, err
	}
	return l, f.save(append(labels, l))
}

// List implements Store.
func (f *FileStore) List(_ context.Context, tenant string, all bool) ([]Label, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	labels, err := f.load()
	return filter(labels, tenant, all), err
}

// Delete implements Store.
func (f *FileStore) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	labels, err := f.load()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(labels, func(l Label) bool { return l.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return f.save(slices.Delete(labels, i, i+1))
}

// PostgresStore keeps labels in the table moegate_router_labels.
type PostgresStore struct {
	pool *pgxpool.Pool
}

// NewPostgresStore creates the table if needed (in the pool's
// search_path) and returns the store.
func NewPostgresStore(ctx context.Context, pool *pgxpool.Pool) (*PostgresStore, error) {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Replicas starting together must not race on CREATE TABLE.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('moegate_router_labels'))`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS moegate_router_labels (
			id         text PRIMARY KEY,
			tenant     text NOT NULL DEFAULT '',
			text       text NOT NULL,
			expert     text NOT NULL,
			source     text NOT NULL,
			created_at timestamptz NOT NULL
		)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("teacher: create table moegate_router_labels: %w", err)
	}
	return &PostgresStore{pool: pool}, nil
}

// Add implements Store.
func (p *PostgresStore) Add(ctx context.Context, l Label) (Label, error) {
	l, err := complete(l)
	if err != nil {
		return l, err
	}
	_, err = p.pool.Exec(ctx, `INSERT INTO moegate_router_labels (id, tenant, text, expert, source, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, l.ID, l.Tenant, l.Text, l.Expert, l.Source, l.Time)
	if err != nil {
		return l, fmt.Errorf("teacher: add label: %w", err)
	}
	return l, nil
}

// List implements Store.
func (p *PostgresStore) List(ctx context.Context, tenant string, all bool) ([]Label, error) {
	rows, err := p.pool.Query(ctx, `SELECT id, tenant, text, expert, source, created_at FROM moegate_router_labels
		WHERE $2 OR tenant = $1 ORDER BY created_at, id`, tenant, all)
	if err != nil {
		return nil, fmt.Errorf("teacher: list labels: %w", err)
	}
	labels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Label, error) {
		var l Label
		err := r.Scan(&l.ID, &l.Tenant, &l.Text, &l.Expert, &l.Source, &l.Time)
		l.Time = l.Time.UTC()
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("teacher: list labels: %w", err)
	}
	return labels, nil
}

// Delete implements Store.
func (p *PostgresStore) Delete(ctx context.Context, id string) error {
	tag, err := p.pool.Exec(ctx, `DELETE FROM moegate_router_labels WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("teacher: delete label: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return nil
}
