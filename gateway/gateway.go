// Package gateway runs one chat request from a decoded domain request to a
// domain answer or stream, outside HTTP: resolve the caller's scope, embed
// the query, route it (or take the expert it names), ground it in retrieved
// passages, ask the experts and aggregate their answers, account the
// tokens and cache the answer. The HTTP layer (package api) only decodes,
// encodes and maps errors.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/requestlog"
	"github.com/moegate/moegate/retrieval"
	"github.com/moegate/moegate/router"
	"github.com/moegate/moegate/router/teacher"
)

// Options are the pipeline's own settings. A zero field takes the default
// given beside it; these defaults are the only ones.
type Options struct {
	DefaultExpert  string             // "local": answers when no expert fits
	Aggregate      aggregate.Strategy // top1: when neither request nor tenant says
	Synthesizer    string             // "": the default expert merges answers for synthesize
	Retries        int                // 0: no retry; else the request's retry budget, spent after every candidate was tried
	RequestTimeout time.Duration      // 120s: the whole request, every attempt included
	// FirstByteTimeout bounds the wait for a streamed answer's first
	// token; HedgeDelay how long parallel-best waits, once an answer is
	// in, for better-weighted ones. 0: aggregate's defaults.
	FirstByteTimeout time.Duration
	HedgeDelay       time.Duration

	// CacheSampled lets requests that ask for sampling (temperature > 0
	// or top_p < 1) use the response cache; false: they always get a fresh
	// answer unless they set moegate.cache "on".
	CacheSampled bool

	// EmbedModels are the names /v1/embeddings accepts for the gateway's
	// embedder; [DefaultEmbedModel] when empty.
	EmbedModels []string
	// EmbedTimeout bounds embedding a request's query with an embedder
	// other than the local features (an endpoint, an engine model), and
	// routing that embeds more of the conversation; after a failure the
	// embedder is skipped for embedCooldown. Requests go on without the
	// vector.
	EmbedTimeout time.Duration

	RetrievalTopK     int     // 4 passages searched
	RetrievalMinScore float64 // 0.25: passages scoring less are not shown to experts

	// Notes are added to every moegate object, e.g. that the default
	// expert runs a demo model whose answers are not meaningful.
	Notes []string
}

// Defaults.
const (
	DefaultExpert            = "local"
	DefaultRequestTimeout    = 120 * time.Second
	DefaultRetrievalTopK     = 4
	DefaultRetrievalMinScore = 0.25
	DefaultEmbedTimeout      = 2 * time.Second
)

// embedCooldown is how long an embedder that failed is skipped.
const embedCooldown = 5 * time.Second

func (o *Options) setDefaults() {
	o.DefaultExpert = cmp.Or(o.DefaultExpert, DefaultExpert)
	o.Aggregate = cmp.Or(o.Aggregate, aggregate.Top1)
	o.RequestTimeout = cmp.Or(o.RequestTimeout, DefaultRequestTimeout)
	o.RetrievalTopK = cmp.Or(o.RetrievalTopK, DefaultRetrievalTopK)
	o.EmbedTimeout = cmp.Or(o.EmbedTimeout, DefaultEmbedTimeout)
	if len(o.EmbedModels) == 0 {
		o.EmbedModels = []string{DefaultEmbedModel}
	}
	if o.RetrievalMinScore == 0 {
		o.RetrievalMinScore = DefaultRetrievalMinScore
	}
}

// Deps are the parts the pipeline calls, each behind the small interface it
// needs. Retrieval, Cache, Feedback, Retrainer and Log may be nil: the
// feature is off.
type Deps struct {
	Registry  Registry
	Router    router.Router
	Embedder  embed.Embedder
	Limiter   Limiter
	Retrieval Retriever
	Cache     Cache
	Feedback  FeedbackStore
	Retrainer Retrainer
	Teacher   Teacher       // nil: no teacher
	Labels    teacher.Store // nil: no routing labels (static router)
	Log       RequestLog    // remembers routed requests for feedback; nil: in-process
	Health    Health        // per-expert circuit breakers; nil: every expert is always tried
	Observer  Observer      // told of every finished chat request (the console); nil: none
	Logger    *slog.Logger
	// Metrics is where the pipeline's series are registered; nil: a
	// registry of its own.
	Metrics prometheus.Registerer
}

// Registry is the runtime expert registry as the pipeline reads it: an
// immutable snapshot per request, never a copy.
type Registry interface {
	Snapshot() *experts.Snapshot
	Get(name string) (experts.Entry, bool)
}

// Limiter enforces rate limits and budgets and accounts usage.
type Limiter interface {
	Allow(ctx context.Context, t policies.Tenant) (policies.Decision, error)
	Record(ctx context.Context, t policies.Tenant, expert string, tokens int) error
}

