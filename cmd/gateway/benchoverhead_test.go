package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/moegate/moegate/internal/loadgen"
)

// TestBenchOverhead runs the real binary's overhead benchmark with tiny
// phases and checks the report's shape and that every row carried traffic.
func TestBenchOverhead(t *testing.T) {
	bin := gatewayBinary(t)
	out, err := exec.Command(bin, "bench", "overhead", "--duration", "150ms", "--reps", "1", "--rate", "100", "--conns", "4",
		"--experts", "3", "--only", "proxy,by name", "--json", "-q").Output()
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
	if _, ok := got["moegate auto"]; ok {
		t.Errorf("--only did not filter: %s", out)
	}

	// Help goes to stdout.
	help, err := exec.Command(bin, "bench", "overhead", "--help").Output()
	if err != nil || !strings.Contains(string(help), "Usage: gateway bench overhead") {
		t.Errorf("--help on stdout: %v\n%s", err, help)
	}
}
