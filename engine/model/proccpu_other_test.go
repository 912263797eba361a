//go:build !linux

package model

import "time"

// processCPU is 0 where it is not read: the benchmarks skip the metric.
func processCPU() time.Duration { return 0 }
