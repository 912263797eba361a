package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlock is one ```sh block of README.md.
type readmeBlock struct {
	line int    // where it starts
	skip string // why it is not run, from a <!-- test: skip (why) --> line before it
	code string
}

// readmeBlocks extracts the shell examples of README.md. The convention:
// every ```sh block is run by TestREADME against a started gateway at
// http://127.0.0.1:8080 (rewritten to the test's address) with
// MOEGATE_ADMIN_TOKEN set; a block preceded by <!-- test: skip (why) -->
// is not (it starts a gateway, or runs this very suite).
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []readmeBlock
	var cur *readmeBlock
	prev := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.code += l + "\n"
		case strings.TrimSpace(l) == "```sh":
			cur = &readmeBlock{line: n}
			if why, ok := strings.CutPrefix(strings.TrimSpace(prev), "<!-- test: skip"); ok {
				cur.skip = strings.TrimSpace(strings.TrimSuffix(why, "-->"))
				if cur.skip == "" {
					t.Errorf("README.md:%d: a skipped example must say why", n)
				}
			}
		}
		if strings.TrimSpace(l) != "" {
			prev = l
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: unterminated code block", cur.line)
	}
	return blocks
}

// TestREADME runs every shell example of README.md against the real
// gateway, so the README cannot rot: curl fails on any HTTP error status.
func TestREADME(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is not installed: the README examples need it")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	blocks := readmeBlocks(t, filepath.Join(root, "README.md"))
	const tok = "readme-admin-token"
	g := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok, "MOEGATE_LOCAL_MAX_TOKENS=16")
	bin := filepath.Dir(gatewayBinary(t))
	ran := 0
	for _, b := range blocks {
		if b.skip != "" {
			t.Logf("README.md:%d: skipped: %s", b.line, b.skip)
			continue
		}
		ran++
		script := strings.ReplaceAll(b.code, "http://127.0.0.1:8080", g.url(""))
		// Any HTTP error status fails the example, with the body shown.
		script = "set -euo pipefail\ncurl() { command curl --fail-with-body --max-time 60 \"$@\"; }\n" + script
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "MOEGATE_ADMIN_TOKEN="+tok, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("README.md:%d: the example failed: %v\n--- example\n%s--- output\n%s\n--- gateway log (tail)\n%s", b.line, err, b.code, out, tail(g.logs.String(), 2000))
			continue
		}
		t.Logf("README.md:%d: ok in %s", b.line, time.Since(start).Round(time.Millisecond))
	}
	if ran < 3 {
		t.Fatalf("only %d README examples ran: the convention is broken", ran)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
