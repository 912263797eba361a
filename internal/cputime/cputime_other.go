//go:build !linux

// Package cputime reads the CPU time of the calling OS thread or of the
// whole process, so that benchmarks on a shared machine can be measured
// without the time spent waiting for a core.
package cputime

import "time"

// Thread is the CPU time of the calling OS thread: not known here, 0.
func Thread() time.Duration { return 0 }

// Process is the CPU time of the whole process: not known here, 0.
func Process() time.Duration { return 0 }
