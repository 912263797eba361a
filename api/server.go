// Package api is the gateway's HTTP layer: OpenAI-compatible endpoints, the
// admin API, health and metrics. It decodes and validates requests, calls the
// routing, policy, retrieval and expert packages, and maps their errors to
// OpenAI's error shape. It holds no routing or storage logic of its own.
package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/health"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/internal/units"
)

// Server serves the gateway's HTTP API.
type Server struct {
	opts    Options
	deps    Deps
	gw      *gateway.Gateway
	log     *slog.Logger
	metrics *metrics
	engine  *gin.Engine
	started time.Time
	// bodies are buffers for responses encoded by hand; a response is
	// copied into the connection's buffer, so its buffer is free again
	// once written.
	bodies sync.Pool
	// streams are the writers of streamed answers, with their buffers,
	// for the next streams.
	streams sync.Pool
	// keys are emptied gin.Context.Keys maps for the next requests: gin
	// makes a map for the first Set of every request.
	keys sync.Pool
}

// New builds a server. Deps must hold every part but Checks, Logger and
// Metrics.
func New(opts Options, deps Deps) (*Server, error) {
	if deps.Gateway == nil || deps.Registry == nil || deps.Tenants == nil || deps.Usage == nil {
		return nil, errors.New("api: Gateway, Registry, Tenants and Usage are required")
	}
	opts.setDefaults()
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, deps: deps, gw: deps.Gateway, log: log, metrics: m, started: time.Now()}
	s.engine = s.routes()
	return s, nil
}

// Handler returns the http.Handler of the whole API.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(s.requestID, s.recoverer, s.observe, s.limitBody, s.limitInFlight())
	e.NoRoute(func(c *gin.Context) {
		writeError(c, notFound("unknown_url", "Unknown request URL: %s %s", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		_, body, _ := describe(errs.E(errs.Invalid, "Method %s not allowed on %s", c.Request.Method, c.Request.URL.Path).WithCode("method_not_allowed"), requestID(c))
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, body)
	})

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))

	v1 := e.Group("/v1", s.deadline)
	v1.POST("/chat/completions", s.handle(s.observed(s.chatCompletions)))
	v1.POST("/responses", s.handle(s.observed(s.responses)))
	v1.POST("/completions", s.handle(s.observed(s.completions)))
	v1.GET("/models", s.handle(s.listModels))
	v1.GET("/models/:id", s.handle(s.getModel))
	v1.POST("/embeddings", s.handle(s.embeddings))
	v1.POST("/feedback", s.handle(s.feedback))
	v1.GET("/usage", s.handle(s.ownUsage))
	v1.POST("/route", s.handle(s.route))

	// The admin API is bounded like /v1: a stalled database answers 504
	// rather than holding the call. The console mounts on adminBase: its
	// live views stream for as long as they are open.
	adminBase := e.Group("/admin", s.adminAuth)
	admin := adminBase.Group("", s.deadline)
	admin.GET("/experts", s.handle(s.adminListExperts))
	admin.POST("/experts", s.handle(s.adminAddExpert))
	admin.GET("/experts/:name", s.handle(s.adminGetExpert))
	admin.PUT("/experts/:name", s.handle(s.adminUpdateExpert))  // full replacement
	admin.PATCH("/experts/:name", s.handle(s.adminPatchExpert)) // JSON merge patch
	admin.DELETE("/experts/:name", s.handle(s.adminRemoveExpert))
	admin.GET("/tenants", s.handle(s.adminListTenants))
	admin.POST("/tenants", s.handle(s.adminCreateTenant))
	admin.GET("/tenants/:name", s.handle(s.adminGetTenant))
	admin.PUT("/tenants/:name", s.handle(s.adminUpdateTenant))
	admin.PATCH("/tenants/:name", s.handle(s.adminPatchTenant))
	admin.DELETE("/tenants/:name", s.handle(s.adminDeleteTenant))
	admin.GET("/usage", s.handle(s.adminUsage))
	admin.GET("/knowledge", s.handle(s.adminListKnowledge))
	admin.POST("/knowledge", s.handle(s.adminIngest))
	// Document ids may hold any character, "/" included: the rest of the
	// path is the id (percent-encoded as needed), or ?id= names it.
	admin.DELETE("/knowledge/*doc", s.handle(s.adminDeleteKnowledge))
	admin.DELETE("/knowledge", s.handle(s.adminDeleteKnowledge))
	admin.POST("/router/retrain", s.handle(s.adminRetrain))
	admin.POST("/experts/:name/examples/suggest", s.handle(s.adminSuggestExamples))
	admin.GET("/labels", s.handle(s.adminListLabels))
	admin.POST("/labels", s.handle(s.adminAddLabel))
	admin.DELETE("/labels/:id", s.handle(s.adminDeleteLabel))
	admin.POST("/route", s.asTenant, s.handle(s.route))
	admin.POST("/chat/completions", s.asTenant, s.handle(s.observed(s.chatCompletions)))
	if s.deps.Console != nil {
		s.deps.Console.Mount(e, adminBase, s.authenticate, s.isAdmin, s.handle)
	}
	return e
}

