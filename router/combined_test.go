package router

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moegate/moegate/embed"
)

// conceptServer is an OpenAI-compatible embeddings endpoint whose vectors
// know synonyms: one dimension per concept, set by any of its words. It
// stands for a real embedding model, which knows that "funds" and "money"
// are near, where hashed word features do not.
func conceptServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	concepts := [][]string{
		{"money", "funds", "cash", "dollars", "savings", "checking", "account", "deposit"},
		{"flight", "plane", "airport", "hotel", "trip", "vacation", "journey", "airline"},
		{"recipe", "cook", "dinner", "oven", "bake", "meal", "kitchen", "lunch"},
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data := make([]map[string]any, len(req.Input))
		for i, s := range req.Input {
			v := make([]float32, len(concepts)+1)
			v[len(concepts)] = 0.1 // never a zero vector
			for _, word := range strings.Fields(strings.ToLower(s)) {
				for c, words := range concepts {
					for _, cw := range words {
						if word == cw {
							v[c]++
						}
					}
				}
			}
			data[i] = map[string]any{"object": "embedding", "index": i, "embedding": v}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// TestAnyEmbedder trains the router on a remote embedder's vectors alone
// and combined with the local features, and routes queries that share no
// word with the examples, which the dense block carries.
func TestAnyEmbedder(t *testing.T) {
	ctx := context.Background()
	srv, calls := conceptServer(t)
	remote := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "concepts", Dim: 4})
	var train []Example
	for _, q := range []string{"transfer money to my savings", "what is my checking account balance", "deposit a check", "how much money do i have"} {
		train = append(train, Example{Text: q, Expert: "banking"})
	}
	for _, q := range []string{"book a flight to paris", "find me a hotel in rome", "when does my plane leave", "plan a trip to spain"} {
		train = append(train, Example{Text: q, Expert: "travel"})
	}
	for _, q := range []string{"a recipe for lasagna", "what should i cook for dinner", "how long to bake bread", "ideas for a quick meal"} {
		train = append(train, Example{Text: q, Expert: "cooking"})
	}
	queries := map[string]string{ // no word in common with the examples
		"move funds between accounts": "banking",
		"airline journey next week":   "travel",
		"lunch for the kids please":   "cooking",
	}
	combined, err := NewCombined(embed.NewLocal(1<<12), remote, "concepts", 1)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Train: TrainOptions{NoNegatives: true, Augment: -1}}
	for _, tt := range []struct {
		name string
		emb  embed.Embedder
	}{{"remote", remote}, {"combined", combined}} {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLearned(tt.emb, opts)
			m, err := l.Train(ctx, train)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Install(m); err != nil {
				t.Fatal(err)
			}
			for q, want := range queries {
				d, err := l.Route(ctx, Query{Text: q, Candidates: m.InScope(), TopK: 1})
				if err != nil {
					t.Fatal(err)
				}
				if len(d.Experts) == 0 || d.Experts[0].Name != want {
					t.Errorf("%q: %+v, want %s", q, d, want)
				}
			}
		})
	}

	// The gateway's vector from the same endpoint is the dense block: no
	// second request.
	l := NewLearned(combined, opts)
	m, err := l.Train(ctx, train)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Install(m); err != nil {
		t.Fatal(err)
	}
	vs, err := remote.Embed(ctx, []string{"airline journey next week"})
	if err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	d, err := l.Route(ctx, Query{Text: "airline journey next week", Vector: vs[0], Candidates: m.InScope()})
	if err != nil || d.Default || d.Experts[0].Name != "travel" {
		t.Errorf("with the gateway's vector: %+v, %v", d, err)
	}
	if n := calls.Load() - before; n != 0 {
		t.Errorf("%d embedding requests for a query that carried its vector", n)
	}

	// A model of combined features is refused by a router of local ones.
	if err := NewLearned(embed.NewLocal(m.Dim), opts).Install(m); !errors.Is(err, ErrBadModel) {
		t.Errorf("local router installed a combined model: %v", err)
	}
	// An unreachable endpoint is an error, not a silent fallback.
	srv.Close()
	if _, err := l.Route(ctx, Query{Text: "book a hotel", Candidates: m.InScope()}); err == nil || !strings.Contains(err.Error(), "dense features") {
		t.Errorf("endpoint down: %v", err)
	}
	if _, err := NewCombined(embed.NewLocal(16), embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.URL}), "x", 1); err == nil {
		t.Error("combined features over an embedder of unknown dimension")
	}
}
