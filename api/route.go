package api

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/internal/units"
	"github.com/moegate/moegate/policies"
)

// Console is the web console (package console): it mounts its pages on
// root, its admin endpoints on admin (already behind the admin token) and
// its tenant endpoints on root, authenticating callers with tenant,
// recognising the admin token with isAdmin and reporting errors through
// handle.
type Console interface {
	Mount(root, admin gin.IRouter, tenant func(*gin.Context) (policies.Tenant, error), isAdmin func(*gin.Context) bool,
		handle func(func(*gin.Context) error) gin.HandlerFunc)
}

// isAdmin reports whether the request carries the admin token.
func (s *Server) isAdmin(c *gin.Context) bool {
	got, ok := bearer(c.Request)
	return ok && s.opts.AdminToken != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.AdminToken)) == 1
}

// routeResponse is the dry run's answer: the moegate object of the
// request as it would be answered, without any expert called, and the
// retrieved passages' text (which the moegate object of a real answer
// leaves out).
type routeResponse struct {
	Object   string         `json:"object"` // "moegate.route"
	Model    string         `json:"model"`
	Tenant   string         `json:"tenant"`
	Moegate  *gateway.Info  `json:"moegate"`
	Passages []routePassage `json:"passages"`
	TookMS   float64        `json:"took_ms"`
}

type routePassage struct {
	gateway.Passage
	Text string `json:"text"`
}

// route is POST /v1/route: the body of a chat completion, answered with the
// routing decision (probabilities, chosen experts and weights, exclusions
// with reasons, the default expert's reason, the retrieval decision and
// passages) without calling any expert. The caller's own policies apply.
// It is not rate limited and not billed: no expert is called.
func (s *Server) route(c *gin.Context) error {
	start := time.Now()
	call, err := s.decodeChat(c)
	if err != nil {
		return err
	}
	if call.req.Tenant, err = s.authenticate(c); err != nil {
		return err
	}
	p, err := s.gw.DryRun(c.Request.Context(), call.req)
	if err != nil {
		return err
	}
	out := routeResponse{Object: "moegate.route", Model: call.req.Model, Tenant: call.req.Tenant.Name, Moegate: p.Info, Passages: []routePassage{}}
	for _, ps := range p.Info.Retrieval.Passages {
		out.Passages = append(out.Passages, routePassage{ps, ps.Text})
	}
	out.TookMS = units.MS(time.Since(start))
	c.Header("X-Moegate-Route", p.Info.Header())
	c.JSON(http.StatusOK, out)
	return nil
}

const asTenantKey = "moegate.as_tenant"

// asTenant lets an admin act as a tenant (?tenant=NAME; the default tenant
// without it) on the admin aliases of /v1/route and /v1/chat/completions,
// so that the console's playground runs under that tenant's policies.
func (s *Server) asTenant(c *gin.Context) {
	t := policies.DefaultTenant()
	if name := c.Query("tenant"); name != "" && name != t.Name {
		var err error
		if t, err = s.deps.Tenants.Get(c.Request.Context(), name); err != nil {
			writeError(c, err)
			c.Abort()
			return
		}
	}
	c.Set(asTenantKey, t)
	c.Next()
}

// What observed reads of a request: the decoded request (plan stores it),
// its plan, and the outcome of execute.
const (
	observedRequestKey = "moegate.observed.request"
	observedPlanKey    = "moegate.observed.plan"
	observedResultKey  = "moegate.observed.result"
	observedErrKey     = "moegate.observed.err"
)

// observed wraps a handler that answers through the experts (chat,
// completions, responses) so that the gateway's observer (the console) is
// told how each request ended.
func (s *Server) observed(h func(*gin.Context) error) func(*gin.Context) error {
	return func(c *gin.Context) error {
		start := time.Now()
		err := h(c)
		s.report(c, start, err)
		return err
	}
}

// execute runs a plan and keeps its outcome for observed.
func (s *Server) execute(c *gin.Context, p *gateway.Plan, onDelta func(experts.Delta) error) (*gateway.Result, error) {
	res, err := s.gw.Execute(c.Request.Context(), p, onDelta)
	c.Set(observedResultKey, res)
	if err != nil {
		c.Set(observedErrKey, err)
	}
	return res, err
}

func (s *Server) report(c *gin.Context, start time.Time, err error) {
	o := gateway.Observation{Time: start, RequestID: requestID(c), Latency: time.Since(start), Status: http.StatusOK,
		Stream: strings.HasPrefix(responseHeader(c, "Content-Type"), "text/event-stream")}
	if v, ok := c.Get(observedRequestKey); ok {
		req := v.(*gateway.Request)
		o.Tenant, o.Model = req.Tenant.Name, req.Model
	}
	if v, ok := c.Get(observedPlanKey); ok {
		o.Info = v.(*gateway.Plan).Info
	}
	if v, ok := c.Get(observedResultKey); ok {
		if res := v.(*gateway.Result); res != nil {
			o.Answered = res.Answered
			if res.Response != nil {
				o.Usage = res.Response.Usage
			}
		}
	}
	if v, ok := c.Get(observedErrKey); ok && err == nil {
		err = v.(error) // reported inside a stream already started
	}
	if err != nil {
		status, body, _ := describe(err, o.RequestID)
		o.ErrorKind, o.Error = strings.ReplaceAll(errs.KindOf(err).String(), " ", "_"), body.Error.Message
		if c.Writer.Written() && !errs.Is(err, errs.Canceled) {
			status = c.Writer.Status() // a stream had started: the client saw this and an error event
		}
		o.Status = status
	}
	s.gw.Observe(o)
}
