package gateway

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/retrieval"
	"github.com/moegate/moegate/router"
)

// opaque hides that an embedder is embed.Local, so the gateway cannot
// share its pass with the router.
type opaque struct{ embed.Embedder }

// seeing is a learned router that remembers the features and the vector
// it was given (the vector is the gateway's only until routing is done).
type seeing struct {
	*router.Learned
	features int
	vec      []float32
}

func (s *seeing) Route(ctx context.Context, q router.Query) (router.Decision, error) {
	s.features, s.vec = len(q.Features.Idx), slices.Clone(q.Vector)
	return s.Learned.Route(ctx, q)
}

// planSeen plans req and returns what the router saw of its features.
func planSeen(t *testing.T, gw *Gateway, req *Request) (*Plan, int) {
	t.Helper()
	r := gw.deps.Router.(*seeing)
	r.features = -1
	p, err := gw.Plan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return p, r.features
}

// One embedding pass for cache and router must route, and find in the
// cache, exactly as the two separate passes did: with the router on the
// n-grams alone, and on the n-grams extended by stems, concepts and
// spelling correction (the gateway's default).
func TestSharedEmbeddingRoutesAsSeparatePasses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		features embed.Embedder
	}{
		{"n-grams", embed.NewLocal(router.LocalFeatureDim)},
		{"lexical", router.NewLexical(embed.NewLocal(router.LocalFeatureDim), router.LexicalOptions{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, router.Options{}, Options{})
			deps := env.gw.deps
			deps.Router, deps.Metrics = &seeing{Learned: trainedRouter(t, tc.features, router.Options{})}, nil
			gw, err := New(env.gw.opts, deps)
			if err != nil {
				t.Fatal(err)
			}
			if gw.shared == nil {
				t.Fatal("the router's n-grams fold onto the gateway's, yet the embedding is not shared")
			}
			deps.Embedder = opaque{deps.Embedder}
			deps.Router = &seeing{Learned: deps.Router.(*seeing).Learned}
			separate, err := New(env.gw.opts, deps)
			if err != nil {
				t.Fatal(err)
			}
			if separate.shared != nil {
				t.Fatal("shared an embedding with an embedder that is not embed.Local")
			}
			for _, text := range []string{
				"will it rain tomorrow in the city",
				"book a flight to rome and a hotel",
				"TRANSFER 200 dollars to my savings account!!",
				"how long should I roast vegetables",
				"how lnog should I roast vegetabels", // the speller corrects it
				"zzz qqq",
				"Ünïcödé wörds about the weather",
			} {
				a, seen := planSeen(t, gw, chat(text, policies.Extension{}))
				if seen <= 0 {
					t.Fatalf("%q: routed without the shared features", text)
				}
				va := gw.deps.Router.(*seeing).vec
				b, seen := planSeen(t, separate, chat(text, policies.Extension{}))
				if seen != 0 {
					t.Fatalf("%q: features computed for a router that embeds itself", text)
				}
				vb := separate.deps.Router.(*seeing).vec
				ra, rb := a.Info.Route, b.Info.Route
				if len(ra.Experts) != len(rb.Experts) || ra.Default != rb.Default || len(ra.Experts) > 0 && ra.Experts[0].Name != rb.Experts[0].Name {
					t.Fatalf("%q: shared pass routed %+v, separate passes %+v", text, ra, rb)
				}
				for _, e := range rb.Probabilities {
					if pa, _ := ra.Probabilities.Get(e.Name); math.Abs(pa-e.P) > 1e-5 {
						t.Fatalf("%q: P(%s) = %g shared, %g separate", text, e.Name, pa, e.P)
					}
				}
				if len(va) != len(vb) || len(va) == 0 {
					t.Fatalf("%q: the router was given vectors of %d coordinates shared, %d separate", text, len(va), len(vb))
				}
				for i := range vb {
					if math.Abs(float64(va[i]-vb[i])) > 1e-5 {
						t.Fatalf("%q: vector[%d] = %g shared, %g separate", text, i, va[i], vb[i])
					}
				}
				if a.lent != nil || a.vec != nil {
					t.Fatalf("%q: the plan kept the lent vector after routing", text)
				}
			}
			// A query without words is routed by an earlier turn's vector:
			// the router must not get that turn's features as the query's.
			req := chat("???", policies.Extension{})
			req.Chat.Messages = append([]experts.Message{{Role: "user", Content: "will it rain tomorrow"}, {Role: "assistant", Content: "yes"}}, req.Chat.Messages...)
			if _, seen := planSeen(t, gw, req); seen != 0 {
				t.Fatal("an earlier turn's features were given to the router as the query's")
			}
		})
	}
}

// searching is a retriever that remembers the vector it was given.
type searching struct{ vec []float32 }

func (s *searching) Search(_ context.Context, vec []float32, _ int, _ retrieval.Filter) ([]retrieval.Hit, error) {
	s.vec = slices.Clone(vec)
	return nil, nil
}

// A request by name (nothing shared with the router) gathers the cache's
// vector from the coordinates the local embedder reached, and borrows the
// dense one, which the plan returns: retrieval is given Embed's vector
// (nothing left of an earlier request's), and the cache's vector finds
// what the vector made from the dense embedding finds, at the same
// similarity, bit for bit.
func TestCacheVectorByName(t *testing.T) {
	env := newEnv(t, router.Options{}, Options{})
	deps := env.gw.deps
	search := &searching{}
	deps.Cache, deps.Retrieval, deps.Metrics = policies.NewMemoryCache(policies.CacheOptions{}), search, nil
	gw, err := New(env.gw.opts, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	texts := []string{
		"will it rain tomorrow in the city",
		"will it rain tomorrow in the town",
		"book a flight to rome and a hotel",
		"TRANSFER 200 dollars to my savings account!!",
		"Ünïcödé wörds about the weather",
	}
	for i, text := range texts {
		t.Run(text, func(t *testing.T) {
			req := chat(text, policies.Extension{})
			req.Model = "local"
			p, err := gw.Plan(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := deps.Embedder.Embed(ctx, []string{text})
			if !slices.Equal(search.vec, want[0]) {
				t.Fatal("retrieval was not given the embedder's vector")
			}
			if p.vec != nil || p.lent != nil {
				t.Fatal("the plan kept the lent vector")
			}
			if p.cacheVec == nil {
				t.Fatal("no cache vector planned")
			}
			// Each stored text is looked up by the planned vector (a
			// different exact key, so only similarity finds it) and by the
			// dense one: the same hit or miss, the same similarity.
			for _, other := range texts[i:] {
				stored, _ := deps.Embedder.Embed(ctx, []string{other})
				c := policies.NewMemoryCache(policies.CacheOptions{Threshold: 0.3})
				if err := c.Put(ctx, "s", "stored", policies.NewVector(stored[0]), policies.Entry{Content: "x"}); err != nil {
					t.Fatal(err)
				}
				_, got, gotOK, _ := c.Get(ctx, "s", "q", p.cacheVec)
				_, hit, ok, _ := c.Get(ctx, "s", "q", policies.NewVector(want[0]))
				if got != hit || gotOK != ok {
					t.Fatalf("against %q: found %v %+v, the dense vector %v %+v", other, gotOK, got, ok, hit)
				}
				if other == text && (!ok || hit.Kind != policies.HitSemantic) {
					t.Fatalf("the same text was not found by similarity: %v %+v", ok, hit)
				}
			}
		})
	}
}
