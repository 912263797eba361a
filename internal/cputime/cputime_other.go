//go:build !linux

// Package cputime reads the CPU time of the calling OS thread, so that
// one-thread benchmarks on a shared machine can be measured without the
// time spent waiting for a core.
package cputime

import "time"

// Thread is the CPU time of the calling OS thread: not known here, 0.
func Thread() time.Duration { return 0 }
