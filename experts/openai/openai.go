// Package openai is the expert kind "openai": any OpenAI-compatible chat
// completions endpoint (OpenAI itself, vLLM, llama.cpp server, Ollama, TEI,
// another moegate).
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moegate/moegate/experts"
	openai "github.com/sashabaranov/go-openai"
)

// Expert is an expert served by an OpenAI-compatible chat completions API.
type Expert struct {
	name    string
	model   string
	system  string
	timeout time.Duration
	client  *openai.Client
	sem     chan struct{} // nil: unbounded
}

// Kind is the "openai" kind for experts.Kinds; its experts share
// httpClient (nil: http.DefaultClient).
func Kind(httpClient *http.Client) experts.Builder { return kind{httpClient} }

type kind struct{ hc *http.Client }

func (kind) Check(s experts.Spec) error { return Check(s) }

func (k kind) Build(_ context.Context, s experts.Spec) (experts.Expert, error) { return New(s, k.hc) }

// Check reports what is wrong with a normalized spec of kind openai.
func Check(s experts.Spec) error {
	if s.Kind != experts.KindOpenAI {
		return invalid("kind", "%q is not %q", s.Kind, experts.KindOpenAI)
	}
	if s.BaseURL == "" {
		return invalid("base_url", "required for kind %q", s.Kind)
	}
	u, err := url.Parse(s.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("base_url", "%q is not an http(s) URL", s.BaseURL)
	}
	if u.User != nil {
		return invalid("base_url", "must not carry credentials; use api_key_env")
	}
	if s.Model == "" {
		return invalid("model", "required for kind %q", s.Kind)
	}
	return nil
}

var invalid = experts.Invalid

// New builds the expert for spec (kind openai). The API key is read now
// from the environment variable spec.APIKeyEnv; an unset variable is an
// experts.ErrInvalid error. httpClient may be nil (http.DefaultClient); it
// is not modified.
func New(spec experts.Spec, httpClient *http.Client) (*Expert, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := Check(spec); err != nil {
		return nil, err
	}
	var key string
	if spec.APIKeyEnv != "" {
		key = os.Getenv(spec.APIKeyEnv)
		if key == "" {
			return nil, invalid("api_key_env", "environment variable %s is not set", spec.APIKeyEnv)
		}
	}
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = apiBase(spec.BaseURL)
	hc := http.DefaultClient
	if httpClient != nil {
		hc = httpClient
	}
	if len(spec.Headers) > 0 {
		c := *hc
		c.Transport = &headerTransport{base: hc.Transport, headers: spec.Headers}
		hc = &c
	}
	cfg.HTTPClient = hc
	o := &Expert{
		name:    spec.Name,
		model:   spec.Model,
		system:  spec.SystemPrompt,
		timeout: spec.Timeout.Std(),
		client:  openai.NewClientWithConfig(cfg),
	}
	if o.timeout <= 0 {
		o.timeout = experts.DefaultTimeout
	}
	if spec.MaxConcurrency > 0 {
		o.sem = make(chan struct{}, spec.MaxConcurrency)
	}
	return o, nil
}

// apiBase turns a configured base URL into the prefix go-openai appends
// "/chat/completions" to: a bare host gets "/v1", any path is kept.
func apiBase(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" || u.Path == "/" {
		return raw + "/v1"
	}
	return raw
}

// headerTransport adds the spec's extra headers to every request; they
// override go-openai's own (so a spec can replace Authorization).
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

// Name returns the expert's name.
func (o *Expert) Name() string { return o.name }

func (o *Expert) acquire(ctx context.Context) (release func(), err error) {
	if o.sem == nil {
		return func() {}, nil
	}
	select {
	case o.sem <- struct{}{}:
		return func() { <-o.sem }, nil
	case <-ctx.Done():
		return nil, o.wrap(ctx, ctx.Err(), false)
	}
}

// Complete implements Expert.
func (o *Expert) Complete(ctx context.Context, req *experts.Request) (*experts.Response, error) {
	creq, err := o.request(req)
	if err != nil {
		return nil, err
	}
	release, err := o.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	resp, err := o.client.CreateChatCompletion(cctx, creq)
	if err != nil {
		return nil, o.wrap(ctx, err, cctx.Err() != nil && ctx.Err() == nil)
	}
	if len(resp.Choices) == 0 {
		return nil, &experts.UpstreamError{Expert: o.name, Err: errors.New("response has no choices")}
	}
	ch := resp.Choices[0]
	out := &experts.Response{
		Content:      ch.Message.Content,
		FinishReason: string(ch.FinishReason),
		Usage: experts.Usage{
			PromptTokens:     resp.Usage.PromptTokens,
			CompletionTokens: resp.Usage.CompletionTokens,
			TotalTokens:      resp.Usage.TotalTokens,
		},
	}
	if len(ch.Message.ToolCalls) > 0 {
		out.ToolCalls, _ = json.Marshal(ch.Message.ToolCalls)
	}
	return out, nil
}

