package cooldown

import (
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	clock := time.Unix(1000, 0)
	g := Gate{Period: 5 * time.Second, Now: func() time.Time { return clock }}
	for _, step := range []struct {
		name    string
		advance time.Duration
		fail    bool
		want    bool
	}{
		{"fresh", 0, false, false},
		{"just failed", 0, true, true},
		{"within the period", 4999 * time.Millisecond, false, true},
		{"at its end", time.Millisecond, false, false},
		{"failed again", time.Hour, true, true},
		{"a failure during the period extends it", 3 * time.Second, true, true},
		{"past the first period, within the second", 3 * time.Second, false, true},
		{"past the second", 2 * time.Second, false, false},
	} {
		clock = clock.Add(step.advance)
		if step.fail {
			g.Failed()
		}
		if got := g.Skip(); got != step.want {
			t.Errorf("%s: Skip %v, want %v", step.name, got, step.want)
		}
	}
	var real Gate // the real clock, no period: a failure skips nothing
	real.Failed()
	if real.Skip() {
		t.Error("a gate without a period skipped a call")
	}
}
