package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/retrieval"
	"github.com/moegate/moegate/router"
)

// chatCall is one decoded and validated chat request.
type chatCall struct {
	model        string
	req          *experts.Request
	ext          policies.Extension
	query        string // the text that is routed: the last user message
	stream       bool
	includeUsage bool
}

var validRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true}

func (s *Server) decodeChat(c *gin.Context) (*chatCall, error) {
	var r chatRequest
	if err := s.decodeJSON(c, &r); err != nil {
		return nil, err
	}
	if r.Model == "" {
		return nil, invalid("model", "You must provide a model parameter.")
	}
	if len(r.Messages) == 0 {
		return nil, invalid("messages", "'messages' must contain at least one message.")
	}
	if len(r.Messages) > s.opts.MaxMessages {
		return nil, invalid("messages", "'messages' has %d messages; the limit is %d.", len(r.Messages), s.opts.MaxMessages)
	}
	if r.N != nil && *r.N != 1 {
		return nil, invalid("n", "Only n=1 is supported; got n=%d.", *r.N)
	}
	if r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2) {
		return nil, invalid("temperature", "'temperature' must be between 0 and 2; got %g.", *r.Temperature)
	}
	if r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1) {
		return nil, invalid("top_p", "'top_p' must be between 0 and 1; got %g.", *r.TopP)
	}
	maxTokens := 0
	for _, p := range []struct {
		name string
		v    *int
	}{{"max_tokens", r.MaxTokens}, {"max_completion_tokens", r.MaxCompletionTokens}} {
		if p.v == nil {
			continue
		}
		if *p.v < 1 {
			return nil, invalid(p.name, "'%s' must be at least 1; got %d.", p.name, *p.v)
		}
		maxTokens = *p.v
	}
	stop, err := parseStop(r.Stop)
	if err != nil {
		return nil, fieldErr("stop", err)
	}
	if r.StreamOptions != nil && !r.Stream {
		return nil, invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.")
	}
	ext, err := policies.ParseRequestExtension(r.Moegate)
	if err != nil {
		return nil, fieldErr("moegate", err)
	}
	msgs := make([]experts.Message, len(r.Messages))
	query := ""
	for i, m := range r.Messages {
		param := fmt.Sprintf("messages[%d]", i)
		if !validRoles[m.Role] {
			return nil, invalid(param+".role", "Invalid role %q in %s: expected system, developer, user, assistant or tool.", m.Role, param)
		}
		text, err := contentText(m.Content)
		if err != nil {
			return nil, fieldErr(param+".content", err)
		}
		msgs[i] = experts.Message{Role: m.Role, Content: text, Name: m.Name, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID}
		if m.Role == "developer" {
			msgs[i].Role = "system"
		}
		if m.Role == "user" {
			query = text
		}
	}
	if query == "" {
		query = msgs[len(msgs)-1].Content
	}
	return &chatCall{
		model:  r.Model,
		query:  query,
		stream: r.Stream,
		ext:    ext,
		req: &experts.Request{
			Messages: msgs, Temperature: r.Temperature, TopP: r.TopP, MaxTokens: maxTokens, Stop: stop,
			Seed: r.Seed, User: r.User, Tools: nonNull(r.Tools), ToolChoice: nonNull(r.ToolChoice), ResponseFormat: nonNull(r.ResponseFormat),
		},
		includeUsage: r.StreamOptions != nil && r.StreamOptions.IncludeUsage,
	}, nil
}

func nonNull(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return raw
}

// authenticate finds the caller's tenant. With auth "none" every caller is
// the default tenant.
func (s *Server) authenticate(c *gin.Context) (policies.Tenant, error) {
	if !s.opts.AuthRequired {
		return policies.DefaultTenant(), nil
	}
	key, ok := bearer(c.Request)
	if !ok {
		return policies.Tenant{}, unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.")
	}
	t, err := s.deps.Tenants.Authenticate(c.Request.Context(), key)
	if errors.Is(err, policies.ErrUnauthorized) || errors.Is(err, policies.ErrNotFound) {
		return policies.Tenant{}, unauthorized("Incorrect API key provided.")
	}
	if err != nil {
		return policies.Tenant{}, fmt.Errorf("authenticate: %w", err)
	}
	return t, nil
}

