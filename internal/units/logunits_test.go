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
	duration := regexp.MustCompile(`time\.Since\(|\.Sub\(|Round\(time\.|Duration\(|\.Std\(\)`)
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
			call := logCallText(lines, i)
			if duration.MatchString(call) && !strings.Contains(call, "units.MS(") {
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

var logCall = regexp.MustCompile(`\.(Info|Warn|Error|Debug)(Context)?\(`)

// logCallText is the log call that starts on lines[i], with the lines it
// continues on until its parentheses close.
func logCallText(lines []string, i int) string {
	start := logCall.FindStringIndex(lines[i])[0]
	var b strings.Builder
	depth := 0
	for j, l := range lines[i:] {
		if j == 0 {
			l = l[start:]
		}
		b.WriteString(l)
		depth += strings.Count(l, "(") - strings.Count(l, ")")
		if depth <= 0 {
			break
		}
	}
	return b.String()
}
