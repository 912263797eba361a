package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestThreadCounts spins until the thread has used 20 ms of CPU time: the
// clock must get there (the wall time it takes depends on how busy the
// machine is) and never go back.
func TestThreadCounts(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread CPU time is read on Linux only")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := Thread()
	prev, x := start, 1.0
	for deadline := time.Now().Add(20 * time.Second); prev-start < 20*time.Millisecond; {
		for range 100000 {
			x = x*1.0000001 + 1e-9
		}
		now := Thread()
		if now < prev {
			t.Fatalf("thread CPU time went back from %v to %v", prev, now)
		}
		prev = now
		if time.Now().After(deadline) {
			t.Fatalf("20 s of spinning used %v of thread CPU time (x=%v)", prev-start, x)
		}
	}
}

// TestProcessCounts: the process clock gets 20 ms further while this
// goroutine spins, and never goes back.
func TestProcessCounts(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process CPU time is read on Linux only")
	}
	start := Process()
	prev, x := start, 1.0
	for deadline := time.Now().Add(20 * time.Second); prev-start < 20*time.Millisecond; {
		for range 100000 {
			x = x*1.0000001 + 1e-9
		}
		now := Process()
		if now < prev {
			t.Fatalf("process CPU time went back from %v to %v", prev, now)
		}
		prev = now
		if time.Now().After(deadline) {
			t.Fatalf("20 s of spinning used %v of process CPU time (x=%v)", prev-start, x)
		}
	}
}
