package dirlock

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLockAndStaleFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks are per open file: a second open, as another process
	// would do, is refused.
	if _, err := Lock(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Lock: %v", err)
	}
	f.Close()
	g, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	defer g.Close()

	for _, name := range []string{".experts.json.123.tmp", "tenants.json.tmp", "experts.json"} {
		os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "knowledge"), 0o755)
	os.WriteFile(filepath.Join(dir, "knowledge", "snapshot.tmp"), []byte("x"), 0o644)
	removed, err := RemoveStale(dir)
	slices.Sort(removed)
	if err != nil || !slices.Equal(removed, []string{".experts.json.123.tmp", "tenants.json.tmp"}) {
		t.Fatalf("removed %v, %v", removed, err)
	}
	for _, keep := range []string{"experts.json", "knowledge/snapshot.tmp", "LOCK"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s removed: %v", keep, err)
		}
	}
}
