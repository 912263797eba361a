// Package browsertest drives Debian's headless chromium for the web
// console's end-to-end tests (chromedp). A test that needs it fails, not
// skips, when chromium is missing: scripts/test.sh installs it.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath finds chromium (or MOEGATE_CHROMIUM) or fails the test.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MOEGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: the console's browser tests need Debian's chromium (apt-get install -y chromium; scripts/test.sh installs it) or MOEGATE_CHROMIUM=/path/to/chrome")
	return ""
}

// ScreenshotDir is where screenshots go: MOEGATE_SCREENSHOT_DIR, or a fixed
// directory under the system's temporary directory.
func ScreenshotDir(t testing.TB) string {
	dir := os.Getenv("MOEGATE_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "moegate-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Browser is one headless chromium tab. Every message the page logs as an
// error, and every uncaught exception, is collected: see Errors.
type Browser struct {
	t       testing.TB
	ctx     context.Context
	Dir     string // screenshots
	Version string

	mu     sync.Mutex
	errors []string
}

// Start starts chromium with a fresh profile; it stops with the test.
func Start(t testing.TB) *Browser {
	t.Helper()
	chrome := ChromiumPath(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &Browser{t: t, ctx: ctx, Dir: ScreenshotDir(t)}
	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chrome, err)
	}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s %s:%d %s", m.Type, m.URL, m.Line+1, m.Text))
				b.mu.Unlock()
			}
		}
	}()
	if v, err := exec.Command(chrome, "--version").Output(); err == nil {
		b.Version = strings.TrimSpace(string(v))
	}
	return b
}

// Do runs actions, failing the test on error.
func (b *Browser) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.Errors())
	}
}

// Eval evaluates a JavaScript expression into out.
func (b *Browser) Eval(expr string, out any) {
	b.t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.t.Fatalf("evaluate %s: %v: %s", expr, err, raw)
	}
}

// Wait polls a JavaScript condition until it holds (45 s at most: the
// machine may be busy; a passing run waits far less).
func (b *Browser) Wait(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		var ok bool
		b.Eval("!!("+cond+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			b.Eval(`(document.getElementById('main') || document.body).innerText.slice(0, 2000)`, &body)
			b.t.Fatalf("timed out waiting for %s (%s)\npage: %s%s", what, cond, body, b.Errors())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Navigate opens url.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.Do("open "+url, chromedp.Navigate(url))
}

// GoTo opens a console page by its hash route ("experts", "requests/ID").
func (b *Browser) GoTo(page string) {
	b.t.Helper()
	b.Do("open "+page, chromedp.Evaluate[chromedp.Void](`location.hash = '#/`+page+`'`))
	b.Wait("page "+page, `document.querySelector('#nav-`+strings.Split(page, "/")[0]+`.active') || location.hash.startsWith('#/requests/')`)
}

// Set sets the value of the element sel finds.
func (b *Browser) Set(sel, value string) {
	b.t.Helper()
	b.Do("set "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

// Click clicks the element sel finds.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	b.Do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Text is the rendered text of the element sel finds ("" if none).
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	var s string
	b.Eval(`(document.querySelector(`+JS(sel)+`) || {}).innerText || ''`, &s)
	return s
}

// Upload chooses files in a file input.
func (b *Browser) Upload(sel string, files ...string) {
	b.t.Helper()
	b.Do("choose files", chromedp.SetUploadFiles(chromedp.CSS(sel), files))
}

// Shot saves a screenshot of the whole page under Dir.
func (b *Browser) Shot(name string) {
	b.t.Helper()
	time.Sleep(150 * time.Millisecond) // let charts paint
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir, name), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// ChartDrawn reports whether a canvas has a size and a Chart.js chart with
// at least one non-zero value.
func (b *Browser) ChartDrawn(id string) bool {
	var ok bool
	b.Eval(`(() => { const c = document.getElementById(`+JS(id)+`); if (!c) return false;
		const r = c.getBoundingClientRect(); const ch = Chart.getChart(c);
		return r.width > 0 && r.height > 0 && !!ch && ch.data.datasets.some(d => d.data.some(v => v > 0)); })()`, &ok)
	return ok
}

// Errors lists the page's console errors and exceptions so far, as a
// message suffix ("" when none).
func (b *Browser) Errors() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) == 0 {
		return ""
	}
	return "\nbrowser console errors:\n  " + strings.Join(b.errors, "\n  ")
}

// JS quotes s as a JavaScript string.
func JS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
