package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Failed requests are counted by reason, and the table says why.
func TestErrorReasons(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "too busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	tgt := &target{url: srv.URL, body: func() []byte { return []byte(`{}`) }}
	c := newClient(2)
	const want = "503 Service Unavailable: too busy"
	for name, s := range map[string]sample{
		"closed": closedLoop(context.Background(), c, tgt, 2, 50*time.Millisecond),
		"open":   openLoop(context.Background(), c, tgt, 200, 50*time.Millisecond),
	} {
		if s.errors == 0 || s.n != 0 || s.reasons[want] != s.errors || len(s.reasons) != 1 {
			t.Fatalf("%s loop: %d errors, %d answers, reasons %v", name, s.errors, s.n, s.reasons)
		}
	}
	rep := &Report{Rows: []Row{{Setup: "moegate auto", Errors: 3, ErrorReasons: map[string]int{want: 2, "EOF": 1}}}}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "errors of moegate auto: 2× "+want+"\nerrors of moegate auto: 1× EOF\n") {
		t.Fatalf("table:\n%s", b.String())
	}
}
