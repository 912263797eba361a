package model

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time used so far by the calling OS thread
// (RUSAGE_THREAD). On a shared machine it measures one-thread benchmarks
// without the time spent waiting for a core.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