// admit applies the tenant's rate limits and budget.
func (s *Server) admit(ctx context.Context, t policies.Tenant) error {
	d, err := s.deps.Limiter.Allow(ctx, t)
	if err != nil {
		// Limits must not take the gateway down; the failover limiter
		// already degrades to in-process limits, so this is unexpected.
		s.log.ErrorContext(ctx, "rate limiter failed; request admitted", "tenant", t.Name, "err", err)
		return nil
	}
	if d.Allowed {
		return nil
	}
	s.metrics.limited.WithLabelValues(d.Reason).Inc()
	typ := map[string]string{"rpm": "requests", "tpm": "tokens", "budget": "insufficient_quota"}[d.Reason]
	return &Error{Status: http.StatusTooManyRequests, Type: typ, Code: "rate_limit_exceeded", RetryAfter: d.RetryAfter,
		Message: fmt.Sprintf("Rate limit reached for tenant %s (%s). Retry after %s.", t.Name, d.Reason, d.RetryAfter.Round(time.Second))}
}

// plan is everything decided before any expert is called.
type plan struct {
	scope      policies.Scope
	vec        []float32
	candidates []aggregate.Candidate
	strategy   aggregate.Strategy
	req        *experts.Request // with retrieved passages when retrieval is used
	info       *moegateInfo
}

func (s *Server) makePlan(ctx context.Context, c *gin.Context, call *chatCall, t policies.Tenant) (*plan, error) {
	info := &moegateInfo{RequestID: requestID(c), Tenant: t.Name, Excluded: []excludedInfo{}, Notes: s.opts.Notes}
	p := &plan{req: call.req, info: info}

	specs := s.deps.Registry.List()
	infos := make([]policies.ExpertInfo, len(specs))
	for i, sp := range specs {
		infos[i] = policies.ExpertInfo{Name: sp.Name, DataOwner: sp.DataOwner, Enabled: sp.IsEnabled()}
	}
	optOut := call.ext.OptOut.Merge(policies.OptOut{ExcludeData: policies.ParseExcludeHeader(c.GetHeader("X-Moegate-Exclude-Data"))})
	p.scope = policies.Resolve(t, optOut, infos, s.opts.DefaultExpert)
	for _, e := range p.scope.Excluded {
		info.Excluded = append(info.Excluded, excludedInfo{Name: e.Name, Reason: e.Reason})
	}
	info.ExcludedData = p.scope.ExcludedData
	if err := p.scope.Err(); err != nil {
		return nil, &Error{Status: http.StatusForbidden, Type: "permission_error", Code: "no_expert_allowed", Message: err.Error()}
	}

	strategy := call.ext.Aggregate
	if strategy == "" {
		strategy = t.DefaultAggregate
	}
	if strategy == "" {
		strategy = s.opts.Aggregate
	}
	var err error
	if p.strategy, err = aggregate.ParseStrategy(strategy); err != nil {
		return nil, fieldErr("moegate.aggregate", err)
	}
	info.Aggregate = string(p.strategy)

	mode := call.ext.Retrieval
	if mode == "" {
		mode = "auto"
	}
	info.Retrieval.Mode = mode

	// The vector serves routing, the semantic cache and retrieval.
	vecs, err := s.deps.Embedder.Embed(ctx, []string{call.query})
	if err != nil {
		return nil, &Error{Status: http.StatusBadGateway, Type: "upstream_error", Code: "embedding_failed", Message: "Embedding the query failed: " + err.Error()}
	}
	p.vec = vecs[0]

	var hits []retrieval.Hit
	if s.deps.Knowledge != nil && mode != "never" {
		hits, err = s.deps.Knowledge.Search(ctx, p.vec, s.opts.RetrievalTopK, retrieval.Filter{
			ExcludeDataOwners: p.scope.ExcludedData, OnlyDataOwners: p.scope.AllowedData,
		})
		if err != nil {
			return nil, &Error{Status: http.StatusBadGateway, Type: "upstream_error", Code: "retrieval_failed", Message: "Searching the knowledge store failed: " + err.Error()}
		}
	}

	var decision router.Decision
	if call.model == experts.ReservedName {
		decision, err = s.route(ctx, call, p, hits)
		if err != nil {
			return nil, err
		}
	} else {
		if err := s.direct(call.model, p); err != nil {
			return nil, err
		}
		decision = router.Decision{Router: "direct", Experts: []router.Choice{{Name: call.model, Weight: 1}}}
	}
	info.Route = routeInfo{Router: decision.Router, Version: decision.Version, Model: call.model, Experts: decision.Experts,
		Probabilities: decision.Probabilities, Default: decision.Default, DefaultReason: decision.DefaultReason}

	for _, ch := range decision.Experts {
		e, ok := s.deps.Registry.Get(ch.Name)
		if !ok || !e.Ready() {
			continue // removed or broken since routing; its weight goes to the others
		}
		p.candidates = append(p.candidates, aggregate.Candidate{Name: ch.Name, Weight: ch.Weight, Expert: e.Expert})
		s.metrics.routes.WithLabelValues(ch.Name).Inc()
	}
	if decision.Default {
		s.metrics.routes.WithLabelValues("default").Inc()
	}
	if len(p.candidates) == 0 {
		return nil, &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "no_expert_available", Message: "No expert is available to answer this request."}
	}

	useRetrieval := mode == "always" || (mode == "auto" && decision.Retrieve)
	switch {
	case !useRetrieval:
		info.Retrieval.Reason = map[string]string{"never": "disabled by request", "auto": "retrieval gate did not fire", "always": ""}[mode]
		s.metrics.retrievals.WithLabelValues("skipped").Inc()
	case s.deps.Knowledge == nil:
		info.Retrieval.Reason = "no knowledge store configured"
	default:
		p.req = s.ground(call.req, hits, info)
	}
	return p, nil
}

