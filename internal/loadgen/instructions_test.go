package loadgen

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The same seed asks the same questions (two builds are compared on them),
// another seed others; each is a chat request of the given model.
func TestSeededQuestions(t *testing.T) {
	specs := expertSpecs(10, "")
	ask := func(seed uint64, stream bool) []string {
		q := rand.New(rand.NewPCG(seed, questionStream))
		var out []string
		for range 50 {
			out = append(out, string(chatBody(q, specs, "auto", stream)))
		}
		return out
	}
	a, b, c := ask(1, false), ask(1, false), ask(2, false)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("question %d differs with the same seed:\n%s\n%s", i, a[i], b[i])
		}
		if a[i] == c[i] {
			t.Fatalf("question %d is the same with another seed: %s", i, a[i])
		}
	}
	for _, stream := range []bool{false, true} {
		var req struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct{ Role, Content string }
		}
		if err := json.Unmarshal([]byte(ask(3, stream)[0]), &req); err != nil {
			t.Fatal(err)
		}
		if req.Model != "auto" || req.Stream != stream || len(req.Messages) != 1 || req.Messages[0].Content == "" {
			t.Fatalf("request %+v, want model auto, stream %v and one message", req, stream)
		}
	}
}

func TestCallgrindTotal(t *testing.T) {
	for _, tt := range []struct {
		name string
		dump string
		want int64
		ok   bool
	}{
		{"complete", "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=main\n3 120\nsummary: 134000000\n\ntotals: 133974107\n", 133974107, true},
		{"still being written", "version: 1\nevents: Ir\nfn=main\n3 120\n", 0, false},
		{"empty", "", 0, false},
		{"malformed total", "totals: lots\n", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := callgrindTotal([]byte(tt.dump))
			if got != tt.want || ok != tt.ok {
				t.Fatalf("callgrindTotal = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestMoegateOf(t *testing.T) {
	const info = `{"route":{"router":"learned","experts":[{"name":"law","weight":1}]},"cache":{"hit":true}}`
	for _, tt := range []struct {
		name   string
		body   string
		stream bool
		err    string
	}{
		{"answer", `{"id":"x","choices":[],"moegate":` + info + `}`, false, ""},
		{"answer without moegate", `{"id":"x","choices":[]}`, false, "no moegate object"},
		{"stream", "data: {\"choices\":[]}\n\ndata: {\"moegate\":" + info + "}\n\ndata: [DONE]\n\n", true, ""},
		{"stream cut short", "data: {\"moegate\":" + info + "}\n\n", true, "without [DONE]"},
		{"stream without moegate", "data: {\"choices\":[]}\n\ndata: [DONE]\n\n", true, "without a moegate object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := moegateOf([]byte(tt.body), tt.stream)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !m.Cache.Hit || !strings.Contains(string(m.Route), `"law"`) {
				t.Fatalf("read %s, cache hit %v", m.Route, m.Cache.Hit)
			}
		})
	}
}

// askAll refuses an answer that is not a 200 with a moegate object, and
// writes each answer's route after its label and number.
func TestAskAll(t *testing.T) {
	var answers atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answers.Add(1) > 3 {
			http.Error(w, `{"error":{"message":"overloaded"}}`, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"moegate":{"route":{"router":"learned"},"cache":{"hit":false}}}`))
	}))
	defer srv.Close()
	specs := expertSpecs(10, "")
	var routes strings.Builder
	q := rand.New(rand.NewPCG(1, questionStream))
	if _, err := askAll(context.Background(), newClient(1), srv.URL, q, specs, "auto", false, 3, &routes, "auto"); err != nil {
		t.Fatal(err)
	}
	want := "auto 0 {\"router\":\"learned\"} cache=false\nauto 1 {\"router\":\"learned\"} cache=false\nauto 2 {\"router\":\"learned\"} cache=false\n"
	if routes.String() != want {
		t.Fatalf("routes:\n%s\nwant:\n%s", routes.String(), want)
	}
	_, err := askAll(context.Background(), newClient(1), srv.URL, q, specs, "auto", false, 1, nil, "")
	if err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("error %v, want the 503", err)
	}
}

// Without valgrind the benchmark fails at once, saying what to install.
func TestInstructionsNeedsValgrind(t *testing.T) {
	_, err := Instructions(context.Background(), InstructionsConfig{Binary: "/bin/false", Valgrind: "/nonexistent/valgrind"})
	if err == nil || !strings.Contains(err.Error(), "apt-get install valgrind") {
		t.Fatalf("error %v, want one naming valgrind and how to install it", err)
	}
}
