// Package cputime reads the CPU time of the calling OS thread or of the
// whole process, so that benchmarks on a shared machine can be measured
// without the time spent waiting for a core.
package cputime

import (
	"syscall"
	"time"
)

// Thread is the CPU time used so far by the calling OS thread
// (RUSAGE_THREAD); callers lock their goroutine to the thread. It is 0
// where the system cannot tell.
func Thread() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Process is the CPU time used so far by every thread of the process
// (RUSAGE_SELF): the work of a phase that other threads (the kernel pool,
// the garbage collector) share. It is 0 where the system cannot tell.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
