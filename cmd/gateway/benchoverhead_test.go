package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moegate/moegate/internal/loadgen"
)

// TestBenchOverhead runs the real binary's overhead benchmark with tiny
// phases and checks the report's shape, that every row carried traffic and
// that the gateway's profiles are written (into a directory it creates).
func TestBenchOverhead(t *testing.T) {
	bin := gatewayBinary(t)
	profiles := filepath.Join(t.TempDir(), "not", "yet")
	out, err := exec.Command(bin, "bench", "overhead", "--duration", "150ms", "--reps", "1", "--rate", "100", "--conns", "4",
		"--experts", "3", "--only", "proxy,by name", "--json", "-q", "--profile", profiles).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("bench overhead: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var rep loadgen.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := map[string]string{"upstream alone": "", "reverse proxy": "upstream alone", "moegate by name": "upstream alone",
		"upstream alone, stream": "", "reverse proxy, stream": "upstream alone, stream"}
	got := map[string]loadgen.Row{}
	for _, r := range rep.Rows {
		got[r.Setup] = r
	}
	for name, baseline := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("no row %q in %s", name, out)
			continue
		}
		if r.RPS <= 0 || r.Rate <= 0 || r.P50ms <= 0 || r.P99ms < r.P50ms {
			t.Errorf("%s: implausible figures %+v", name, r)
		}
		if r.BaselineName != baseline {
			t.Errorf("%s: baseline %q, want %q", name, r.BaselineName, baseline)
		}
		if r.CPUus <= 0 && r.System != "upstream" || r.RSSMB <= 0 {
			t.Errorf("%s: CPU %v µs/request, RSS %v MB: the serving process was not measured", name, r.CPUus, r.RSSMB)
		}
		if r.Errors > 0 {
			t.Errorf("%s: %d errors", name, r.Errors)
		}
	}
	// The gateway against the proxy run beside it; the proxy against
	// nothing.
	if c := got["moegate by name"].VsProxy; c == nil || c.CPU <= 0 || c.RPS <= 0 {
		t.Errorf("moegate by name against the proxy: %+v", c)
	}
	if c := got["reverse proxy"].VsProxy; c != nil {
		t.Errorf("the proxy compared with itself: %+v", c)
	}
	if _, ok := got["moegate auto"]; ok {
		t.Errorf("--only did not filter: %s", out)
	}
	// Linux says how much CPU time a hypervisor took (0 on bare metal).
	if rep.Steal < 0 || rep.Steal > 100 {
		t.Errorf("steal %v%% during the phases", rep.Steal)
	}
	for _, name := range []string{"moegate.pprof", "moegate.heap"} {
		if fi, err := os.Stat(filepath.Join(profiles, name)); err != nil || fi.Size() == 0 {
			t.Errorf("--profile: %s not written: %v", name, err)
		}
	}

	// Help goes to stdout.
	help, err := exec.Command(bin, "bench", "overhead", "--help").Output()
	if err != nil || !strings.Contains(string(help), "Usage: gateway bench overhead") {
		t.Errorf("--help on stdout: %v\n%s", err, help)
	}
}

// TestBenchInstructions runs the real binary's instructions benchmark
// under valgrind (scripts/test.sh installs it) with a few requests, and
// checks the report, the routes written and the dumps kept.
func TestBenchInstructions(t *testing.T) {
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.txt")
	out, stderr, code := runGateway(t, "bench", "instructions", "--requests", "20", "--warm", "10", "--experts", "3",
		"--routes", routes, "--keep", filepath.Join(dir, "dumps"), "--json", "-q")
	if code != 0 {
		t.Fatalf("bench instructions: exit %d\n%s", code, stderr)
	}
	var rep loadgen.InstructionsReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var paths []string
	for _, r := range rep.Rows {
		paths = append(paths, r.Path)
		// A request costs the gateway hundreds of thousands of
		// instructions: far fewer means the counting missed it, far more
		// that it counted the warm-up or start-up.
		if r.Requests != 20 || r.Instructions < 50e3 || r.Instructions > 20e6 {
			t.Errorf("%s: %d requests, %.0f instructions each", r.Path, r.Requests, r.Instructions)
		}
		if _, err := os.Stat(filepath.Join(dir, "dumps", r.Path+".out")); err != nil {
			t.Errorf("%s: dump not kept: %v", r.Path, err)
		}
	}
	if strings.Join(paths, ",") != "auto,stream,byname" {
		t.Fatalf("paths %v", paths)
	}
	b, err := os.ReadFile(routes)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 40 || !strings.HasPrefix(lines[0], `auto 0 {"router":`) || !strings.HasPrefix(lines[20], `stream 0 {"router":`) {
		t.Fatalf("routes file, %d lines:\n%.600s", len(lines), b)
	}
}