// deadline bounds the whole request by the gateway's request timeout:
// authentication, limits, routing and retrieval as well as the experts'
// answers, so that a stalled database cannot hold a request past it.
func (s *Server) deadline(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.gw.RequestTimeout())
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

// handle adapts a handler that returns an error, so that every error goes
// through writeError.
func (s *Server) handle(h func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			if errs.KindOf(err) == errs.Internal {
				s.log.ErrorContext(c.Request.Context(), "request failed", "request_id", requestID(c), "err", err)
			}
			if c.Writer.Written() {
				return // a stream already started; it reported the error itself
			}
			writeError(c, err)
		}
	}
}

const requestIDKey = "moegate.request_id"

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// requestID accepts a sane X-Request-Id from the caller or generates one,
// and echoes it.
func (s *Server) requestID(c *gin.Context) {
	id := requestHeader(c.Request, "X-Request-Id")
	if !validRequestID(id) {
		// Written in one buffer: the hex string and then its prefixed copy
		// were two allocations.
		var b [12]byte
		_, _ = rand.Read(b[:])
		var buf [len("req_") + 2*len(b)]byte
		copy(buf[:], "req_")
		hex.Encode(buf[len("req_"):], b[:])
		id = string(buf[:])
	}
	keys, _ := s.keys.Get().(map[any]any)
	if keys == nil {
		keys = make(map[any]any, 4) // the request id, and what observed keeps
	}
	c.Keys = keys
	c.Set(requestIDKey, id)
	setHeader(c, "X-Request-Id", id)
	c.Next()
	// Nothing reads a request's keys once its handlers returned (no
	// handler hands its gin.Context to another goroutine).
	c.Keys = nil
	clear(keys)
	s.keys.Put(keys)
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return true
}

// recoverer turns a panic into a 500 in OpenAI's shape; the stack goes to
// the log, never to the client.
func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.ErrorContext(c.Request.Context(), "panic in handler", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				writeError(c, errors.New("panic"))
			}
			c.Abort()
		}
	}()
	c.Next()
}

// statusKey holds, in the gin context, the status a request is logged and
// counted with when it differs from the one sent (a stream the client cut).
const statusKey = "moegate.status"

// observe logs each request and records its metrics.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	if v, ok := c.Get(statusKey); ok {
		status = v.(int)
	}
	d := time.Since(start)
	s.metrics.count(route, status, d.Seconds())
	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		return
	}
	// Every request is counted above; at the default level only failures
	// are logged, so a busy gateway does not spend its time writing logs.
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case status >= 400:
		level = slog.LevelInfo
	}
	ctx := c.Request.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	s.log.LogAttrs(ctx, level, "request", slog.String("request_id", requestID(c)), slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path), slog.Int("status", status), slog.Float64("duration_ms", units.MS(d)))
}