// Retriever is the retrieval store as the pipeline searches it.
type Retriever interface {
	Search(ctx context.Context, vec []float32, k int, f retrieval.Filter) ([]retrieval.Hit, error)
}

// Cache is the response cache.
type Cache interface {
	Get(ctx context.Context, scopeKey, exactKey string, vec *policies.Vector) (policies.Entry, policies.Hit, bool, error)
	Put(ctx context.Context, scopeKey, exactKey string, vec *policies.Vector, e policies.Entry) error
}

// FeedbackStore keeps feedback for the router's next training.
type FeedbackStore interface {
	Append(ctx context.Context, fb router.Feedback) error
}

// Health is the per-expert circuit breakers: routing skips the experts it
// ejected, and the aggregator asks and tells it about every call.
type Health interface {
	aggregate.Health
	Ejected(name string) (bool, string)
	RetryIn(name string) time.Duration // until an ejected expert may be tried again
}

// Retrainer retrains the learned router in the background.
type Retrainer interface {
	Trigger()
}

// Gateway runs requests. It is safe for concurrent use.
type Gateway struct {
	opts        Options
	deps        Deps
	log         *slog.Logger
	metrics     *metrics
	uncounted   *metrics // registered nowhere: dry runs count nothing
	corrections *corrections
	shared      *sharedEmbedder // nil: the router embeds queries itself
	// queries embeds requests' queries: Deps.Embedder, guarded (see
	// Options.EmbedTimeout) unless it is the local features, which do no
	// I/O.
	queries embed.Embedder
	// routerReadsVector: the router routes on the embedder's vectors, and
	// cannot route a query the embedder failed on (see readsVector).
	routerReadsVector bool
	keys              policies.CacheKeyer

	experts atomic.Pointer[snapshotInfo]
}

// snapshotInfo is what policies read of one registry snapshot, computed
// once per snapshot rather than once per request.
type snapshotInfo struct {
	snap  *experts.Snapshot
	infos []policies.ExpertInfo
}

// snapshot returns the current registry snapshot and its expert infos.
func (g *Gateway) snapshot() (*experts.Snapshot, []policies.ExpertInfo) {
	snap := g.deps.Registry.Snapshot()
	if cur := g.experts.Load(); cur != nil && cur.snap == snap {
		return snap, cur.infos
	}
	entries := snap.Entries()
	infos := make([]policies.ExpertInfo, len(entries))
	for i, e := range entries {
		infos[i] = policies.ExpertInfo{Name: e.Spec.Name, DataOwner: e.Spec.DataOwner, Enabled: e.Spec.IsEnabled()}
	}
	g.experts.Store(&snapshotInfo{snap: snap, infos: infos})
	return snap, infos
}

// New builds a Gateway. Deps must hold at least Registry, Router, Embedder
// and Limiter.
func New(opts Options, deps Deps) (*Gateway, error) {
	if deps.Registry == nil || deps.Router == nil || deps.Embedder == nil || deps.Limiter == nil {
		return nil, errors.New("gateway: Registry, Router, Embedder and Limiter are required")
	}
	opts.setDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Log == nil {
		deps.Log = requestlog.NewMemory(0, 0)
	}
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	dry, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	g := &Gateway{opts: opts, deps: deps, log: deps.Logger, metrics: m, uncounted: dry, corrections: newCorrections(),
		shared: shareEmbedding(deps), queries: deps.Embedder, routerReadsVector: readsVector(deps.Router)}
	if _, local := deps.Embedder.(*embed.Local); !local {
		g.queries = embed.NewGuarded(deps.Embedder, opts.EmbedTimeout, embedCooldown)
	}
	return g, nil
}

// readsVector reports whether r routes on the gateway embedder's vectors
// (the learned router on an embedder's vectors, alone or with its own
// features). Routers on their own n-gram features, and the static
// router, route from the text: an embedder's failure does not stop them.
func readsVector(r router.Router) bool {
	l, ok := r.(ngramRouter)
	return ok && l.NGrams() == nil
}

// CheckEmbedder embeds a probe as requests' queries are embedded, for
// readiness: an embedder that fails, stalls, or is skipped after a
// failure returns the error. The local features always answer.
func (g *Gateway) CheckEmbedder(ctx context.Context) error {
	_, err := g.queries.Embed(ctx, []string{"readiness probe"})
	return err
}

// DefaultExpert is the expert that answers when no other fits.
func (g *Gateway) DefaultExpert() string { return g.opts.DefaultExpert }

// RequestTimeout bounds a whole request. Execute applies it when its
// context has no earlier deadline; callers that do I/O for a request
// before Execute (authentication, limits, planning) set it first.
func (g *Gateway) RequestTimeout() time.Duration { return g.opts.RequestTimeout }

// Notes are the remarks every answer carries.
func (g *Gateway) Notes() []string { return g.opts.Notes }
