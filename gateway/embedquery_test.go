package gateway

import (
	"context"
	"math"
	"testing"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/router"
)

// opaque hides that an embedder is embed.Local, so the gateway cannot
// share its pass with the router.
type opaque struct{ embed.Embedder }

// One embedding pass for cache and router must route, and find in the
// cache, exactly as the two separate passes did.
func TestSharedEmbeddingRoutesAsSeparatePasses(t *testing.T) {
	shared := newEnv(t, router.Options{}, Options{})
	if shared.gw.shared == nil {
		t.Fatal("the router's local features fold onto the gateway's, yet the embedding is not shared")
	}
	deps := shared.gw.deps
	deps.Embedder, deps.Metrics = opaque{deps.Embedder}, nil
	separate, err := New(shared.gw.opts, deps)
	if err != nil {
		t.Fatal(err)
	}
	if separate.shared != nil {
		t.Fatal("shared an embedding with an embedder that is not embed.Local")
	}
	ctx := context.Background()
	for _, text := range []string{
		"will it rain tomorrow in the city",
		"book a flight to rome and a hotel",
		"TRANSFER 200 dollars to my savings account!!",
		"how long should I roast vegetables",
		"zzz qqq",
		"Ünïcödé wörds about the weather",
	} {
		a, err := shared.gw.Plan(ctx, chat(text, policies.Extension{}))
		if err != nil {
			t.Fatal(err)
		}
		if len(a.features.Idx) == 0 {
			t.Fatalf("%q: routed without the shared features", text)
		}
		b, err := separate.Plan(ctx, chat(text, policies.Extension{}))
		if err != nil {
			t.Fatal(err)
		}
		if len(b.features.Idx) != 0 {
			t.Fatalf("%q: features computed for a router that embeds itself", text)
		}
		ra, rb := a.Info.Route, b.Info.Route
		if len(ra.Experts) != len(rb.Experts) || ra.Default != rb.Default || len(ra.Experts) > 0 && ra.Experts[0].Name != rb.Experts[0].Name {
			t.Fatalf("%q: shared pass routed %+v, separate passes %+v", text, ra, rb)
		}
		for name, p := range rb.Probabilities {
			if math.Abs(ra.Probabilities[name]-p) > 1e-5 {
				t.Fatalf("%q: P(%s) = %g shared, %g separate", text, name, ra.Probabilities[name], p)
			}
		}
		for i := range b.vec {
			if math.Abs(float64(a.vec[i]-b.vec[i])) > 1e-5 {
				t.Fatalf("%q: vector[%d] = %g shared, %g separate", text, i, a.vec[i], b.vec[i])
			}
		}
	}
	// A query without words is routed by an earlier turn's vector: the
	// router must not get that turn's features as the query's.
	req := chat("???", policies.Extension{})
	req.Chat.Messages = append([]experts.Message{{Role: "user", Content: "will it rain tomorrow"}, {Role: "assistant", Content: "yes"}}, req.Chat.Messages...)
	p, err := shared.gw.Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.features.Idx) != 0 {
		t.Fatal("an earlier turn's features were given to the router as the query's")
	}
}
