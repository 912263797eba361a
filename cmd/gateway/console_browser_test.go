package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/moegate/moegate/config"
	"github.com/moegate/moegate/internal/units"
)

// chromiumPath finds Debian's chromium (or MOEGATE_CHROMIUM). The console's
// browser tests fail, not skip, without it: scripts/test.sh installs it.
func chromiumPath(t *testing.T) string {
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

// screenshotDir is where the console's screenshots go: MOEGATE_SCREENSHOT_DIR,
// or a fixed directory under the system's temporary directory.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("MOEGATE_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "moegate-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fakeUpstream is an OpenAI-compatible expert that answers at once.
func fakeUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Model string `json:"model"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Your balance is 42 euros."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}`, req.Model)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string

	mu     sync.Mutex
	errors []string
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.consoleErrors())
	}
}

func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.t.Fatalf("evaluate %s: %v: %s", expr, err, raw)
	}
}

// wait polls a JavaScript condition until it holds.
func (b *browser) wait(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		b.eval("!!("+cond+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			b.eval(`document.getElementById('main').innerText.slice(0, 2000)`, &body)
			b.t.Fatalf("timed out waiting for %s (%s)\npage: %s%s", what, cond, body, b.consoleErrors())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) goTo(page string) {
	b.t.Helper()
	b.do("open "+page, chromedp.Evaluate[chromedp.Void](`location.hash = '#/`+page+`'`))
	b.wait("page "+page, `document.querySelector('#nav-`+strings.Split(page, "/")[0]+`.active') || location.hash.startsWith('#/requests/')`)
}

func (b *browser) set(sel, value string) {
	b.t.Helper()
	b.do("set "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.eval(`(document.querySelector(`+jsString(sel)+`) || {}).innerText || ''`, &s)
	return s
}

func (b *browser) shot(name string) {
	b.t.Helper()
	time.Sleep(150 * time.Millisecond) // let charts paint
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// canvasDrawn reports whether a canvas has a size and a Chart.js chart with
// at least one non-zero value.
func (b *browser) canvasDrawn(id string) bool {
	var ok bool
	b.eval(`(() => { const c = document.getElementById(`+jsString(id)+`); if (!c) return false;
		const r = c.getBoundingClientRect(); const ch = Chart.getChart(c);
		return r.width > 0 && r.height > 0 && !!ch && ch.data.datasets.some(d => d.data.some(v => v > 0)); })()`, &ok)
	return ok
}

func (b *browser) consoleErrors() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) == 0 {
		return ""
	}
	return "\nbrowser console errors:\n  " + strings.Join(b.errors, "\n  ")
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// gatewayCall is an API call made outside the browser.
func gatewayCall(t *testing.T, method, url, token string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &m)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	return m
}

// TestConsoleInBrowser drives the web console in headless Chromium against
// the gateway as `serve` wires it: sign in, add an expert, the playground's
// dry run and real request, the request list, the overview's charts, router
// quality, knowledge, tenants, and a tenant's own view; any error in the
// browser's console fails the test. Screenshots of each page go to
// MOEGATE_SCREENSHOT_DIR (default $TMPDIR/moegate-console-screenshots).
func TestConsoleInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	start := time.Now()
	upstream := fakeUpstream(t)

	const admin = "console-admin-token"
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AdminToken = admin
	cfg.Auth = "keys"
	cfg.Router.RetrainDebounce = units.Duration(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := build(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	srv := httptest.NewServer(g.handler)
	defer srv.Close()

	// A second domain expert, added through the API; the first is added in
	// the browser.
	var travel []string
	for _, s := range []string{"book a flight to Rome", "find a hotel in Paris", "cheap train tickets to Berlin", "rent a car at the airport",
		"what is the baggage allowance on my flight", "cancel my hotel booking", "best time to visit Japan", "change my flight date"} {
		travel = append(travel, s)
	}
	gatewayCall(t, "POST", srv.URL+"/admin/experts", admin, map[string]any{"name": "travel", "kind": "openai", "base_url": upstream.URL + "/v1",
		"model": "travel-model", "description": "Travel: flights, hotels, trains, car rental.", "examples": travel})

	dir := screenshotDir(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	b := &browser{t: t, ctx: bctx, base: srv.URL, dir: dir}
	messages := chromedp.Console(bctx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
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
	var version string
	if v, err := exec.Command(chrome, "--version").Output(); err == nil {
		version = strings.TrimSpace(string(v))
	}
	t.Logf("browser: %s; screenshots in %s", version, dir)

	// Sign in with the admin token.
	b.do("open the console", chromedp.Navigate(srv.URL+"/ui/"))
	b.wait("sign-in form", `document.getElementById('token')`)
	b.shot("01-signin.png")
	b.set("#token", admin)
	b.click("#signin-btn")
	b.wait("admin navigation", `document.getElementById('nav-experts')`)
	if who := b.text("#who"); who != "admin" {
		t.Fatalf("signed in as %q", who)
	}

	// Add an expert and see it listed.
	b.goTo("experts")
	b.wait("experts table", `document.getElementById('experts-table')`)
	b.set("#ex-name", "banking")
	b.set("#ex-kind", "openai")
	b.set("#ex-url", upstream.URL+"/v1")
	b.set("#ex-model", "bank-model")
	b.set("#ex-desc", "Banking: accounts, balances, cards, transfers.")
	b.set("#ex-examples", strings.Join([]string{"what is my account balance", "how much money is in my checking account", "transfer 100 euros to my savings",
		"my card was declined", "order a new debit card", "what are the fees for a wire transfer", "show my last transactions", "increase my credit card limit"}, "\n"))
	b.click("#ex-add")
	b.wait("banking listed", `[...document.querySelectorAll('#experts-table .expert-name')].some(e => e.textContent.startsWith('banking'))`)
	b.shot("02-experts.png")
	// Disable and enable travel; edit its description (its examples stay).
	b.click("#toggle-travel")
	b.wait("travel disabled", `document.getElementById('status-travel').textContent === 'disabled'`)
	b.click("#toggle-travel")
	b.wait("travel enabled", `document.getElementById('status-travel').textContent === 'ok'`)
	b.click("#edit-travel")
	b.wait("expert editor", `document.getElementById('expert-edit')`)
	b.set("#expert-edit #ex-desc", "Travel: flights, hotels, trains, car rental, visas.")
	b.click("#ex-save")
	b.wait("editor closed", `!document.getElementById('expert-editor')`)
	if sp := gatewayCall(t, "GET", srv.URL+"/admin/experts/travel", admin, nil); !strings.HasSuffix(sp["description"].(string), "visas.") ||
		len(sp["examples"].([]any)) != len(travel) || sp["base_url"] != upstream.URL+"/v1" {
		t.Fatalf("edited spec: %v", sp)
	}

	// The router retrains with it in the background.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := gatewayCall(t, "GET", srv.URL+"/admin/console/router", admin, nil)
		if m, ok := r["model"].(map[string]any); ok && slices.Contains(m["experts"].([]any), any("banking")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router never trained with banking: %v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Playground: the dry run shows the decision and the probabilities.
	b.goTo("playground")
	b.set("#pg-message", "What is the balance of my checking account?")
	b.click("#pg-dry")
	b.wait("decision", `document.getElementById('pg-decision')`)
	if chosen := b.text("#pg-chosen"); !strings.Contains(chosen, "banking") {
		t.Fatalf("chosen experts: %q (decision: %s)", chosen, b.text("#pg-decision"))
	}
	b.wait("probability bar chart", `Chart.getChart('pg-probs')`)
	if !b.canvasDrawn("pg-probs") {
		t.Fatal("the probability bar chart is empty or has no size")
	}
	if txt := b.text("#pg-retrieval-decision"); !strings.Contains(txt, "mode auto") {
		t.Fatalf("retrieval decision: %q", txt)
	}
	b.shot("03-playground-dry-run.png")
	// ... and sent for real: the answer and each expert's latency.
	b.click("#pg-send")
	b.wait("answer", `document.getElementById('pg-answer-text')`)
	if ans := b.text("#pg-answer-text"); ans != "Your balance is 42 euros." {
		t.Fatalf("answer: %q", ans)
	}
	if calls := b.text("#pg-calls"); !strings.Contains(calls, "banking") || !strings.Contains(calls, "ok") {
		t.Fatalf("expert calls: %q", calls)
	}
	b.shot("04-playground-answer.png")
	var adminRequest string
	b.eval(`document.querySelector('#pg-answer-card p.muted').textContent.split(' ')[1]`, &adminRequest)
	// An opt-out: banking excluded, with the reason shown.
	b.click(`.pg-exclude[value="banking"]`)
	b.click("#pg-dry")
	b.wait("exclusion", `document.getElementById('pg-excluded') && document.getElementById('pg-excluded').textContent.includes('banking')`)
	if chosen := b.text("#pg-chosen"); strings.Contains(chosen, "banking") {
		t.Fatalf("an excluded expert was chosen: %q", chosen)
	}
	b.shot("04b-playground-opt-out.png")
	b.click(`.pg-exclude[value="banking"]`)

	// The request is in the list; its row opens the moegate object.
	b.goTo("requests")
	b.wait("request list", `document.getElementById('requests-table')`)
	if rows := b.text("#requests-table"); !strings.Contains(rows, adminRequest) || !strings.Contains(rows, "banking") {
		t.Fatalf("request %s not listed: %q", adminRequest, rows)
	}
	b.shot("05-requests.png")
	b.click("#requests-table tbody tr")
	b.wait("request detail", `document.getElementById('request-moegate')`)
	if mg := b.text("#request-moegate"); !strings.Contains(mg, `"request_id": "`+adminRequest+`"`) {
		t.Fatalf("moegate object: %.500s", mg)
	}
	b.shot("06-request-detail.png")

	// The overview's charts have data.
	b.goTo("overview")
	b.wait("overview charts", `Chart.getChart('ch-routing')`)
	for _, id := range []string{"ch-rps", "ch-latency", "ch-tokens", "ch-routing"} {
		if !b.canvasDrawn(id) {
			t.Fatalf("overview chart %s is empty", id)
		}
	}
	b.shot("07-overview.png")

	// Router quality: model and a held-out evaluation.
	b.goTo("router")
	b.wait("router model", `document.getElementById('router-model')`)
	b.click("#evaluate")
	b.wait("confusion matrix", `document.getElementById('confusion')`)
	if pe := b.text("#per-expert"); !strings.Contains(pe, "banking") || !strings.Contains(pe, "travel") {
		t.Fatalf("per-expert quality: %q", pe)
	}
	b.shot("08-router-quality.png")

	// Knowledge: paste a document, see it listed, search it. A hostile title
	// is shown as text, never run.
	const hostile = `<img src=x onerror="window.__xss=1">`
	gatewayCall(t, "POST", srv.URL+"/admin/knowledge", admin, map[string]any{"id": "hostile", "title": hostile, "text": "Nothing to see here."})
	b.goTo("knowledge")
	b.wait("hostile title shown as text", `document.getElementById('docs-table') && document.getElementById('docs-table').textContent.includes(`+jsString(hostile)+`)`)
	var injected bool
	b.eval(`!!window.__xss || !!document.querySelector('#docs-table img')`, &injected)
	if injected {
		t.Fatal("a document title was rendered as HTML")
	}
	b.wait("documents", `document.getElementById('docs').textContent.includes('Documents')`)
	b.set("#kn-id", "fees")
	b.set("#kn-title", "Fees")
	b.set("#kn-text", "Wire transfers cost five euros each. Card payments abroad are free of charge.")
	b.click("#kn-add")
	b.wait("document listed", `document.getElementById('docs-table') && document.getElementById('docs-table').textContent.includes('fees')`)
	// ... and upload one.
	upload := filepath.Join(t.TempDir(), "Card-Limits.md")
	if err := os.WriteFile(upload, []byte("# Card limits\n\nThe daily card spending limit is 2000 euros."), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("choose a file", chromedp.SetUploadFiles(chromedp.CSS("#kn-file"), []string{upload}))
	b.wait("file read", `document.getElementById('kn-text').value.includes('2000 euros')`)
	b.click("#kn-add")
	b.wait("uploaded document listed", `document.getElementById('docs-table') && document.getElementById('docs-table').textContent.includes('card-limits.md')`)
	b.set("#kn-query", "how much does a wire transfer cost")
	b.click("#kn-search")
	b.wait("passages", `document.getElementById('kn-hits').textContent.includes('five euros')`)
	b.shot("09-knowledge.png")

	// Tenants: create one; its key is shown once.
	b.goTo("tenants")
	b.wait("tenants table", `document.getElementById('tenants-table')`)
	b.set("#tn-name", "acme")
	b.set("#tn-rpm", "600")
	b.click("#tn-add")
	b.wait("tenant key", `document.getElementById('tn-key')`)
	key := b.text("#tn-key")
	b.wait("acme listed", `document.getElementById('tenants-table').textContent.includes('acme')`)
	b.shot("10-tenants.png")

	// The tenant's own traffic, then its own view.
	acme := gatewayCall(t, "POST", srv.URL+"/v1/chat/completions", key, map[string]any{"model": "auto",
		"messages": []map[string]string{{"role": "user", "content": "book a flight to Rome for next week"}}})
	acmeRequest := acme["moegate"].(map[string]any)["request_id"].(string)
	b.click("#signout")
	b.wait("sign-in form again", `document.getElementById('token')`)
	b.set("#token", key)
	b.click("#signin-btn")
	b.wait("tenant navigation", `document.getElementById('nav-overview')`)
	if who := b.text("#who"); who != "tenant acme" {
		t.Fatalf("signed in as %q", who)
	}
	var adminPages bool
	b.eval(`['experts','router','knowledge'].some(p => document.getElementById('nav-' + p))`, &adminPages)
	if adminPages {
		t.Fatal("a tenant sees admin pages")
	}
	b.wait("tenant overview", `Chart.getChart('ch-routing')`)
	if stats := b.text("#stats"); !strings.HasPrefix(stats, "1\n") {
		t.Fatalf("tenant overview counts others' requests: %q", stats)
	}
	b.shot("11-tenant-overview.png")
	b.goTo("requests")
	b.wait("tenant request list", `document.getElementById('requests-table')`)
	var tenantsShown []string
	b.eval(`[...document.querySelectorAll('#requests-table tbody tr')].map(r => r.children[2].textContent)`, &tenantsShown)
	if len(tenantsShown) != 1 || tenantsShown[0] != "acme" {
		t.Fatalf("the tenant sees requests of %v", tenantsShown)
	}
	if rows := b.text("#requests-table"); !strings.Contains(rows, acmeRequest) || strings.Contains(rows, adminRequest) {
		t.Fatalf("tenant request list: %q", rows)
	}
	b.shot("12-tenant-requests.png")
	b.goTo("playground")
	b.set("#pg-message", "find me a hotel in Paris")
	b.click("#pg-dry")
	b.wait("tenant decision", `document.getElementById('pg-decision')`)
	if d := b.text("#pg-decision"); !strings.Contains(d, "tenant acme") {
		t.Fatalf("tenant dry run: %q", d)
	}
	b.shot("13-tenant-playground.png")
	b.goTo("tenants")
	b.wait("own usage", `document.getElementById('own-usage-table')`)
	b.shot("14-tenant-usage.png")

	if errs := b.consoleErrors(); errs != "" {
		t.Fatal(errs)
	}
	t.Logf("console browser test took %s", time.Since(start).Round(time.Millisecond))
}
