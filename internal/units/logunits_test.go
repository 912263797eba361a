package units

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMS(t *testing.T) {
	for d, want := range map[time.Duration]float64{0: 0, time.Second: 1000, 1500 * time.Microsecond: 1.5, 90 * time.Nanosecond: 0} {
		if got := MS(d); got != want {
			t.Errorf("MS(%v) = %v, want %v", d, got, want)
		}
	}
}

// Logs state durations in one unit: a log call passes a duration only as
// units.MS under a key ending in _ms (slog would print a time.Duration as
// nanoseconds in JSON and as "1.5s" in text).
func TestLogDurationsInMilliseconds(t *testing.T) {
	logCall := regexp.MustCompile(`\.(Info|Warn|Error|Debug)(Context)?\(`)
	duration := regexp.MustCompile(`time\.Since\(|\.Sub\(|Round\(time\.|Duration\(|\.Std\(\)`)
	msInline := regexp.MustCompile(`"[a-z_]+_ms",\s*float64\([^"]*\.Microseconds\(\)\)/1000`)
	key := regexp.MustCompile(`"([a-z_]+)",\s*units\.MS\(`)
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			if !logCall.MatchString(l) {
				continue
			}
			// A call may continue on the next line.
			call := l
			if i+1 < len(lines) && !strings.HasSuffix(strings.TrimSpace(l), ")") {
				call += lines[i+1]
			}
			// The engine depends on nothing of the gateway, so it converts
			// inline: a *_ms key with a value in Microseconds()/1000.
			inline := msInline.MatchString(call)
			if duration.MatchString(call) && !strings.Contains(call, "units.MS(") && !inline {
				t.Errorf("%s:%d logs a duration not in milliseconds: %s", path, i+1, strings.TrimSpace(l))
			}
			for _, m := range key.FindAllStringSubmatch(call, -1) {
				if !strings.HasSuffix(m[1], "_ms") {
					t.Errorf("%s:%d: milliseconds under %q; name the field <what>_ms", path, i+1, m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