// route asks the router which experts answer an "auto" request.
func (s *Server) route(ctx context.Context, call *chatCall, p *plan, hits []retrieval.Hit) (router.Decision, error) {
	var candidates []string
	for _, name := range p.scope.Allowed {
		if name != s.opts.DefaultExpert {
			candidates = append(candidates, name)
		}
	}
	q := router.Query{Text: call.query, Vector: p.vec, Candidates: candidates, TopK: s.opts.TopK, TopP: s.opts.TopP}
	if call.ext.TopK > 0 {
		q.TopK = call.ext.TopK
	}
	if call.ext.TopP > 0 {
		q.TopP = call.ext.TopP
	}
	q.TopK = p.scope.ClampK(q.TopK)
	if len(hits) > 0 {
		q.KnowledgeScore = hits[0].Score
	}
	d, err := s.deps.Router.Route(ctx, q)
	if err != nil {
		return d, fmt.Errorf("route: %w", err)
	}
	if p.scope.MaxK > 0 && len(d.Experts) > p.scope.MaxK {
		d.Experts = renormalize(d.Experts[:p.scope.MaxK])
	}
	if len(d.Experts) == 0 {
		d.Default = true
	}
	if d.Default {
		if !p.scope.DefaultAllowed {
			return d, &Error{Status: http.StatusForbidden, Type: "permission_error", Code: "no_expert_allowed",
				Message: "No expert fits this query, and the policies of this request exclude the default expert."}
		}
		d.Experts = []router.Choice{{Name: s.opts.DefaultExpert, Weight: 1}}
	}
	return d, nil
}

func renormalize(cs []router.Choice) []router.Choice {
	sum := 0.0
	for _, c := range cs {
		sum += c.Weight
	}
	out := make([]router.Choice, len(cs))
	for i, c := range cs {
		out[i] = router.Choice{Name: c.Name, Weight: c.Weight / sum}
	}
	return out
}

