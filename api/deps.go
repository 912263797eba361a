package api

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/health"
	"github.com/moegate/moegate/policies"
)

// Options are the HTTP layer's settings; the request pipeline's are
// gateway.Options.
type Options struct {
	AdminToken   string
	AuthRequired bool  // false: auth "none", every caller is the default tenant
	MaxBodyBytes int64 // 1 MiB
	MaxMessages  int   // 256

	// The HTTP server's bounds (see HTTPServer and Listener), so slow or
	// numerous clients cannot hold the gateway's memory.
	ReadHeaderTimeout time.Duration // 10s: a request's headers
	ReadTimeout       time.Duration // 60s: a request's headers and body (streamed answers are not bounded)
	IdleTimeout       time.Duration // 120s: a keep-alive connection between requests
	MaxConnections    int           // 4096 open connections; beyond, 503 and close
	MaxInFlight       int           // 1024 API requests being served; beyond, 503 (health and metrics exempt)
}

func (o *Options) setDefaults() {
	o.MaxBodyBytes = cmp.Or(o.MaxBodyBytes, 1<<20)
	o.MaxMessages = cmp.Or(o.MaxMessages, 256)
	o.ReadHeaderTimeout = cmp.Or(o.ReadHeaderTimeout, 10*time.Second)
	o.ReadTimeout = cmp.Or(o.ReadTimeout, 60*time.Second)
	o.IdleTimeout = cmp.Or(o.IdleTimeout, 120*time.Second)
	o.MaxConnections = cmp.Or(o.MaxConnections, 4096)
	o.MaxInFlight = cmp.Or(o.MaxInFlight, 1024)
}

// Deps are the parts the server calls, each behind the small interface it
// needs.
type Deps struct {
	Gateway  *gateway.Gateway
	Registry Registry
	Tenants  policies.TenantStore
	Usage    UsageReader
	Checks   []Check
	Health   HealthReader // per-expert breakers shown by /readyz and /admin/experts; nil: none
	Logger   *slog.Logger
	// Metrics is the registry /metrics serves; the gateway's series must
	// be registered on it too. nil: a registry of the server's own.
	Metrics *prometheus.Registry
	// Console is the web console at /ui; nil: none.
	Console Console
}

// Registry is the runtime expert registry.
type Registry interface {
	// Snapshot is the read path: an immutable view, nothing copied.
	Snapshot() *experts.Snapshot
	// List copies every spec, for admin reads that hand them out.
	List() []experts.Spec
	Get(name string) (experts.Entry, bool)
	Add(ctx context.Context, s experts.Spec) (experts.Spec, error)
	Update(ctx context.Context, name string, s experts.Spec) (experts.Spec, error)
	Remove(ctx context.Context, name string) error
}

// UsageReader reads accounted token usage.
type UsageReader interface {
	Usage(ctx context.Context, tenant string) (policies.Usage, error)
	AllUsage(ctx context.Context) ([]policies.Usage, error)
}

// HealthReader reports the experts' circuit breakers.
type HealthReader interface {
	Status(name string) health.Status
	All() []health.Status
}
