// Package units holds the value types of configuration and specs that
// carry a unit, so that every file, flag and API reads them alike.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in JSON, YAML and the environment as
// a Go duration string ("30s", "1m30s"). A bare number is read as seconds.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*d = 0
		return nil
	}
	if v, err := time.ParseDuration(s); err == nil {
		*d = Duration(v)
		return nil
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > math.MaxInt64/float64(time.Second) {
		return fmt.Errorf("invalid duration %q: want a Go duration such as \"30s\"", s)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// UnmarshalJSON accepts a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	return d.UnmarshalText([]byte(s))
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MS is d in milliseconds (to the microsecond), the one unit of durations
// in logs: fields named "<what>_ms" carry it.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
