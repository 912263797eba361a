package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/retrieval"
	"github.com/moegate/moegate/router"
)

// Options are the server's settings.
type Options struct {
	AdminToken     string
	AuthRequired   bool // false: auth "none", every caller is the default tenant
	MaxBodyBytes   int64
	MaxMessages    int
	RequestTimeout time.Duration

	DefaultExpert string
	Aggregate     string
	Synthesizer   string
	Retries       int
	TopK          int
	TopP          float64

	RetrievalTopK     int
	RetrievalMinScore float64
	// Notes are added to every moegate object, e.g. that the default expert
	// runs a demo model whose answers are not meaningful.
	Notes []string
}

func (o *Options) setDefaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = 256
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 120 * time.Second
	}
	if o.DefaultExpert == "" {
		o.DefaultExpert = "local"
	}
	if o.Aggregate == "" {
		o.Aggregate = "top1"
	}
	if o.TopK <= 0 {
		o.TopK = 1
	}
	if o.RetrievalTopK <= 0 {
		o.RetrievalTopK = 4
	}
}

// Deps are the parts the server calls, each behind the small interface it
// needs.
type Deps struct {
	Registry  Registry
	Router    router.Router
	Retrainer Retrainer // may be nil (static router)
	Embedder  embed.Embedder
	Knowledge Knowledge // may be nil: retrieval off
	Tenants   policies.TenantStore
	Limiter   Limiter
	Cache     Cache         // may be nil: cache off
	Feedback  FeedbackStore // may be nil: feedback off
	Checks    []Check
	Logger    *slog.Logger
}

// Registry is the runtime expert registry.
type Registry interface {
	List() []experts.Spec
	Get(name string) (experts.Entry, bool)
	Add(ctx context.Context, s experts.Spec) (experts.Spec, error)
	Update(ctx context.Context, name string, s experts.Spec) (experts.Spec, error)
	Remove(ctx context.Context, name string) error
}

// Retrainer retrains the learned router in the background.
type Retrainer interface {
	Trigger()
}

// Knowledge is the retrieval path: search, ingestion and listing.
type Knowledge interface {
	Search(ctx context.Context, vec []float32, k int, f retrieval.Filter) ([]retrieval.Hit, error)
	Ingest(ctx context.Context, doc retrieval.IngestDoc) (retrieval.Document, bool, error)
	Documents(ctx context.Context) ([]retrieval.Document, error)
	DeleteDocument(ctx context.Context, id string) error
}

// Limiter enforces rate limits and budgets and accounts usage.
type Limiter interface {
	Allow(ctx context.Context, t policies.Tenant) (policies.Decision, error)
	Record(ctx context.Context, t policies.Tenant, expert string, tokens int) error
	Usage(ctx context.Context, tenant string) (policies.Usage, error)
	AllUsage(ctx context.Context) ([]policies.Usage, error)
}

// Cache is the response cache.
type Cache interface {
	Get(ctx context.Context, scopeKey, exactKey string, vec []float32) (policies.Entry, policies.Hit, bool, error)
	Put(ctx context.Context, scopeKey, exactKey string, vec []float32, e policies.Entry) error
}

// FeedbackStore keeps feedback for the router's next training.
type FeedbackStore interface {
	Append(ctx context.Context, fb router.Feedback) error
}
