package experts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/moegate/moegate/internal/atomicfile"
)

// FileStore keeps specs in one JSON file, rewritten atomically on every
// change (temporary file in the same directory, fsync, rename, fsync of
// the directory), so a crash leaves either the old or the new file. It is
// for a single gateway process; replicas share a PostgresStore instead.
type FileStore struct {
	path string
	mu   sync.Mutex
}

// NewFileStore returns a store backed by the file at path. The file need
// not exist yet; it is created on the first change.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

// Path returns the file the store writes.
func (f *FileStore) Path() string { return f.path }

type fileDoc struct {
	Version int    `json:"version"`
	Experts []Spec `json:"experts"`
}

const fileVersion = 1

// Load returns the stored specs sorted by name; none if the file does not exist.
func (f *FileStore) Load(ctx context.Context) ([]Spec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read()
}

func (f *FileStore) read() ([]Spec, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc fileDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	if doc.Version > fileVersion {
		return nil, fmt.Errorf("%s: version %d is newer than this gateway understands (%d)", f.path, doc.Version, fileVersion)
	}
	return doc.Experts, nil
}

// Create stores a new spec; ErrExists if the name is taken.
func (f *FileStore) Create(ctx context.Context, s Spec) error {
	return f.change(func(specs []Spec) ([]Spec, error) {
		if slices.ContainsFunc(specs, func(x Spec) bool { return x.Name == s.Name }) {
			return nil, fmt.Errorf("%w: %q", ErrExists, s.Name)
		}
		return append(specs, s), nil
	})
}

// Put stores s, replacing any spec of the same name.
func (f *FileStore) Put(ctx context.Context, s Spec) error {
	return f.change(func(specs []Spec) ([]Spec, error) {
		specs = slices.DeleteFunc(specs, func(x Spec) bool { return x.Name == s.Name })
		return append(specs, s), nil
	})
}

// Delete removes the named spec; ErrNotFound if absent.
func (f *FileStore) Delete(ctx context.Context, name string) error {
	return f.change(func(specs []Spec) ([]Spec, error) {
		n := len(specs)
		specs = slices.DeleteFunc(specs, func(x Spec) bool { return x.Name == name })
		if len(specs) == n {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		return specs, nil
	})
}

func (f *FileStore) change(edit func([]Spec) ([]Spec, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	specs, err := f.read()
	if err != nil {
		return err
	}
	specs, err = edit(specs)
	if err != nil {
		return err
	}
	slices.SortFunc(specs, func(a, b Spec) int { return strings.Compare(a.Name, b.Name) })
	if specs == nil {
		specs = []Spec{}
	}
	b, err := json.MarshalIndent(fileDoc{Version: fileVersion, Experts: specs}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(f.path, append(b, '\n'), 0o600)
}
