// Package console is moegate's web console at /ui: a small vanilla-JS app
// (no build step; Chart.js vendored under static/vendor) embedded in the
// binary, and the JSON endpoints it calls beyond the existing API:
//
//	GET  /v1/console/me               who signed in: admin, or the tenant and its limits
//	GET  /v1/console/stats            the tenant's last hour, per minute
//	GET  /v1/console/requests         the tenant's recent requests
//	GET  /v1/console/requests/:id     one of them, with its moegate object
//	GET  /admin/console/me            the admin session
//	GET  /admin/console/stats         everyone's last hour (?tenant= one's)
//	GET  /admin/console/requests      everyone's recent requests (?tenant=)
//	GET  /admin/console/requests/:id  one request
//	GET  /admin/console/experts       experts with health, error and traffic
//	GET  /admin/console/router        the router model and training figures
//	POST /admin/console/router/evaluate  confusion matrix on a held-out slice
//	POST /admin/console/knowledge/search passages a query retrieves
//
// Routing labels are reviewed through the admin API's /admin/labels, and
// teacher-written examples through /admin/experts/:name/examples/suggest.
//
// Sign-in is the admin token or a tenant key, kept in the page's session
// storage and sent as a bearer header by script: no cookie, so no CSRF.
package console

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/health"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/router"
)

//go:embed static
var staticFS embed.FS

// Registry is the expert registry as the console reads it.
type Registry interface {
	List() []experts.Spec
	Get(name string) (experts.Entry, bool)
}

// Deps are what the console reads. Gateway, Registry and Recorder are
// required; the rest may be nil (the feature is then reported absent).
type Deps struct {
	Gateway  *gateway.Gateway
	Registry Registry
	Recorder *Recorder
	// Router is the learned router; nil with the static router.
	Router interface{ Model() *router.Model }
	// RouterOptions are the learned router's, for held-out evaluation.
	RouterOptions router.Options
	// Examples are the router's current training examples.
	Examples func(ctx context.Context) ([]router.Example, error)
	// Feedback lists recorded feedback (pending for the next training).
	Feedback interface {
		All(ctx context.Context) ([]router.Feedback, error)
	}
	// RetrainErr is the last retraining's error, if any.
	RetrainErr func() error
	// DefaultExpert names the default expert.
	DefaultExpert string
	// Health reports the experts' circuit breakers; nil: none.
	Health interface {
		Status(name string) health.Status
	}
}

// Console serves the web console. Build it with New and give it to
// api.Deps.Console.
type Console struct {
	deps Deps

	evalMu   sync.Mutex // one evaluation at a time
	lastEval *Evaluation
}

// New builds a console.
func New(deps Deps) *Console {
	if deps.Recorder == nil {
		deps.Recorder = NewRecorder(0)
	}
	return &Console{deps: deps}
}

// Recorder is the console's request recorder: give it to
// gateway.Deps.Observer.
func (c *Console) Recorder() *Recorder { return c.deps.Recorder }

