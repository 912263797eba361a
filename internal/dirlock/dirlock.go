// Package dirlock gives one process at a time a directory: the gateway
// takes its data directory before it writes anything in it.
package dirlock

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Lock takes dir (creating it) for this process until the returned file is
// closed; another process holding it is an error naming the directory.
func Lock(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is in use by another gateway process: %w", dir, err)
	}
	return f, nil
}

// RemoveStale deletes the temporary files (*.tmp) a crash left in dir
// itself, and returns their names. Call it only while holding dir's lock.
// Subdirectories with locks of their own (the retrieval store) clean up
// after themselves.
func RemoveStale(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if e.Type()&fs.ModeType != 0 || !strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}
