package health

import (
	"errors"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newTracker(o Options) (*Tracker, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	t := New(o)
	t.now = c.now
	return t, c
}

var boom = errors.New("upstream status 500")

func TestConsecutiveFailuresEjectProbeRecover(t *testing.T) {
	tr, c := newTracker(Options{ConsecutiveFailures: 3, Cooldown: 10 * time.Second})
	for i := range 2 {
		tr.Observe("a", boom)
		if !tr.Allow("a") {
			t.Fatalf("ejected after %d failures", i+1)
		}
	}
	tr.Observe("a", nil) // a success resets the run
	for range 3 {
		tr.Observe("a", boom)
	}
	if tr.Allow("a") {
		t.Fatal("allowed after 3 consecutive failures")
	}
	if ej, why := tr.Ejected("a"); !ej || why == "" {
		t.Fatalf("Ejected = %v %q", ej, why)
	}
	if s := tr.Status("a"); s.State != Ejected || s.Ejections != 1 || s.Reason != "3 consecutive failures" {
		t.Fatalf("status %+v", s)
	}
	c.add(9 * time.Second)
	if tr.Allow("a") {
		t.Fatal("allowed inside the cooldown")
	}
	if d := tr.RetryIn("a"); d != time.Second {
		t.Fatalf("RetryIn = %v, want 1s", d)
	}
	c.add(time.Second)
	if ej, _ := tr.Ejected("a"); ej {
		t.Fatal("routing should offer the expert for its probe once the cooldown ended")
	}
	if !tr.Allow("a") {
		t.Fatal("probe refused after the cooldown")
	}
	if tr.Allow("a") {
		t.Fatal("a second call let through while the probe runs")
	}
	// The probe fails: ejected again for twice as long.
	tr.Observe("a", boom)
	if s := tr.Status("a"); s.State != Ejected || s.Ejections != 2 || !s.EjectedUntil.Equal(c.t.Add(20*time.Second)) {
		t.Fatalf("after a failed probe: %+v", s)
	}
	c.add(20 * time.Second)
	if !tr.Allow("a") {
		t.Fatal("second probe refused")
	}
	tr.Observe("a", nil)
	if s := tr.Status("a"); s.State != Healthy || !tr.Allow("a") || !tr.Allow("a") {
		t.Fatalf("after a good probe: %+v", s)
	}
	// Recovered: the next ejection starts from the base cooldown again.
	for range 3 {
		tr.Observe("a", boom)
	}
	if s := tr.Status("a"); !s.EjectedUntil.Equal(c.t.Add(10 * time.Second)) {
		t.Fatalf("cooldown not reset: %+v", s)
	}
}

func TestErrorRateEjects(t *testing.T) {
	tr, c := newTracker(Options{ConsecutiveFailures: 100, ErrorRate: 0.5, MinCalls: 10, Window: time.Minute})
	// Alternating failures never make a run of 100 but are half the calls.
	for i := range 9 {
		tr.Observe("a", map[bool]error{true: boom}[i%2 == 0])
		c.add(time.Second)
	}
	if !tr.Allow("a") {
		t.Fatal("ejected before MinCalls")
	}
	tr.Observe("a", boom) // 10 calls, 6 failed
	if tr.Allow("a") {
		t.Fatal("ejected too late")
	}
	// Old calls fall out of the window.
	tr2, c2 := newTracker(Options{ConsecutiveFailures: 100, ErrorRate: 0.5, MinCalls: 4, Window: 10 * time.Second})
	tr2.Observe("b", boom)
	tr2.Observe("b", boom)
	c2.add(time.Minute)
	tr2.Observe("b", nil)
	tr2.Observe("b", nil)
	tr2.Observe("b", boom)
	tr2.Observe("b", nil)
	if !tr2.Allow("b") {
		t.Fatalf("stale failures counted: %+v", tr2.Status("b"))
	}
}

func TestProbeThatNeverReports(t *testing.T) {
	tr, c := newTracker(Options{ConsecutiveFailures: 1, Cooldown: time.Second})
	tr.Observe("a", boom)
	c.add(time.Second)
	if !tr.Allow("a") {
		t.Fatal("probe refused")
	}
	// The probe's request was cancelled and never reported: after a while
	// another request may probe.
	c.add(time.Second)
	if !tr.Allow("a") {
		t.Fatal("stuck half-open")
	}
	if all := tr.All(); len(all) != 1 || all[0].State != Probing {
		t.Fatalf("All = %+v", all)
	}
}

// TestOpenCount follows the count of breakers out of the healthy state,
// which lets Ejected and Allow answer without the lock while it is zero:
// each step's answers must be those of the breakers themselves.
func TestOpenCount(t *testing.T) {
	tr, c := newTracker(Options{ConsecutiveFailures: 1, Cooldown: 10 * time.Second})
	step := func(what string, open int32, ejected ...string) {
		t.Helper()
		if got := tr.open.Load(); got != open {
			t.Fatalf("%s: open = %d, want %d", what, got, open)
		}
		for _, name := range []string{"a", "b", "c"} {
			want := false
			for _, e := range ejected {
				want = want || e == name
			}
			if got, _ := tr.Ejected(name); got != want {
				t.Fatalf("%s: Ejected(%s) = %v, want %v", what, name, got, want)
			}
		}
	}
	step("start", 0)
	tr.Observe("a", nil)
	step("a healthy call", 0)
	tr.Observe("a", boom)
	step("a ejected", 1, "a")
	tr.Observe("b", boom)
	step("b ejected", 2, "a", "b")
	tr.Observe("a", boom) // a call that started before the ejection
	step("a fails again while ejected", 2, "a", "b")
	if tr.Allow("a") || !tr.Allow("c") {
		t.Fatal("Allow inside a's cooldown: a let through, or healthy c refused")
	}
	c.add(10 * time.Second)
	step("cooldowns over", 2)
	if !tr.Allow("a") || !tr.Allow("b") {
		t.Fatal("probes refused after the cooldown")
	}
	step("probing", 2, "a", "b")
	tr.Observe("a", nil)
	step("a recovered", 1, "b")
	tr.Observe("b", boom)
	step("b's probe failed", 1, "b")
	tr.Forget("b")
	step("b removed", 0)
	tr.Forget("a")
	step("healthy a removed", 0)
}