// Mount implements api.Console.
func (c *Console) Mount(root, admin gin.IRouter, tenant func(*gin.Context) (policies.Tenant, error), isAdmin func(*gin.Context) bool,
	handle func(func(*gin.Context) error) gin.HandlerFunc) {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/ui/", http.FileServer(http.FS(sub)))
	root.GET("/", func(g *gin.Context) { g.Redirect(http.StatusFound, "/ui/") })
	root.GET("/ui", func(g *gin.Context) { g.Redirect(http.StatusMovedPermanently, "/ui/") })
	root.GET("/ui/*file", func(g *gin.Context) {
		h := g.Writer.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(g.Writer, g.Request)
	})

	// Tenant endpoints: the caller's own data only.
	asTenant := func(h func(g *gin.Context, t policies.Tenant) error) gin.HandlerFunc {
		return handle(func(g *gin.Context) error {
			t, err := tenant(g)
			if err != nil {
				return err
			}
			return h(g, t)
		})
	}
	// me tells the console who signed in: the admin token or a tenant key,
	// and for an admin which optional endpoints this gateway has.
	routes, _ := root.(interface{ Routes() gin.RoutesInfo })
	adminMe := func(g *gin.Context) {
		features := gin.H{}
		if routes != nil {
			for _, r := range routes.Routes() {
				if r.Method == http.MethodPatch && r.Path == "/admin/experts/:name" {
					features["expert_patch"] = true
				}
			}
		}
		g.JSON(http.StatusOK, gin.H{"role": "admin", "default_expert": c.deps.DefaultExpert, "features": features})
	}
	root.GET("/v1/console/me", handle(func(g *gin.Context) error {
		if isAdmin(g) {
			adminMe(g)
			return nil
		}
		t, err := tenant(g)
		if err != nil {
			return err
		}
		g.JSON(http.StatusOK, gin.H{"role": "tenant", "tenant": t.Name, "policy": t})
		return nil
	}))
	root.GET("/v1/console/stats", asTenant(func(g *gin.Context, t policies.Tenant) error {
		g.JSON(http.StatusOK, c.deps.Recorder.Series(t.Name))
		return nil
	}))
	root.GET("/v1/console/requests", asTenant(func(g *gin.Context, t policies.Tenant) error {
		return c.recent(g, t.Name)
	}))
	root.GET("/v1/console/requests/:id", asTenant(func(g *gin.Context, t policies.Tenant) error {
		return c.request(g, t.Name)
	}))

	// Admin endpoints: admin is already behind the admin token.
	admin.GET("/console/me", handle(func(g *gin.Context) error {
		adminMe(g)
		return nil
	}))
	admin.GET("/console/stats", handle(func(g *gin.Context) error {
		g.JSON(http.StatusOK, c.deps.Recorder.Series(g.Query("tenant")))
		return nil
	}))
	admin.GET("/console/requests", handle(func(g *gin.Context) error { return c.recent(g, g.Query("tenant")) }))
	admin.GET("/console/requests/:id", handle(func(g *gin.Context) error { return c.request(g, "") }))
	admin.GET("/console/experts", handle(c.experts))
	admin.GET("/console/router", handle(c.routerInfo))
	admin.POST("/console/router/evaluate", handle(c.evaluate))
	admin.POST("/console/knowledge/search", handle(c.search))
}

func (c *Console) recent(g *gin.Context, tenant string) error {
	limit := DefaultRing
	if s := g.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return errs.Param("limit", "'limit' must be a positive integer; got %q.", s)
		}
		limit = n
	}
	g.JSON(http.StatusOK, gin.H{"object": "list", "data": c.deps.Recorder.Recent(tenant, limit)})
	return nil
}

func (c *Console) request(g *gin.Context, tenant string) error {
	rec, ok := c.deps.Recorder.Get(tenant, g.Param("id"))
	if !ok {
		return errs.E(errs.NotFound, "Request '%s' is not among the recent requests.", g.Param("id")).WithCode("request_not_found")
	}
	g.JSON(http.StatusOK, rec)
	return nil
}

// expertStatus is one expert as the console lists it.
type expertStatus struct {
	experts.Spec
	Ready   bool   `json:"ready"`
	Status  string `json:"status"` // ok | disabled | failed
	Error   string `json:"error,omitempty"`
	Default bool   `json:"default"`
	// Health is the expert's circuit breaker, when the gateway has them.
	Health *health.Status `json:"health,omitempty"`
	// Traffic is what the expert answered in the last hour.
	Requests int `json:"requests_last_hour"`
	Tokens   int `json:"tokens_last_hour"`
}

func (c *Console) experts(g *gin.Context) error {
	s := c.deps.Recorder.Series("")
	out := []expertStatus{}
	for _, sp := range c.deps.Registry.List() {
		st := expertStatus{Spec: sp, Status: "ok", Default: sp.Name == c.deps.DefaultExpert}
		if e, ok := c.deps.Registry.Get(sp.Name); ok {
			st.Ready = e.Ready()
			if e.Err != nil {
				st.Error = e.Err.Error()
			}
		}
		switch {
		case !sp.IsEnabled():
			st.Status = "disabled"
		case !st.Ready:
			st.Status = "failed"
		}
		if c.deps.Health != nil {
			h := c.deps.Health.Status(sp.Name)
			st.Health = &h
			if h.State != "" && h.State != health.Healthy && st.Status == "ok" {
				st.Status = h.State // ejected (open) or probing (half-open)
			}
		}
		st.Headers = redact(st.Headers)
		st.Requests = s.Totals.Answered[sp.Name]
		for _, n := range s.ExpertTokens[sp.Name] {
			st.Tokens += n
		}
		out = append(out, st)
	}
	g.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
	return nil
}

