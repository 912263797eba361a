package tensor

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGEMMGenerated checks that the committed gemm_amd64.s is what
// gemm_gen.py writes, so the kernels are never edited by hand out of step
// with their generator. It needs python3 (scripts/test.sh installs it) and
// fails without it rather than skipping: a skip would pass unchecked.
func TestGEMMGenerated(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to check gemm_amd64.s against gemm_gen.py: %v", err)
	}
	out := filepath.Join(t.TempDir(), "gemm_amd64.s")
	if b, err := exec.Command(py, "gemm_gen.py", out).CombinedOutput(); err != nil {
		t.Fatalf("gemm_gen.py: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("gemm_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Fatalf("gemm_amd64.s differs from what gemm_gen.py writes (%d vs %d bytes): run go generate ./engine/tensor/", len(committed), len(got))
	}
}
