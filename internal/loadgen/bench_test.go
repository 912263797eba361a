package loadgen

import (
	"strings"
	"testing"
	"time"
)

// reps returns a setup's repetitions: CPU µs per request, saturated RPS
// (requests over one second) and open-loop p99 in ms, one of each a
// repetition.
func reps(name, system string, stream bool, p *proc, cpu, rps, p99 []float64) *setup {
	s := &setup{name: name, system: system, stream: stream, proc: p, cpu: cpu}
	for i := range cpu {
		s.closed = append(s.closed, sample{n: int(rps[i]), elapsed: time.Second})
		s.open = append(s.open, sample{n: 1, lat: []time.Duration{time.Duration(p99[i] * float64(time.Millisecond))}})
	}
	return s
}

func TestCompare(t *testing.T) {
	running := &proc{}
	proxy := reps("reverse proxy", "proxy", false, running, []float64{100, 100, 250}, []float64{1000, 1000, 400}, []float64{2, 2, 2})
	proxyStream := reps("reverse proxy, stream", "proxy", true, running, []float64{50, 50, 50}, []float64{2000, 2000, 2000}, []float64{1, 1, 1})
	unmeasured := reps("reverse proxy", "proxy", false, nil, []float64{0, 0, 0}, []float64{1000, 1000, 1000}, []float64{2, 2, 2})
	// The third repetition is slow for both (300 against 250 µs): the
	// ratio of the medians would be 150/100, the repetitions' ratios are
	// 1.5, 1.1 and 1.2.
	auto := reps("moegate auto", "moegate", false, running, []float64{150, 110, 300}, []float64{800, 900, 360}, []float64{2.5, 3, 2})
	stream := reps("moegate auto, stream", "moegate", true, running, []float64{60, 70, 80}, []float64{1600, 1500, 1000}, []float64{1, 1.5, 2})
	for _, tc := range []struct {
		name   string
		s      *setup
		setups []*setup
		want   *Comparison
	}{
		{"median of the repetitions' ratios", auto, []*setup{proxy, proxyStream, auto}, &Comparison{CPU: 1.2, RPS: 0.9, P99ms: 0.5}},
		{"streaming against the streaming proxy", stream, []*setup{proxy, proxyStream, stream}, &Comparison{CPU: 1.4, RPS: 0.75, P99ms: 0.5}},
		{"no proxy of its kind", stream, []*setup{proxy, stream}, nil},
		{"the proxy's CPU not measured", auto, []*setup{unmeasured, auto}, &Comparison{CPU: -1, RPS: 0.8, P99ms: 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := compare(tc.s, tc.setups)
			if (got == nil) != (tc.want == nil) {
				t.Fatalf("compare = %+v, want %+v", got, tc.want)
			}
			if got == nil {
				return
			}
			near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
			if !near(got.CPU, tc.want.CPU) || !near(got.RPS, tc.want.RPS) || !near(got.P99ms, tc.want.P99ms) {
				t.Fatalf("compare = %+v, want %+v", *got, *tc.want)
			}
		})
	}
}

// The table prints the comparisons under the figures, only for the rows
// that have one.
func TestWriteComparisons(t *testing.T) {
	rep := &Report{Rows: []Row{
		{Setup: "reverse proxy", System: "proxy", CPUus: 100, RSSMB: 30},
		{Setup: "moegate auto", System: "moegate", CPUus: 120, RSSMB: 80, VsProxy: &Comparison{CPU: 1.2, RPS: 0.9, P99ms: 0.5}},
		{Setup: "moegate by name", System: "moegate", CPUus: -1, RSSMB: -1, VsProxy: &Comparison{CPU: -1, RPS: 1.02, P99ms: -0.25}},
	}}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	_, cmp, ok := strings.Cut(b.String(), "against the reverse proxy")
	if !ok {
		t.Fatalf("no comparison:\n%s", b.String())
	}
	for _, want := range []string{"moegate auto  ", "1.20", "0.90", "+0.50", "moegate by name", "-  ", "1.02", "-0.25"} {
		if !strings.Contains(cmp, want) {
			t.Errorf("comparison lacks %q:\n%s", want, cmp)
		}
	}
	if strings.Contains(cmp, "reverse proxy  ") {
		t.Errorf("the proxy compared with itself:\n%s", cmp)
	}

	rep.Rows = rep.Rows[:1]
	b.Reset()
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "against the reverse proxy") {
		t.Errorf("a comparison with no gateway row:\n%s", b.String())
	}
}

func TestCPUTimesSteal(t *testing.T) {
	const stat0 = "cpu  100 5 50 800 10 0 5 30 7 0\ncpu0 50 2 25 400 5 0 2 15 3 0\n"
	for _, tt := range []struct {
		name       string
		before     string
		after      string
		wantSteal  float64
		wantParsed bool
	}{
		// 1000 ticks later, 50 of them stolen; guest ticks (7) are
		// already in user's and do not count twice.
		{"steal", stat0, "cpu  400 5 150 1350 10 0 5 80 9 0\n", 5, true},
		{"none stolen", stat0, "cpu  600 5 50 1300 10 0 5 30 7 0\n", 0, true},
		{"old kernel without steal", "cpu  100 5 50 800 10 0 5\n", "cpu  200 5 50 900 10 0 5\n", -1, false},
		{"no time passed", stat0, stat0, -1, true},
		{"not a stat file", "intr 1 2 3\n", "intr 4 5 6\n", -1, false},
		{"garbage", stat0, "cpu  x 5 50 800 10 0 5 30\n", -1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := parseCPUTimes(tt.before)
			if before.ok != tt.wantParsed {
				t.Fatalf("parsed %q: ok %v, want %v", tt.before, before.ok, tt.wantParsed)
			}
			if got := parseCPUTimes(tt.after).stealSince(before); got != tt.wantSteal {
				t.Errorf("steal %v%%, want %v%%", got, tt.wantSteal)
			}
		})
	}
	var b strings.Builder
	if err := (&Report{Steal: 4.21}).WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "stolen by the hypervisor during the phases: 4.2%") {
		t.Errorf("header lacks the steal:\n%s", b.String())
	}
	b.Reset()
	if err := (&Report{Steal: -1}).WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "during the phases: -\n") {
		t.Errorf("unknown steal not shown as -:\n%s", b.String())
	}
}