// Stream implements Expert. The timeout bounds the wait for the response
// headers and then for each chunk, so long answers are not cut off while
// a stalled upstream still is.
func (o *Expert) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	creq, err := o.request(req)
	if err != nil {
		return nil, err
	}
	creq.Stream = true
	creq.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	release, err := o.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(o.timeout, func() { cancel(errIdle) })
	defer idle.Stop()
	timedOut := func() bool { return errors.Is(context.Cause(cctx), errIdle) }

	stream, err := o.client.CreateChatCompletionStream(cctx, creq)
	if err != nil {
		return nil, o.wrap(ctx, err, timedOut())
	}
	defer stream.Close()

	out := &experts.Response{}
	var content []byte
	var calls toolCallAccumulator
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, o.wrap(ctx, err, timedOut())
		}
		idle.Reset(o.timeout)
		if chunk.Usage != nil {
			out.Usage = experts.Usage{
				PromptTokens:     chunk.Usage.PromptTokens,
				CompletionTokens: chunk.Usage.CompletionTokens,
				TotalTokens:      chunk.Usage.TotalTokens,
			}
		}
		if len(chunk.Choices) == 0 {
			continue
		}
		ch := chunk.Choices[0]
		if ch.FinishReason != "" && ch.FinishReason != openai.FinishReasonNull {
			out.FinishReason = string(ch.FinishReason)
		}
		d := experts.Delta{Content: ch.Delta.Content}
		if len(ch.Delta.ToolCalls) > 0 {
			calls.add(ch.Delta.ToolCalls)
			d.ToolCalls = deltaJSON(ch.Delta.ToolCalls)
		}
		if d.Content == "" && d.ToolCalls == nil {
			continue
		}
		content = append(content, d.Content...)
		if err := onDelta(d); err != nil {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, o.wrap(ctx, ctx.Err(), false)
	}
	out.Content = string(content)
	out.ToolCalls = calls.json()
	return out, nil
}

var errIdle = errors.New("no data from upstream within the timeout")

// wrap turns a go-openai or transport error into an *experts.UpstreamError.
// ourTimeout is true when the expert's own timeout expired.
func (o *Expert) wrap(ctx context.Context, err error, ourTimeout bool) error {
	ue := &experts.UpstreamError{Expert: o.name, Err: err}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		ue.Status = apiErr.HTTPStatusCode
	case errors.As(err, &reqErr):
		ue.Status = reqErr.HTTPStatusCode
	}
	var ne net.Error
	switch {
	case ourTimeout:
		ue.Timeout = true
		ue.Err = fmt.Errorf("%w after %s: %w", context.DeadlineExceeded, o.timeout, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded):
		ue.Timeout = true
	case errors.As(err, &ne) && ne.Timeout():
		ue.Timeout = true
	case ctx.Err() != nil && !errors.Is(err, context.Canceled):
		ue.Err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return ue
}

// request maps an expert experts.Request to go-openai's. Malformed pass-through
// JSON is an experts.ErrInvalid error.
func (o *Expert) request(req *experts.Request) (openai.ChatCompletionRequest, error) {
	c := openai.ChatCompletionRequest{
		Model:     o.model,
		MaxTokens: req.MaxTokens,
		Stop:      req.Stop,
		Seed:      req.Seed,
		User:      req.User,
	}
	if req.Temperature != nil {
		c.Temperature = nonZero(*req.Temperature)
	}
	if req.TopP != nil {
		c.TopP = nonZero(*req.TopP)
	}
	if o.system != "" {
		c.Messages = append(c.Messages, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: o.system})
	}
	for i, m := range req.Messages {
		cm := openai.ChatCompletionMessage{Role: m.Role, Content: m.Content, Name: m.Name, ToolCallID: m.ToolCallID}
		if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" {
			if err := json.Unmarshal(m.ToolCalls, &cm.ToolCalls); err != nil {
				return c, invalid(fmt.Sprintf("messages[%d].tool_calls", i), "%v", err)
			}
		}
		c.Messages = append(c.Messages, cm)
	}
	if present(req.Tools) {
		tools, err := parseTools(req.Tools)
		if err != nil {
			return c, err
		}
		c.Tools = tools
	}
	if present(req.ToolChoice) {
		if !json.Valid(req.ToolChoice) {
			return c, invalid("tool_choice", "not valid JSON")
		}
		c.ToolChoice = req.ToolChoice // json.RawMessage marshals verbatim
	}
	if present(req.ResponseFormat) {
		var rf openai.ChatCompletionResponseFormat
		if err := json.Unmarshal(req.ResponseFormat, &rf); err != nil {
			return c, invalid("response_format", "%v", err)
		}
		c.ResponseFormat = &rf
	}
	// Reasoning models take max_completion_tokens, and go-openai refuses
	// max_tokens for them before sending anything.
	if isReasoningModel(o.model) {
		c.MaxCompletionTokens, c.MaxTokens = c.MaxTokens, 0
	}
	if err := openai.NewReasoningValidator().Validate(c); err != nil {
		return c, invalid("request", "model %q: %v", o.model, err)
	}
	return c, nil
}

