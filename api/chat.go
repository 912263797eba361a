package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/policies"
)

// chatCall is one decoded and validated chat request.
type chatCall struct {
	req          *gateway.Request
	stream       bool
	includeUsage bool
}

var validRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true}

func (s *Server) decodeChat(c *gin.Context) (*chatCall, error) {
	var r chatRequest
	body, bare, err := s.readChat(c, &r)
	if err != nil {
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
	if err := checkSampling(r.Temperature, r.TopP); err != nil {
		return nil, err
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
	ext = withHeaders(c, ext)
	msgs := make([]experts.Message, len(r.Messages))
	images := 0
	for i, m := range r.Messages {
		param := func() string { return "messages[" + strconv.Itoa(i) + "]" } // for errors only
		if !validRoles[m.Role] {
			return nil, invalid(param()+".role", "Invalid role %q in %s: expected system, developer, user, assistant or tool.", m.Role, param())
		}
		text, n, err := contentText(m.Content)
		if err != nil {
			return nil, fieldErr(param()+".content", err)
		}
		images += n
		msgs[i] = experts.Message{Role: m.Role, Content: text, Name: m.Name, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID}
		if m.Role == "developer" {
			msgs[i].Role = "system"
		}
	}
	// The call, its gateway request and its chat request in one
	// allocation, not three.
	a := &chatAlloc{
		chat: experts.Request{
			Messages: msgs, Temperature: r.Temperature, TopP: r.TopP, MaxTokens: maxTokens, Stop: stop,
			Seed: r.Seed, User: r.User, Tools: nonNull(r.Tools), ToolChoice: nonNull(r.ToolChoice), ResponseFormat: nonNull(r.ResponseFormat),
			Body:   body,
			Images: images,
		},
	}
	a.req = gateway.Request{ID: requestID(c), Model: r.Model, Ext: ext, Chat: &a.chat, BareBody: bare}
	a.call = chatCall{stream: r.Stream, req: &a.req, includeUsage: r.StreamOptions != nil && r.StreamOptions.IncludeUsage}
	return &a.call, nil
}

// chatAlloc holds what decodeChat returns.
type chatAlloc struct {
	call chatCall
	req  gateway.Request
	chat experts.Request
}

// withHeaders merges what the request's headers say into its moegate
// object: X-Moegate-Exclude-Data adds to the opt-out, and Cache-Control
// no-store (off) or no-cache (refresh) sets the cache mode unless the body
// set one.
func withHeaders(c *gin.Context, ext policies.Extension) policies.Extension {
	ext.OptOut = ext.OptOut.Merge(policies.OptOut{ExcludeData: policies.ParseExcludeHeader(requestHeader(c.Request, "X-Moegate-Exclude-Data"))})
	if cc := requestHeader(c.Request, "Cache-Control"); ext.Cache == "" && cc != "" {
		for _, d := range strings.Split(cc, ",") {
			switch strings.ToLower(strings.TrimSpace(d)) {
			case "no-store":
				ext.Cache = policies.CacheOff
			case "no-cache":
				if ext.Cache == "" {
					ext.Cache = policies.CacheRefresh
				}
			}
		}
	}
	return ext
}

func checkSampling(temperature, topP *float32) error {
	if temperature != nil && (*temperature < 0 || *temperature > 2) {
		return invalid("temperature", "'temperature' must be between 0 and 2; got %g.", *temperature)
	}
	if topP != nil && (*topP < 0 || *topP > 1) {
		return invalid("top_p", "'top_p' must be between 0 and 1; got %g.", *topP)
	}
	return nil
}

func nonNull(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return raw
}

// authenticate finds the caller's tenant. With auth "none" a caller
// without a tenant's key is the default tenant.
func (s *Server) authenticate(c *gin.Context) (policies.Tenant, error) {
	if t, ok := c.Get(asTenantKey); ok {
		return t.(policies.Tenant), nil // an admin acting as a tenant (asTenant)
	}
	key, ok := bearer(c.Request)
	if !s.opts.AuthRequired {
		// Keys are optional, but a tenant's key is honoured: its limits
		// and policies apply. SDKs always send some key, so an unknown
		// one is the default tenant, not an error.
		if ok {
			if t, err := s.deps.Tenants.Authenticate(c.Request.Context(), key); err == nil {
				return t, nil
			}
		}
		return policies.DefaultTenant(), nil
	}
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

func (s *Server) chatCompletions(c *gin.Context) error {
	call, err := s.decodeChat(c)
	if err != nil {
		return err
	}
	p, err := s.plan(c, call.req)
	if err != nil {
		return err
	}
	// The route header is written last: the cache may still answer.
	if !call.stream {
		res, err := s.execute(c, p, nil)
		setHeader(c, "X-Moegate-Route", p.Info.Header())
		if err != nil {
			return err
		}
		s.writeCompletion(c, res)
		return nil
	}
	sw := s.streamWriter(c, p.Info, call.includeUsage, p.Info.Route.Experts[0].Name)
	defer s.keepStream(sw)
	res, err := s.execute(c, p, sw.onDelta)
	if err != nil {
		if !sw.started {
			c.Header("X-Moegate-Route", p.Info.Header())
			return err
		}
		if errs.Is(err, errs.Canceled) {
			// The 200 went out with the first piece, but the request
			// ended because the client left: log and count it as 499.
			c.Set(statusKey, StatusClientClosedRequest)
		} else {
			sw.fail(err)
		}
		return nil
	}
	sw.finish(res)
	return nil
}

// plan authenticates the caller, applies its limits and plans req: the
// common start of every endpoint that answers through the experts.
func (s *Server) plan(c *gin.Context, req *gateway.Request) (*gateway.Plan, error) {
	c.Set(observedRequestKey, req)
	var err error
	if req.Tenant, err = s.authenticate(c); err != nil {
		return nil, err
	}
	ctx := c.Request.Context()
	d, err := s.gw.Admit(ctx, req.Tenant)
	rateLimitHeaders(c, d)
	if err != nil {
		return nil, err
	}
	p, err := s.gw.Plan(ctx, req)
	if p != nil {
		c.Set(observedPlanKey, p)
	}
	return p, err
}

// rateLimitHeaders are OpenAI's x-ratelimit-* headers for the limits the
// tenant has.
func rateLimitHeaders(c *gin.Context, d policies.Decision) {
	for _, q := range []struct {
		what string
		q    policies.Quota
	}{{"requests", d.Requests}, {"tokens", d.Tokens}} {
		if q.q.Limit <= 0 {
			continue
		}
		h := c.Writer.Header()
		h.Set("x-ratelimit-limit-"+q.what, strconv.FormatInt(q.q.Limit, 10))
		h.Set("x-ratelimit-remaining-"+q.what, strconv.FormatInt(q.q.Remaining, 10))
		h.Set("x-ratelimit-reset-"+q.what, q.q.Reset.Round(time.Millisecond).String())
	}
}

// completion is the chat completion of res, created at created (Unix
// seconds).
func completion(res *gateway.Result, created int64) *chatCompletion {
	choice, u := completionParts(res)
	cc := chatCompletion{ID: completionID(res), Object: "chat.completion", Created: created, Model: res.Answered,
		Choices: []chatChoice{choice}, Usage: &u, Moegate: res.Info}
	return &cc
}

// completionParts are the choice and usage of res's chat completion.
func completionParts(res *gateway.Result) (chatChoice, usage) {
	r := res.Response
	content := r.Content
	finish := r.FinishReason
	if finish == "" {
		finish = "stop"
	}
	return chatChoice{Index: 0, FinishReason: finish, Message: responseMessage{Role: "assistant", Content: &content, ToolCalls: r.ToolCalls}},
		*usageOf(r.Usage)
}

func completionID(res *gateway.Result) string {
	return "chatcmpl-" + strings.TrimPrefix(res.Info.RequestID, "req_")
}

func usageOf(u experts.Usage) *usage {
	return &usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.Total()}
}

// writeCompletion writes res's chat completion as gin's c.JSON would,
// encoding the common shape by hand into a reused buffer. The completion
// it encodes is on the stack, its choice and usage too; encoding/json gets
// one of its own.
func (s *Server) writeCompletion(c *gin.Context, res *gateway.Result) {
	created := time.Now().Unix()
	choice, u := completionParts(res)
	choices := [1]chatChoice{choice}
	cc := chatCompletion{ID: completionID(res), Object: "chat.completion", Created: created, Model: res.Answered,
		Choices: choices[:], Usage: &u, Moegate: res.Info}
	buf := s.buffer()
	b, ok := cc.appendJSON((*buf)[:0])
	if !ok {
		s.keep(buf, nil)
		c.JSON(http.StatusOK, completion(res, created))
		return
	}
	c.Writer.Header()["Content-Type"] = jsonContentType
	c.Status(http.StatusOK)
	_, _ = c.Writer.Write(b) // an error is the client gone: nothing to tell it
	s.keep(buf, b)
}

// buffer returns a buffer for a response encoded by hand, to be handed
// back with keep once the response is written.
func (s *Server) buffer() *[]byte {
	buf, _ := s.bodies.Get().(*[]byte)
	if buf == nil {
		buf = &[]byte{}
	}
	return buf
}

// keep returns buf, now grown to b (nil: as it was), for another response;
// an unusually long answer's buffer is not kept.
func (s *Server) keep(buf *[]byte, b []byte) {
	if b != nil {
		*buf = b
	}
	if cap(*buf) <= 64<<10 {
		s.bodies.Put(buf)
	}
}

// jsonContentType is set as is (never changed), as gin does, to save
// Header.Set's allocation.
var jsonContentType = []string{"application/json; charset=utf-8"}