// direct checks a request for one named expert.
func (s *Server) direct(name string, p *plan) error {
	e, ok := s.deps.Registry.Get(name)
	if !ok || !e.Spec.IsEnabled() {
		return notFound("model_not_found", "The model '%s' does not exist or you do not have access to it.", name)
	}
	if !e.Ready() {
		return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "expert_unavailable",
			Message: fmt.Sprintf("Expert '%s' is registered but could not be started: %v", name, e.Err)}
	}
	for _, a := range p.scope.Allowed {
		if a == name {
			return nil
		}
	}
	reason := "not allowed for this request"
	for _, x := range p.scope.Excluded {
		if x.Name == name {
			reason = x.Reason
		}
	}
	return &Error{Status: http.StatusForbidden, Type: "permission_error", Code: "expert_excluded", Param: "model",
		Message: fmt.Sprintf("The model '%s' is excluded from this request: %s.", name, reason)}
}

// ground puts retrieved passages into the prompt as a numbered list the
// expert cites from, and records them in the moegate object.
func (s *Server) ground(req *experts.Request, hits []retrieval.Hit, info *moegateInfo) *experts.Request {
	var kept []retrieval.Hit
	for _, h := range hits {
		if h.Score >= s.opts.RetrievalMinScore {
			kept = append(kept, h)
		}
	}
	if len(kept) == 0 {
		info.Retrieval.Reason = "no passage scored above the minimum"
		s.metrics.retrievals.WithLabelValues("empty").Inc()
		return req
	}
	s.metrics.retrievals.WithLabelValues("used").Inc()
	info.Retrieval.Used = true
	var b strings.Builder
	b.WriteString("Answer using the numbered passages below when they are relevant, and cite them as [n]. If they do not contain the answer, say so.\n\n")
	for i, h := range kept {
		n := i + 1
		fmt.Fprintf(&b, "[%d] (%s) %s\n\n", n, h.Chunk.DocID, strings.TrimSpace(h.Chunk.Text))
		info.Retrieval.Passages = append(info.Retrieval.Passages, passageInfo{N: n, Doc: h.Chunk.DocID, Chunk: h.Chunk.ID, Seq: h.Chunk.Seq, Score: h.Score, Owner: h.Chunk.DataOwner})
	}
	grounded := *req
	grounded.Messages = append([]experts.Message{{Role: "system", Content: b.String()}}, req.Messages...)
	return &grounded
}

func (s *Server) chatCompletions(c *gin.Context) error {
	call, err := s.decodeChat(c)
	if err != nil {
		return err
	}
	t, err := s.authenticate(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.opts.RequestTimeout)
	defer cancel()
	if err := s.admit(ctx, t); err != nil {
		return err
	}
	p, err := s.makePlan(ctx, c, call, t)
	if err != nil {
		return err
	}
	s.recent.add(p.info.RequestID, call.query, t.Name)

	cacheable := s.deps.Cache != nil && len(call.req.Tools) == 0
	var scopeKey, exactKey string
	if cacheable {
		scopeKey, exactKey = cacheKeys(call, p)
		if served, err := s.serveFromCache(ctx, c, call, p, scopeKey, exactKey); served || err != nil {
			return err
		}
	}

	opts := aggregate.Options{Strategy: p.strategy, Retries: s.opts.Retries, Logger: s.log}
	if p.strategy == aggregate.Synthesize && len(p.candidates) > 1 {
		if syn, ok := s.synthesizer(p); ok {
			opts.Synthesizer = &syn
		}
	}
	c.Header("X-Moegate-Route", p.info.header())

	var out aggregate.Outcome
	if call.stream {
		sw := newStreamWriter(c, p.info, call.includeUsage, p.candidates[0].Name)
		out, err = aggregate.RunStream(ctx, p.candidates, p.req, opts, sw.delta)
		s.recordCalls(p.info, out)
		if err != nil {
			if !sw.started {
				return s.upstreamError(err)
			}
			sw.fail(s.upstreamError(err))
			return nil
		}
		sw.finish(out)
	} else {
		out, err = aggregate.Run(ctx, p.candidates, p.req, opts)
		s.recordCalls(p.info, out)
		if err != nil {
			return s.upstreamError(err)
		}
		c.JSON(http.StatusOK, completion(p.info, out))
	}
	s.account(c.Request.Context(), t, out)
	if cacheable {
		s.storeInCache(c.Request.Context(), p, scopeKey, exactKey, out)
	}
	return nil
}

