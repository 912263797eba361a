package console_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moegate/moegate/internal/browsertest"
)

// TestTeacherInBrowser reviews the router's labels in the console (the
// teacher's label is listed, an admin adds one and deletes it) and
// approves teacher-written examples for an expert.
func TestTeacherInBrowser(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	b := browsertest.Start(t)
	b.Navigate(srv.URL + "/ui/")
	b.Wait("sign-in form", `document.getElementById('token')`)
	b.Set("#token", adminToken)
	b.Click("#signin-btn")
	b.Wait("admin navigation", `document.getElementById('nav-router')`)
	b.GoTo("router")
	b.Wait("labels", `document.getElementById('labels-table') && document.getElementById('labels-table').textContent.includes('lost my card abroad')`)
	b.Set("#lb-text", "renew my passport")
	b.Set("#lb-expert", "")
	b.Click("#lb-add")
	b.Wait("label added", `document.getElementById('labels-table').textContent.includes('renew my passport')`)
	if row := b.Text("#labels-table tbody tr"); row == "" || !strings.Contains(row, "admin") || !strings.Contains(row, "(default)") {
		t.Fatalf("newest label row: %q", row)
	}
	b.Shot("15-router-labels.png")
	b.Click("#labels-table tbody tr button.danger")
	b.Wait("label deleted", `!document.getElementById('labels-table').textContent.includes('renew my passport')`)

	b.GoTo("experts")
	b.Wait("experts table", `document.getElementById('experts-table')`)
	b.Click("#edit-travel")
	b.Wait("expert editor", `document.getElementById('expert-edit')`)
	b.Click("#suggest")
	b.Wait("suggestions", `document.getElementById('suggest-approve')`)
	b.Shot("16-teacher-examples.png")
	b.Click(`#suggestions input[value="travel question 2"]`) // untick one
	b.Click("#suggest-approve")
	var examples string
	b.Eval(`document.querySelector('#expert-edit #ex-examples').value`, &examples)
	if !strings.Contains(examples, "travel question 1") || strings.Contains(examples, "travel question 2") || !strings.Contains(examples, "book a flight to rome one") {
		t.Fatalf("examples after approval: %q", examples)
	}
	if errs := b.Errors(); errs != "" {
		t.Fatal(errs)
	}
}