func isReasoningModel(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// nonZero works around go-openai's omitempty on float fields: an explicit 0
// would be dropped and the upstream would use its default instead, so send
// the smallest positive float, which every server treats as 0.
func nonZero(v float32) float32 {
	if v == 0 {
		return math.SmallestNonzeroFloat32
	}
	return v
}

// parseTools keeps each tool's JSON intact: parameters stay raw and any
// extra keys ride along in Tool.Parameters.
func parseTools(raw json.RawMessage) ([]openai.Tool, error) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid("tools", "%v", err)
	}
	tools := make([]openai.Tool, 0, len(items))
	for i, it := range items {
		var t openai.Tool
		if err := json.Unmarshal(it["type"], &t.Type); err != nil || t.Type == "" {
			return nil, invalid(fmt.Sprintf("tools[%d].type", i), "missing or not a string")
		}
		if fn, ok := it["function"]; ok {
			var f struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Strict      bool            `json:"strict"`
				Parameters  json.RawMessage `json:"parameters"`
			}
			if err := json.Unmarshal(fn, &f); err != nil {
				return nil, invalid(fmt.Sprintf("tools[%d].function", i), "%v", err)
			}
			t.Function = &openai.FunctionDefinition{Name: f.Name, Description: f.Description, Strict: f.Strict}
			if present(f.Parameters) {
				t.Function.Parameters = f.Parameters
			}
		}
		for k, v := range it {
			if k == "type" || k == "function" {
				continue
			}
			if t.Parameters == nil {
				t.Parameters = map[string]any{}
			}
			t.Parameters[k] = v
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// toolCallAccumulator merges streamed tool-call fragments by index.
type toolCallAccumulator struct {
	calls []openai.ToolCall
}

func (a *toolCallAccumulator) add(deltas []openai.ToolCall) {
	for _, d := range deltas {
		i := len(a.calls)
		if d.Index != nil {
			i = *d.Index
		}
		if i < 0 || i > 1024 {
			continue
		}
		for len(a.calls) <= i {
			a.calls = append(a.calls, openai.ToolCall{})
		}
		c := &a.calls[i]
		if d.ID != "" {
			c.ID = d.ID
		}
		if d.Type != "" {
			c.Type = d.Type
		} else if c.Type == "" {
			c.Type = openai.ToolTypeFunction
		}
		if c.Function.Name == "" {
			c.Function.Name = d.Function.Name
		}
		c.Function.Arguments += d.Function.Arguments
	}
}

func (a *toolCallAccumulator) json() json.RawMessage {
	if len(a.calls) == 0 {
		return nil
	}
	b, _ := json.Marshal(a.calls)
	return b
}

// toolCallDelta is a streamed tool-call fragment in OpenAI's shape. Unlike
// go-openai's ToolCall it omits an empty type: clients that merge
// fragments would otherwise overwrite "function" with "".
type toolCallDelta struct {
	Index    int    `json:"index"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

func deltaJSON(calls []openai.ToolCall) json.RawMessage {
	out := make([]toolCallDelta, len(calls))
	for i, c := range calls {
		out[i].Index = i
		if c.Index != nil {
			out[i].Index = *c.Index
		}
		out[i].ID, out[i].Type = c.ID, string(c.Type)
		out[i].Function.Name, out[i].Function.Arguments = c.Function.Name, c.Function.Arguments
	}
	b, _ := json.Marshal(out)
	return b
}
