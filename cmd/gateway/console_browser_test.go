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
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moegate/moegate/config"
	"github.com/moegate/moegate/internal/browsertest"
	"github.com/moegate/moegate/internal/units"
)

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

	b := browsertest.Start(t)
	t.Logf("browser: %s; screenshots in %s", b.Version, b.Dir)

	// Sign in with the admin token.
	b.Navigate(srv.URL + "/ui/")
	b.Wait("sign-in form", `document.getElementById('token')`)
	b.Shot("01-signin.png")
	b.Set("#token", admin)
	b.Click("#signin-btn")
	b.Wait("admin navigation", `document.getElementById('nav-experts')`)
	if who := b.Text("#who"); who != "admin" {
		t.Fatalf("signed in as %q", who)
	}

	// Add an expert and see it listed.
	b.GoTo("experts")
	b.Wait("experts table", `document.getElementById('experts-table')`)
	b.Set("#ex-name", "banking")
	b.Set("#ex-kind", "openai")
	b.Set("#ex-url", upstream.URL+"/v1")
	b.Set("#ex-model", "bank-model")
	b.Set("#ex-desc", "Banking: accounts, balances, cards, transfers.")
	b.Set("#ex-examples", strings.Join([]string{"what is my account balance", "how much money is in my checking account", "transfer 100 euros to my savings",
		"my card was declined", "order a new debit card", "what are the fees for a wire transfer", "show my last transactions", "increase my credit card limit"}, "\n"))
	b.Click("#ex-add")
	b.Wait("banking listed", `[...document.querySelectorAll('#experts-table .expert-name')].some(e => e.textContent.startsWith('banking'))`)
	b.Shot("02-experts.png")
	var stale bool
	b.Eval(`!!document.getElementById('ch-rps') || !!document.getElementById('stats')`, &stale)
	if stale {
		t.Fatal("the overview, still loading when the experts page opened, rendered into it")
	}
	// Disable and enable travel; edit its description (its examples stay).
	b.Click("#toggle-travel")
	b.Wait("travel disabled", `document.getElementById('status-travel').textContent === 'disabled'`)
	b.Click("#toggle-travel")
	b.Wait("travel enabled", `document.getElementById('status-travel').textContent.startsWith('ok')`)
	b.Click("#edit-travel")
	b.Wait("expert editor", `document.getElementById('expert-edit')`)
	b.Set("#expert-edit #ex-desc", "Travel: flights, hotels, trains, car rental, visas.")
	b.Click("#ex-save")
	b.Wait("editor closed", `!document.getElementById('expert-editor')`)
	if sp := gatewayCall(t, "GET", srv.URL+"/admin/experts/travel", admin, nil); !strings.HasSuffix(sp["description"].(string), "visas.") ||
		len(sp["examples"].([]any)) != len(travel) || sp["base_url"] != upstream.URL+"/v1" {
		t.Fatalf("edited spec: %v", sp)
	}

	// The router retrains with both in the background (after each change).
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := gatewayCall(t, "GET", srv.URL+"/admin/console/router", admin, nil)
		if m, ok := r["model"].(map[string]any); ok && slices.Contains(m["experts"].([]any), any("banking")) && slices.Contains(m["experts"].([]any), any("travel")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router never trained with banking and travel: %v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Playground: the dry run shows the decision and the probabilities.
	b.GoTo("playground")
	b.Set("#pg-message", "What is the balance of my checking account?")
	b.Click("#pg-dry")
	b.Wait("decision", `document.getElementById('pg-decision')`)
	if chosen := b.Text("#pg-chosen"); !strings.Contains(chosen, "banking") {
		t.Fatalf("chosen experts: %q (decision: %s)", chosen, b.Text("#pg-decision"))
	}
	b.Wait("probability bar chart", `Chart.getChart('pg-probs')`)
	if !b.ChartDrawn("pg-probs") {
		t.Fatal("the probability bar chart is empty or has no size")
	}
	if txt := b.Text("#pg-retrieval-decision"); !strings.Contains(txt, "mode auto") {
		t.Fatalf("retrieval decision: %q", txt)
	}
	b.Shot("03-playground-dry-run.png")
	// ... and sent for real: the answer and each expert's latency.
	b.Click("#pg-send")
	b.Wait("answer", `document.getElementById('pg-answer-text')`)
	if ans := b.Text("#pg-answer-text"); ans != "Your balance is 42 euros." {
		t.Fatalf("answer: %q", ans)
	}
	if calls := b.Text("#pg-calls"); !strings.Contains(calls, "banking") || !strings.Contains(calls, "ok") {
		t.Fatalf("expert calls: %q", calls)
	}
	b.Shot("04-playground-answer.png")
	var adminRequest string
	b.Eval(`document.querySelector('#pg-answer-card p.muted').textContent.split(' ')[1]`, &adminRequest)
	// An opt-out: banking excluded, with the reason shown.
	b.Click(`.pg-exclude[value="banking"]`)
	b.Click("#pg-dry")
	b.Wait("exclusion", `document.getElementById('pg-excluded') && document.getElementById('pg-excluded').textContent.includes('banking')`)
	if chosen := b.Text("#pg-chosen"); strings.Contains(chosen, "banking") {
		t.Fatalf("an excluded expert was chosen: %q", chosen)
	}
	b.Shot("04b-playground-opt-out.png")
	b.Click(`.pg-exclude[value="banking"]`)

	// The request is in the list; its row opens the moegate object.
	b.GoTo("requests")
	b.Wait("request list", `document.getElementById('requests-table')`)
	if rows := b.Text("#requests-table"); !strings.Contains(rows, adminRequest) || !strings.Contains(rows, "banking") {
		t.Fatalf("request %s not listed: %q", adminRequest, rows)
	}
	b.Shot("05-requests.png")
	b.Click("#requests-table tbody tr")
	b.Wait("request detail", `document.getElementById('request-moegate')`)
	if mg := b.Text("#request-moegate"); !strings.Contains(mg, `"request_id": "`+adminRequest+`"`) {
		t.Fatalf("moegate object: %.500s", mg)
	}
	b.Shot("06-request-detail.png")

	// The overview's charts have data.
	b.GoTo("overview")
	b.Wait("overview charts", `Chart.getChart('ch-routing')`)
	for _, id := range []string{"ch-rps", "ch-latency", "ch-tokens", "ch-routing"} {
		if !b.ChartDrawn(id) {
			t.Fatalf("overview chart %s is empty", id)
		}
	}
	b.Shot("07-overview.png")

	// Router quality: model and a held-out evaluation.
	b.GoTo("router")
	b.Wait("router model", `document.getElementById('router-model')`)
	b.Click("#evaluate")
	b.Wait("confusion matrix", `document.getElementById('confusion')`)
	if pe := b.Text("#per-expert"); !strings.Contains(pe, "banking") || !strings.Contains(pe, "travel") {
		t.Fatalf("per-expert quality: %q", pe)
	}
	b.Shot("08-router-quality.png")

	// Knowledge: paste a document, see it listed, search it. A hostile title
	// is shown as text, never run.
	const hostile = `<img src=x onerror="window.__xss=1">`
	gatewayCall(t, "POST", srv.URL+"/admin/knowledge", admin, map[string]any{"id": "hostile", "title": hostile, "text": "Nothing to see here."})
	b.GoTo("knowledge")
	b.Wait("hostile title shown as text", `document.getElementById('docs-table') && document.getElementById('docs-table').textContent.includes(`+browsertest.JS(hostile)+`)`)
	var injected bool
	b.Eval(`!!window.__xss || !!document.querySelector('#docs-table img')`, &injected)
	if injected {
		t.Fatal("a document title was rendered as HTML")
	}
	b.Wait("documents", `document.getElementById('docs').textContent.includes('Documents')`)
	b.Set("#kn-id", "fees")
	b.Set("#kn-title", "Fees")
	b.Set("#kn-text", "Wire transfers cost five euros each. Card payments abroad are free of charge.")
	b.Click("#kn-add")
	b.Wait("document listed", `document.getElementById('docs-table') && document.getElementById('docs-table').textContent.includes('fees')`)
	// ... and upload one.
	upload := filepath.Join(t.TempDir(), "Card-Limits.md")
	if err := os.WriteFile(upload, []byte("# Card limits\n\nThe daily card spending limit is 2000 euros."), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Upload("#kn-file", upload)
	b.Wait("file read", `document.getElementById('kn-text').value.includes('2000 euros')`)
	b.Click("#kn-add")
	b.Wait("uploaded document listed", `document.getElementById('docs-table') && document.getElementById('docs-table').textContent.includes('card-limits.md')`)
	b.Set("#kn-query", "how much does a wire transfer cost")
	b.Click("#kn-search")
	b.Wait("passages", `document.getElementById('kn-hits').textContent.includes('five euros')`)
	b.Shot("09-knowledge.png")

	// Tenants: create one; its key is shown once.
	b.GoTo("tenants")
	b.Wait("tenants table", `document.getElementById('tenants-table')`)
	b.Set("#tn-name", "acme")
	b.Set("#tn-rpm", "600")
	b.Click("#tn-add")
	b.Wait("tenant key", `document.getElementById('tn-key')`)
	key := b.Text("#tn-key")
	b.Wait("acme listed", `document.getElementById('tenants-table').textContent.includes('acme')`)
	b.Shot("10-tenants.png")

	// The tenant's own traffic, then its own view.
	acme := gatewayCall(t, "POST", srv.URL+"/v1/chat/completions", key, map[string]any{"model": "auto",
		"messages": []map[string]string{{"role": "user", "content": "book a flight to Rome for next week"}}})
	acmeRequest := acme["moegate"].(map[string]any)["request_id"].(string)
	b.Click("#signout")
	b.Wait("sign-in form again", `document.getElementById('token')`)
	b.Set("#token", key)
	b.Click("#signin-btn")
	b.Wait("tenant navigation", `document.getElementById('nav-overview')`)
	if who := b.Text("#who"); who != "tenant acme" {
		t.Fatalf("signed in as %q", who)
	}
	var adminPages bool
	b.Eval(`['experts','router','knowledge'].some(p => document.getElementById('nav-' + p))`, &adminPages)
	if adminPages {
		t.Fatal("a tenant sees admin pages")
	}
	b.Wait("tenant overview", `Chart.getChart('ch-routing')`)
	if stats := b.Text("#stats"); !strings.HasPrefix(stats, "1\n") {
		t.Fatalf("tenant overview counts others' requests: %q", stats)
	}
	b.Shot("11-tenant-overview.png")
	b.GoTo("requests")
	b.Wait("tenant request list", `document.getElementById('requests-table')`)
	var tenantsShown []string
	b.Eval(`[...document.querySelectorAll('#requests-table tbody tr')].map(r => r.children[2].textContent)`, &tenantsShown)
	if len(tenantsShown) != 1 || tenantsShown[0] != "acme" {
		t.Fatalf("the tenant sees requests of %v", tenantsShown)
	}
	if rows := b.Text("#requests-table"); !strings.Contains(rows, acmeRequest) || strings.Contains(rows, adminRequest) {
		t.Fatalf("tenant request list: %q", rows)
	}
	b.Shot("12-tenant-requests.png")
	b.GoTo("playground")
	b.Set("#pg-message", "find me a hotel in Paris")
	b.Click("#pg-dry")
	b.Wait("tenant decision", `document.getElementById('pg-decision')`)
	if d := b.Text("#pg-decision"); !strings.Contains(d, "tenant acme") {
		t.Fatalf("tenant dry run: %q", d)
	}
	b.Shot("13-tenant-playground.png")
	b.GoTo("tenants")
	b.Wait("own usage", `document.getElementById('own-usage-table')`)
	b.Shot("14-tenant-usage.png")

	if errs := b.Errors(); errs != "" {
		t.Fatal(errs)
	}
	t.Logf("console browser test took %s", time.Since(start).Round(time.Millisecond))
}