// redact hides header values (credentials, typically).
func redact(h map[string]string) map[string]string {
	if len(h) == 0 {
		return h
	}
	out := make(map[string]string, len(h))
	for k := range h {
		out[k] = "[redacted]"
	}
	return out
}

// routerInfo describes the active model, the training data and pending
// feedback.
func (c *Console) routerInfo(g *gin.Context) error {
	ctx := g.Request.Context()
	out := gin.H{"kind": "static"}
	if c.deps.Router != nil {
		out["kind"] = "learned"
		if m := c.deps.Router.Model(); m != nil {
			out["model"] = gin.H{"version": m.Version, "kind": m.Kind, "dim": m.Dim, "trained": m.Trained, "examples": m.Examples,
				"negatives": m.Negatives, "experts": m.InScope(), "threshold": m.Threshold, "null_threshold": m.NullThreshold,
				"retrieval_gate": m.Retrieval != nil}
		}
	}
	if c.deps.Examples != nil {
		exs, err := c.deps.Examples(ctx)
		if err != nil {
			return err
		}
		per := map[string]int{}
		for _, ex := range exs {
			per[ex.Expert]++
		}
		out["training"] = gin.H{"examples": len(exs), "per_expert": per}
	}
	if c.deps.Feedback != nil {
		fbs, err := c.deps.Feedback.All(ctx)
		if err != nil {
			return err
		}
		labels := 0
		for _, f := range fbs {
			if f.Expert != "" {
				labels++
			}
		}
		out["feedback"] = gin.H{"total": len(fbs), "labels": labels}
	}
	switch ls, err := c.deps.Gateway.Labels(ctx, "", true); {
	case errs.Is(err, errs.NotFound): // no routing labels on this gateway
	case err != nil:
		return err
	default:
		bySource := map[string]int{}
		for _, l := range ls {
			bySource[l.Source]++
		}
		out["labels"] = gin.H{"total": len(ls), "by_source": bySource}
	}
	if c.deps.RetrainErr != nil {
		if err := c.deps.RetrainErr(); err != nil {
			out["last_retrain_error"] = err.Error()
		}
	}
	c.evalMu.Lock()
	if c.lastEval != nil {
		out["evaluation"] = c.lastEval
	}
	c.evalMu.Unlock()
	g.JSON(http.StatusOK, out)
	return nil
}

func (c *Console) evaluate(g *gin.Context) error {
	if c.deps.Examples == nil {
		return errs.E(errs.Conflict, "The static router does not train; there is nothing to evaluate.").WithCode("static_router")
	}
	if !c.evalMu.TryLock() {
		return errs.E(errs.Conflict, "An evaluation is already running.").WithCode("evaluation_running")
	}
	defer c.evalMu.Unlock()
	ctx, cancel := context.WithTimeout(g.Request.Context(), 2*time.Minute)
	defer cancel()
	exs, err := c.deps.Examples(ctx)
	if err != nil {
		return err
	}
	ev, err := Evaluate(ctx, exs, c.deps.RouterOptions)
	if err != nil {
		return err
	}
	c.lastEval = ev
	g.JSON(http.StatusOK, ev)
	return nil
}

type searchRequest struct {
	Query string `json:"query"`
	K     int    `json:"k"`
}

type searchHit struct {
	Doc   string  `json:"doc"`
	Chunk string  `json:"chunk"`
	Seq   int     `json:"seq"`
	Score float64 `json:"score"`
	Owner string  `json:"data_owner,omitempty"`
	Text  string  `json:"text"`
}

func (c *Console) search(g *gin.Context) error {
	var req searchRequest
	if err := g.ShouldBindJSON(&req); err != nil {
		return errs.Param("", "The body must be JSON: {\"query\": \"...\", \"k\": 5}.")
	}
	req.Query = strings.TrimSpace(req.Query)
	if req.Query == "" {
		return errs.Param("query", "'query' is required.")
	}
	if req.K <= 0 || req.K > 50 {
		req.K = 5
	}
	hits, err := c.deps.Gateway.Retrieve(g.Request.Context(), req.Query, req.K)
	if err != nil {
		return err
	}
	out := []searchHit{}
	for _, h := range hits {
		out = append(out, searchHit{Doc: h.Chunk.DocID, Chunk: h.Chunk.ID, Seq: h.Chunk.Seq, Score: h.Score, Owner: h.Chunk.DataOwner, Text: h.Chunk.Text})
	}
	g.JSON(http.StatusOK, gin.H{"object": "list", "query": req.Query, "data": out})
	return nil
}