// limitBody caps request bodies; reading past the cap fails with a
// *http.MaxBytesError that decodeJSON maps to 413.
func (s *Server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > s.opts.MaxBodyBytes {
		writeError(c, tooLarge(s.opts.MaxBodyBytes))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxBodyBytes)
	c.Next()
}

// adminAuth guards /admin: without a configured token the admin API does
// not exist (404); with one, it needs "Authorization: Bearer TOKEN".
func (s *Server) adminAuth(c *gin.Context) {
	if s.opts.AdminToken == "" {
		writeError(c, notFound("unknown_url", "Unknown request URL: %s %s (the admin API is disabled: set MOEGATE_ADMIN_TOKEN)", c.Request.Method, c.Request.URL.Path))
		return
	}
	got, ok := bearer(c.Request)
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.AdminToken)) != 1 {
		writeError(c, unauthorized("Invalid or missing admin token."))
		return
	}
	c.Next()
}

// requestHeader is r.Header.Get(key) for a key in canonical form: the
// server stores a request's keys canonicalised, so the map is indexed
// without canonicalising key again (some 500 instructions a call, a few
// calls a request).
func requestHeader(r *http.Request, key string) string {
	if v := r.Header[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// responseHeader is c.Writer.Header().Get(key) for a key in canonical
// form, as the response's keys are (set by Header.Set, by gin, or by
// canonical key: see setHeader), without canonicalising key again.
func responseHeader(c *gin.Context, key string) string {
	if v := c.Writer.Header()[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// setHeader is c.Header(key, value) for a key in canonical form and a
// value that is not empty, without canonicalising key again.
func setHeader(c *gin.Context, key, value string) {
	c.Writer.Header()[key] = []string{value}
}

func bearer(r *http.Request) (string, bool) {
	h := requestHeader(r, "Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok", "uptime_seconds": int(time.Since(s.started).Seconds())})
}

// readyz reports whether the gateway can serve: the registry is loaded (it
// is, before the server is built), the default expert is up, and every
// check the wiring added (the router's model) passes. Degraded dependencies (Redis down, limits
// in-process) are reported without failing readiness, since requests are
// still served.
func (s *Server) readyz(c *gin.Context) {
	checks := gin.H{}
	ready := true
	checks["registry"] = fmt.Sprintf("ok: %d experts loaded", s.deps.Registry.Snapshot().Len())
	def := s.gw.DefaultExpert()
	switch e, ok := s.deps.Registry.Get(def); {
	case !ok:
		checks["default_expert"] = fmt.Sprintf("missing: expert %q is not registered", def)
		ready = false
	case !e.Ready():
		checks["default_expert"] = fmt.Sprintf("expert %q is disabled or failed to start: %v", def, e.Err)
		ready = false
	default:
		checks["default_expert"] = "ok"
	}
	degraded := false
	for _, chk := range s.deps.Checks {
		if err := chk.Check(c.Request.Context()); err != nil {
			checks[chk.Name] = err.Error()
			if !chk.Degrades {
				ready = false
			}
			degraded = true
		} else {
			checks[chk.Name] = "ok"
		}
	}
	if s.deps.Health != nil {
		// An ejected expert degrades the gateway (its fallbacks answer)
		// without making it unready.
		var out []string
		for _, st := range s.deps.Health.All() {
			if st.State != health.Healthy {
				out = append(out, fmt.Sprintf("%s %s (%s)", st.Name, st.State, st.Reason))
			}
		}
		checks["experts"] = "ok"
		if len(out) > 0 {
			checks["experts"] = strings.Join(out, "; ")
			degraded = true
		}
	}
	status := http.StatusOK
	state := "ready"
	if degraded {
		state = "degraded"
	}
	if !ready {
		status, state = http.StatusServiceUnavailable, "not ready"
	}
	c.JSON(status, gin.H{"status": state, "checks": checks})
}

// Check is one readiness check. A check that Degrades is reported but does
// not make the gateway unready.
type Check struct {
	Name     string
	Degrades bool
	Check    func(ctx context.Context) error
}
