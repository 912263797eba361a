package negatives

import (
	"strings"
	"testing"
)

func TestGeneric(t *testing.T) {
	qs := Generic()
	if len(qs) < 250 {
		t.Fatalf("%d negatives, want at least 250", len(qs))
	}
	seen := map[string]bool{}
	for i, q := range qs {
		if strings.TrimSpace(q) != q || q == "" || seen[q] {
			t.Errorf("line %d %q: empty, padded or repeated", i+1, q)
		}
		seen[q] = true
	}
}
