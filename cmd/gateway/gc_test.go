package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/moegate/moegate/config"
)

// The configured pace applies unless Go's own variables are set, which
// operators already know and expect to win.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	tests := []struct {
		name      string
		server    config.Server
		env       map[string]string
		wantGC    int
		wantLimit int64
	}{
		{"default: Go's", config.Server{}, nil, 100, math.MaxInt64},
		{"configured", config.Server{GCPercent: 50, MemoryLimit: 256 << 20}, nil, 50, 256 << 20},
		{"off", config.Server{GCPercent: -5}, nil, -1, math.MaxInt64},
		{"GOGC and GOMEMLIMIT win", config.Server{GCPercent: 50, MemoryLimit: 256 << 20}, map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}, 100, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			tuneGC(tt.server, func(k string) string { return tt.env[k] })
			if got := debug.SetGCPercent(100); got != tt.wantGC {
				t.Errorf("GC percent %d, want %d", got, tt.wantGC)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tt.wantLimit)
			}
		})
	}
}
