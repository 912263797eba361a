package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moegate/moegate/internal/atomicfile"
)

// FileBackend keeps tenant records in one JSON file, rewritten atomically
// (temp file, fsync, rename, fsync of the directory) on every change.
//
// Every call first stats the file and re-reads it when its size, mtime or
// identity changed, so several processes sharing the file see each other's
// changes. Writers in different processes are not serialised against each
// other, though: two creating tenants at the same instant may lose one
// write. Use PostgresBackend for several writing replicas.
type FileBackend struct {
	path string

	mu      sync.Mutex
	records map[string]Record // by name
	byHash  map[string]string // key hash -> name
	stamp   fileStamp
}

type fileStamp struct {
	size  int64
	mtime time.Time
	info  os.FileInfo
}

func (a fileStamp) same(b fileStamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return a.size == b.size && a.mtime.Equal(b.mtime) && os.SameFile(a.info, b.info)
}

type tenantFile struct {
	Tenants []Record `json:"tenants"`
}

// NewFileBackend opens (or prepares to create) the tenant file at path,
// conventionally <data dir>/tenants.json.
func NewFileBackend(path string) (*FileBackend, error) {
	b := &FileBackend{path: path}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.refresh(); err != nil {
		return nil, err
	}
	return b, nil
}

// refresh re-reads the file if it changed since the last read. b.mu is held.
func (b *FileBackend) refresh() error {
	var st fileStamp
	info, err := os.Stat(b.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("policies: tenant file: %w", err)
	default:
		st = fileStamp{size: info.Size(), mtime: info.ModTime(), info: info}
	}
	if b.records != nil && st.same(b.stamp) {
		return nil
	}
	recs := map[string]Record{}
	hashes := map[string]string{}
	if st.info != nil {
		data, err := os.ReadFile(b.path)
		if err != nil {
			return fmt.Errorf("policies: tenant file: %w", err)
		}
		var f tenantFile
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("policies: tenant file %s: %w", b.path, err)
		}
		for _, r := range f.Tenants {
			recs[r.Tenant.Name] = r
			hashes[r.KeyHash] = r.Tenant.Name
		}
	}
	b.records, b.byHash, b.stamp = recs, hashes, st
	return nil
}

// write persists recs atomically and makes them current. b.mu is held.
func (b *FileBackend) write(recs map[string]Record) error {
	f := tenantFile{Tenants: make([]Record, 0, len(recs))}
	for _, r := range recs {
		f.Tenants = append(f.Tenants, r)
	}
	slices.SortFunc(f.Tenants, func(x, y Record) int { return strings.Compare(x.Tenant.Name, y.Tenant.Name) })
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(b.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("policies: writing tenant file: %w", err)
	}
	b.records = nil // force a re-read, which also records the new stamp
	return b.refresh()
}

// Insert adds r; ErrExists if its name or key hash is taken.
func (b *FileBackend) Insert(_ context.Context, r Record) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.refresh(); err != nil {
		return err
	}
	if _, ok := b.records[r.Tenant.Name]; ok {
		return fmt.Errorf("tenant %q: %w", r.Tenant.Name, ErrExists)
	}
	if _, ok := b.byHash[r.KeyHash]; ok {
		return fmt.Errorf("tenant %q: %w: key hash collision", r.Tenant.Name, ErrExists)
	}
	recs := make(map[string]Record, len(b.records)+1)
	for k, v := range b.records {
		recs[k] = v
	}
	recs[r.Tenant.Name] = r
	return b.write(recs)
}

// Get returns the named record.
func (b *FileBackend) Get(_ context.Context, name string) (Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.refresh(); err != nil {
		return Record{}, err
	}
	r, ok := b.records[name]
	if !ok {
		return Record{}, fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	return r, nil
}

// List returns all records sorted by name.
func (b *FileBackend) List(context.Context) ([]Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.refresh(); err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(b.records))
	for _, r := range b.records {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y Record) int { return strings.Compare(x.Tenant.Name, y.Tenant.Name) })
	return out, nil
}

// Replace stores t in place of the tenant of its name, keeping its key.
func (b *FileBackend) Replace(_ context.Context, t Tenant) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.refresh(); err != nil {
		return err
	}
	old, ok := b.records[t.Name]
	if !ok {
		return fmt.Errorf("tenant %q: %w", t.Name, ErrNotFound)
	}
	recs := make(map[string]Record, len(b.records))
	for k, v := range b.records {
		recs[k] = v
	}
	recs[t.Name] = Record{Tenant: t, KeyHash: old.KeyHash}
	return b.write(recs)
}

// Delete removes the named record.
func (b *FileBackend) Delete(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.refresh(); err != nil {
		return err
	}
	if _, ok := b.records[name]; !ok {
		return fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	recs := make(map[string]Record, len(b.records))
	for k, v := range b.records {
		if k != name {
			recs[k] = v
		}
	}
	return b.write(recs)
}

// ByKeyHash returns the record with key hash h.
func (b *FileBackend) ByKeyHash(_ context.Context, h string) (Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.refresh(); err != nil {
		return Record{}, err
	}
	name, ok := b.byHash[h]
	if !ok {
		return Record{}, ErrNotFound
	}
	return b.records[name], nil
}
