package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/retrieval"
	"github.com/moegate/moegate/router"
)

// embeddingsServer is an OpenAI-compatible /v1/embeddings endpoint whose
// vectors are the local features of each text. Texts containing its
// marker are answered as its mode says: "ok", "fail" (500) or "hang" (no
// answer until the caller gives up); with all set, every text is.
type embeddingsServer struct {
	*httptest.Server
	mode  atomic.Value // string
	all   atomic.Bool
	calls atomic.Int64
}

const failMarker = "zqxmarker"

func newEmbeddingsServer(t *testing.T) *embeddingsServer {
	s := &embeddingsServer{}
	s.mode.Store("ok")
	local := embed.NewLocal(64)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		var req struct {
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		affected := s.all.Load() || strings.Contains(strings.Join(req.Input, " "), failMarker)
		switch mode := s.mode.Load().(string); {
		case affected && mode == "fail":
			http.Error(w, `{"error":{"message":"model overloaded","type":"server_error"}}`, http.StatusInternalServerError)
			return
		case affected && mode == "hang":
			<-r.Context().Done()
			return
		}
		vecs, err := local.Embed(r.Context(), req.Input)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		type datum struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		out := struct {
			Object string  `json:"object"`
			Data   []datum `json:"data"`
			Model  string  `json:"model"`
		}{Object: "list", Model: "test-embed"}
		for i, v := range vecs {
			out.Data = append(out.Data, datum{Object: "embedding", Index: i, Embedding: v})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(s.Close)
	return s
}

// An embedder that fails or stalls does not take the gateway down: within
// the embed timeout a routed query goes to the default expert when the
// router reads the embedder's vectors, and is routed from its text when
// the router has its own features; a request by name is served without
// the semantic cache and retrieval; the embedder is skipped while it
// cools down; only a request that asked for retrieval fails. A router
// that embeds more of the conversation itself falls back the same way.
func TestEmbedderFailsOrStalls(t *testing.T) {
	ctx := context.Background()
	srv := newEmbeddingsServer(t)
	remote := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "test-embed", Dim: 64})
	reg := seededRegistry(t)
	store, err := retrieval.OpenEmbedded(t.TempDir(), 64, retrieval.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	onVectors := trainedRouter(t, remote, router.Options{})
	onText := trainedRouter(t, embed.NewLocal(router.LocalFeatureDim), router.Options{})
	const timeout = 300 * time.Millisecond
	newGateway := func(l router.Router) *Gateway {
		gw, err := New(Options{EmbedTimeout: timeout}, Deps{Registry: reg, Router: l, Embedder: remote,
			Limiter: policies.NewMemoryLimiter(), Retrieval: store, Cache: policies.NewMemoryCache(policies.CacheOptions{})})
		if err != nil {
			t.Fatal(err)
		}
		return gw
	}

	byName := func(text string) *Request {
		r := chat(text, policies.Extension{})
		r.Model = "travel"
		return r
	}
	withHistory := func(earlier, last string) *Request {
		r := chat(last, policies.Extension{})
		r.Chat.Messages = []experts.Message{{Role: "user", Content: earlier}, {Role: "assistant", Content: "sure"}, {Role: "user", Content: last}}
		return r
	}

	for _, mode := range []string{"fail", "hang"} {
		t.Run(mode, func(t *testing.T) {
			srv.mode.Store("ok")
			srv.all.Store(false)
			gw := newGateway(onVectors)
			p, err := gw.Plan(ctx, chat("book a flight to paris", policies.Extension{}))
			if err != nil || p.Info.Route.Default || p.Info.Route.Experts[0].Name != "travel" {
				t.Fatalf("healthy embedder: %+v, %v; want travel", p.Info.Route, err)
			}

			// The router's own embedding of the conversation fails: the
			// query's vector is fine, the earlier turn's is not.
			srv.mode.Store(mode)
			p, err = gw.Plan(ctx, withHistory("will it rain "+failMarker, "and tomorrow?"))
			if err != nil {
				t.Fatal(err)
			}
			if r := p.Info.Route; !r.Default || !strings.Contains(r.DefaultReason, "routing failed") || r.Experts[0].Name != "local" {
				t.Fatalf("router's embedding failed: %+v, want the default expert with the reason", r)
			}

			// Every call fails now: the first one is waited for (at
			// most the timeout), the next ones skipped at once.
			srv.all.Store(true)
			rctx, cancel := context.WithTimeout(ctx, 20*timeout)
			defer cancel()
			p, err = gw.Plan(rctx, chat("book a flight to paris", policies.Extension{}))
			if err != nil {
				t.Fatalf("routed, embedder down: %v (context %v)", err, rctx.Err())
			}
			if r := p.Info.Route; !r.Default || !strings.Contains(r.DefaultReason, "embedder failed") {
				t.Fatalf("routed, embedder down: %+v, want the default expert with the reason", r)
			}
			if r := p.Info.Retrieval; r.Used || !strings.Contains(r.Reason, "embedder failed") {
				t.Fatalf("routed, embedder down: retrieval %+v, want unused with the reason", r)
			}
			calls := srv.calls.Load()
			p, err = gw.Plan(rctx, byName("find a hotel in rome"))
			if err != nil {
				t.Fatalf("by name, embedder down: %v", err)
			}
			res, err := gw.Execute(rctx, p, nil)
			if err != nil {
				t.Fatalf("by name, embedder down: %v", err)
			}
			if !strings.HasPrefix(res.Response.Content, "travel: ") || !strings.Contains(res.Info.Cache.Reason, "exact matches only") {
				t.Fatalf("by name, embedder down: %q, cache %+v", res.Response.Content, res.Info.Cache)
			}
			if got := srv.calls.Load(); got != calls {
				t.Fatalf("the embedder was called %d times while cooling down", got-calls)
			}
			// A router on its own features routes from the text.
			p, err = newGateway(onText).Plan(rctx, chat("book a flight to paris", policies.Extension{}))
			if err != nil || p.Info.Route.Default || p.Info.Route.Experts[0].Name != "travel" {
				t.Fatalf("router on its own features, embedder down: %+v, %v; want travel", p.Info.Route, err)
			}
			if r := p.Info.Retrieval; r.Used || !strings.Contains(r.Reason, "embedder failed") {
				t.Fatalf("router on its own features, embedder down: retrieval %+v, want unused with the reason", r)
			}
			_, err = gw.Plan(rctx, chat("book a flight to paris", policies.Extension{Retrieval: policies.RetrievalAlways}))
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != "embedding_failed" || e.Kind != errs.UpstreamFailed {
				t.Fatalf("retrieval always, embedder down: %v, want embedding_failed", err)
			}
		})
	}
}