// synthesizer is the configured aggregator expert, when the request may use it.
func (s *Server) synthesizer(p *plan) (aggregate.Candidate, bool) {
	name := s.opts.Synthesizer
	if name == "" {
		name = s.opts.DefaultExpert
	}
	allowed := false
	for _, a := range p.scope.Allowed {
		allowed = allowed || a == name
	}
	e, ok := s.deps.Registry.Get(name)
	if !allowed || !ok {
		return aggregate.Candidate{}, false
	}
	return aggregate.Candidate{Name: name, Weight: 1, Expert: e.Expert}, true
}

func (s *Server) recordCalls(info *moegateInfo, out aggregate.Outcome) {
	info.Experts = make([]expertCall, 0, len(out.Calls))
	for _, call := range out.Calls {
		info.Experts = append(info.Experts, expertCall{Name: call.Name, Status: call.Status, LatencyMS: call.LatencyMS, Attempts: call.Attempts, Error: call.Error})
		s.metrics.expertCalls.WithLabelValues(call.Name, call.Status).Inc()
		if call.Status == "ok" || call.Status == "error" || call.Status == "timeout" {
			s.metrics.expertLat.WithLabelValues(call.Name).Observe(call.LatencyMS / 1000)
		}
	}
}

// account records token usage against the tenant's limits and budget.
// It runs after the response, on the request's context minus its deadline,
// so a slow limiter never delays the answer's bytes.
func (s *Server) account(ctx context.Context, t policies.Tenant, out aggregate.Outcome) {
	if out.Response == nil {
		return
	}
	// Every call that answered consumed tokens, used or not (synthesize,
	// parallel-best), so budgets count them all.
	u := out.Usage
	if u == (experts.Usage{}) {
		u = out.Response.Usage
	}
	s.metrics.tokens.WithLabelValues(out.Answered, "prompt").Add(float64(u.PromptTokens))
	s.metrics.tokens.WithLabelValues(out.Answered, "completion").Add(float64(u.CompletionTokens))
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	if err := s.deps.Limiter.Record(context.WithoutCancel(ctx), t, out.Answered, total); err != nil {
		s.log.WarnContext(ctx, "recording usage failed", "tenant", t.Name, "err", err)
	}
}

// upstreamError maps an aggregation failure to 502/504 naming the expert.
func (s *Server) upstreamError(err error) error {
	if errors.Is(err, experts.ErrInvalid) {
		return invalid("", "%v", err)
	}
	var ae *aggregate.Error
	if errors.As(err, &ae) {
		if ae.Timeout {
			return &Error{Status: http.StatusGatewayTimeout, Type: "upstream_error", Code: "expert_timeout",
				Message: fmt.Sprintf("Expert '%s' did not answer in time: %v", ae.Expert, ae.Err)}
		}
		return &Error{Status: http.StatusBadGateway, Type: "upstream_error", Code: "expert_failed",
			Message: fmt.Sprintf("Expert '%s' failed: %v", ae.Expert, ae.Err)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: http.StatusGatewayTimeout, Type: "upstream_error", Code: "expert_timeout", Message: "The request deadline passed before an expert answered."}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Status: 499, Type: "invalid_request_error", Code: "client_closed_request", Message: "The client closed the request."}
	}
	return err
}

func completion(info *moegateInfo, out aggregate.Outcome) chatCompletion {
	r := out.Response
	content := r.Content
	finish := r.FinishReason
	if finish == "" {
		finish = "stop"
	}
	return chatCompletion{
		ID: "chatcmpl-" + strings.TrimPrefix(info.RequestID, "req_"), Object: "chat.completion", Created: time.Now().Unix(),
		Model: out.Answered,
		Choices: []chatChoice{{Index: 0, FinishReason: finish,
			Message: responseMessage{Role: "assistant", Content: &content, ToolCalls: r.ToolCalls}}},
		Usage:   usageOf(r.Usage),
		Moegate: info,
	}
}

func usageOf(u experts.Usage) *usage {
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	return &usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: total}
}
