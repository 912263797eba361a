package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestClocksCount spins until each clock has counted 20 ms of CPU time:
// it must get there (the wall time it takes depends on how busy the
// machine is) and never go back.
func TestClocksCount(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU time is read on Linux only")
	}
	for _, tt := range []struct {
		name  string
		clock func() time.Duration
	}{{"thread", Thread}, {"process", Process}} {
		t.Run(tt.name, func(t *testing.T) {
			// The thread clock is this OS thread's.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start := tt.clock()
			prev, x := start, 1.0
			for deadline := time.Now().Add(20 * time.Second); prev-start < 20*time.Millisecond; {
				for range 100000 {
					x = x*1.0000001 + 1e-9
				}
				now := tt.clock()
				if now < prev {
					t.Fatalf("%s CPU time went back from %v to %v", tt.name, prev, now)
				}
				prev = now
				if time.Now().After(deadline) {
					t.Fatalf("20 s of spinning used %v of %s CPU time (x=%v)", prev-start, tt.name, x)
				}
			}
		})
	}
}
