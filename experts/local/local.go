// Package local adapts the in-process engine to the experts.Expert
// interface: an expert of kind local answers with an *engine.Engine.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/moegate/moegate/engine"
	"github.com/moegate/moegate/experts"
)

// Engine is what a local expert needs from the in-process engine
// (*engine.Engine). Several local experts may share one engine; they differ
// by system prompt and limits.
type Engine interface {
	Chat(ctx context.Context, msgs []engine.Message, p engine.Params, onToken func(piece string) error) (engine.Result, error)
	Info() engine.Info
}

// Sampling defaults of local experts, for fields the request leaves unset.
// They follow llama.cpp's defaults, with a mild repeat penalty because
// small models loop easily.
const (
	DefaultMaxTokens     = 256
	DefaultTemperature   = 0.7
	DefaultTopK          = 40
	DefaultTopP          = 0.95
	DefaultMinP          = 0.05
	DefaultRepeatPenalty = 1.1
)

// Expert is an expert answered by the in-process MoE engine. It does not
// support tools or structured response formats: such requests fail with
// experts.ErrInvalid.
type Expert struct {
	name    string
	engine  Engine
	system  string
	timeout time.Duration // 0: none beyond the caller's
	maxTok  int
	slots   experts.Slots
	// declared are the spec's capabilities, which may narrow the engine's.
	declared experts.Capabilities
}

// Engines opens the engine for a model file ("": the default model).
type Engines interface {
	Engine(ctx context.Context, model string) (Engine, error)
}

// Kind is the "local" kind for experts.Kinds: experts run on the engines
// engines opens; maxTokens is as for New.
func Kind(engines Engines, maxTokens int) experts.Builder { return kind{engines, maxTokens} }

type kind struct {
	engines   Engines
	maxTokens int
}

func (kind) Check(s experts.Spec) error { return Check(s) }

func (k kind) Build(ctx context.Context, s experts.Spec) (experts.Expert, error) {
	if s.Model != "" {
		// Opening a FIFO or a device would block the registry.
		fi, err := os.Stat(s.Model)
		if err != nil {
			return nil, invalid("model", "%v", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, invalid("model", "%s is not a regular file (%s)", s.Model, fi.Mode().Type())
		}
	}
	eng, err := k.engines.Engine(ctx, s.Model)
	if err != nil {
		return nil, err
	}
	return New(s, eng, k.maxTokens), nil
}

// Check reports what is wrong with a normalized spec of kind local: the
// fields of remote experts mean nothing here.
func Check(s experts.Spec) error {
	switch {
	case s.Kind != experts.KindLocal:
		return invalid("kind", "%q is not %q", s.Kind, experts.KindLocal)
	case s.BaseURL != "":
		return invalid("base_url", "not used by kind %q", s.Kind)
	case s.APIKeyEnv != "":
		return invalid("api_key_env", "not used by kind %q", s.Kind)
	case len(s.Headers) > 0:
		return invalid("headers", "not used by kind %q", s.Kind)
	case len(s.HeadersEnv) > 0:
		return invalid("headers_env", "not used by kind %q", s.Kind)
	case len(s.Deployments) > 0:
		return invalid("deployments", "not used by kind %q", s.Kind)
	}
	if s.Model != "" {
		// A missing file fails the build (the expert is registered
		// without traffic until it appears); anything but a regular file
		// is refused outright.
		if fi, err := os.Stat(s.Model); err == nil && !fi.Mode().IsRegular() {
			return invalid("model", "%s is not a regular file (%s)", s.Model, fi.Mode().Type())
		}
	}
	for field, v := range map[string]*bool{"tools": s.Capabilities.Tools, "json_schema": s.Capabilities.JSONSchema, "vision": s.Capabilities.Vision} {
		if v != nil && *v {
			return invalid("capabilities."+field, "the local engine does not support %s", field)
		}
	}
	return nil
}

// New returns the expert for spec (kind local) on engine. maxTokens
// caps answers whose request sets no max_tokens (0 = DefaultMaxTokens).
// Unlike OpenAI experts, a zero Timeout means no limit of the expert's
// own: the engine's speed depends on the machine, so the request deadline
// governs.
func New(spec experts.Spec, eng Engine, maxTokens int) *Expert {
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	l := &Expert{name: spec.Name, engine: eng, system: spec.SystemPrompt, timeout: spec.Timeout.Std(), maxTok: maxTokens, declared: spec.Capabilities}
	l.slots = experts.NewSlots(spec.MaxConcurrency)
	return l
}

// Capabilities are what the loaded model can do: text in and out, no
// tools, structured output or images, within the engine's context (a
// sequence holds prompt and answer).
func (l *Expert) Capabilities() experts.Capabilities {
	ctx := l.engine.Info().Context
	return experts.Capabilities{Tools: new(false), JSONSchema: new(false), Vision: new(false), MaxContext: ctx, MaxOutput: ctx}.Narrow(l.declared)
}

// Name returns the expert's name.
func (l *Expert) Name() string { return l.name }

// ContextTokens is the engine's context window, for the gateway's
// budget of retrieved passages.
func (l *Expert) ContextTokens() int { return l.engine.Info().Context }

// Engine returns the engine the expert runs on.
func (l *Expert) Engine() Engine { return l.engine }

// Complete implements experts.Expert.
func (l *Expert) Complete(ctx context.Context, req *experts.Request) (*experts.Response, error) {
	return l.chat(ctx, req, nil)
}

// Stream implements experts.Expert.
func (l *Expert) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	return l.chat(ctx, req, func(piece string) error { return onDelta(experts.Delta{Content: piece}) })
}

func (l *Expert) chat(ctx context.Context, req *experts.Request, onToken func(string) error) (*experts.Response, error) {
	msgs, params, err := l.convert(req)
	if err != nil {
		return nil, err
	}
	release, err := l.slots.Acquire(ctx)
	if err != nil {
		return nil, l.wrap(ctx, err, false)
	}
	defer release()
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if l.timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, l.timeout)
	}
	defer cancel()
	// The callback's own error must come back unchanged (the caller aborts
	// with it), so remember it apart from engine failures.
	var cbErr error
	var cb func(string) error
	if onToken != nil {
		cb = func(p string) error {
			cbErr = onToken(p)
			return cbErr
		}
	}
	res, err := l.engine.Chat(cctx, msgs, params, cb)
	if err != nil {
		if cbErr != nil && errors.Is(err, cbErr) {
			return nil, cbErr
		}
		return nil, l.wrap(ctx, err, cctx.Err() != nil && ctx.Err() == nil)
	}
	return &experts.Response{
		Content:      res.Text,
		FinishReason: res.FinishReason,
		Usage: experts.Usage{
			PromptTokens:     res.PromptTokens,
			CompletionTokens: res.CompletionTokens,
			TotalTokens:      res.PromptTokens + res.CompletionTokens,
		},
	}, nil
}

func (l *Expert) wrap(ctx context.Context, err error, ourTimeout bool) error {
	switch {
	case errors.Is(err, engine.ErrPromptTooLong):
		return &experts.ValidationError{Field: "messages", Message: err.Error()}
	case ourTimeout:
		return &experts.UpstreamError{Expert: l.name, Timeout: true, Err: fmt.Errorf("%w after %s", context.DeadlineExceeded, l.timeout)}
	case errors.Is(err, context.DeadlineExceeded):
		return &experts.UpstreamError{Expert: l.name, Timeout: true, Err: err}
	case errors.Is(err, context.Canceled):
		return &experts.UpstreamError{Expert: l.name, Err: err}
	}
	// Engine failures are not worth retrying, so they are not
	// UpstreamErrors (which count as retryable without a status).
	return fmt.Errorf("expert %q: %w", l.name, err)
}

// convert maps a request onto the engine's messages and sampling
// parameters, applying the local defaults.
func (l *Expert) convert(req *experts.Request) ([]engine.Message, engine.Params, error) {
	p := engine.Params{
		MaxTokens:     req.MaxTokens,
		Temperature:   DefaultTemperature,
		TopK:          DefaultTopK,
		TopP:          DefaultTopP,
		MinP:          DefaultMinP,
		RepeatPenalty: DefaultRepeatPenalty,
		Stop:          req.Stop,
	}
	if present(req.Tools) {
		return nil, p, invalid("tools", "expert %q (kind local) does not support tools", l.name)
	}
	if present(req.ResponseFormat) {
		var rf struct{ Type string }
		if err := json.Unmarshal(req.ResponseFormat, &rf); err != nil || (rf.Type != "" && rf.Type != "text") {
			return nil, p, invalid("response_format", "expert %q (kind local) only writes text", l.name)
		}
	}
	if req.Images > 0 {
		return nil, p, invalid("messages", "expert %q (kind local) does not take image input", l.name)
	}
	if err := l.unsupported(req.Body); err != nil {
		return nil, p, err
	}
	if p.MaxTokens <= 0 {
		p.MaxTokens = l.maxTok
	}
	if req.Temperature != nil {
		p.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		p.TopP = *req.TopP
	}
	if req.Seed != nil {
		// The engine reads seed 0 as "random"; a client that asks for
		// seed 0 wants repeatable output, so give it a fixed stand-in.
		p.Seed = uint64(*req.Seed)
		if p.Seed == 0 {
			p.Seed = 0x9e3779b97f4a7c15
		}
	}
	msgs := make([]engine.Message, 0, len(req.Messages)+1)
	if l.system != "" {
		msgs = append(msgs, engine.Message{Role: "system", Content: l.system})
	}
	for _, m := range req.Messages {
		role := m.Role
		switch role {
		case "developer":
			role = "system"
		case "tool", "function":
			// The chat templates know system, user and assistant only.
			role = "user"
		}
		msgs = append(msgs, engine.Message{Role: role, Content: m.Content})
	}
	return msgs, p, nil
}

// Refuses reports, before any call, a parameter of req the engine cannot
// honour, so that routing can send the request elsewhere.
func (l *Expert) Refuses(req *experts.Request) error { return l.unsupported(req.Body) }

// unsupported names the first parameter of the client's request that the
// engine cannot honour (it samples text with temperature, top_p, seed and
// stop only), rather than answering as if it had.
func (l *Expert) unsupported(body []byte) error {
	if len(body) == 0 {
		return nil
	}
	var r struct {
		PresencePenalty  *float64        `json:"presence_penalty"`
		FrequencyPenalty *float64        `json:"frequency_penalty"`
		LogitBias        map[string]any  `json:"logit_bias"`
		Logprobs         *bool           `json:"logprobs"`
		TopLogprobs      *int            `json:"top_logprobs"`
		N                *int            `json:"n"`
		ReasoningEffort  *string         `json:"reasoning_effort"`
		Modalities       []string        `json:"modalities"`
		Audio            json.RawMessage `json:"audio"`
		Prediction       json.RawMessage `json:"prediction"`
		WebSearch        json.RawMessage `json:"web_search_options"`
	}
	if json.Unmarshal(body, &r) != nil {
		return nil // the HTTP layer validated the body; nothing to add
	}
	cannot := func(param string) error {
		return invalid(param, "expert %q (kind local) cannot honour '%s'; leave it out or route to another expert", l.name, param)
	}
	switch {
	case r.PresencePenalty != nil && *r.PresencePenalty != 0:
		return cannot("presence_penalty")
	case r.FrequencyPenalty != nil && *r.FrequencyPenalty != 0:
		return cannot("frequency_penalty")
	case len(r.LogitBias) > 0:
		return cannot("logit_bias")
	case r.Logprobs != nil && *r.Logprobs:
		return cannot("logprobs")
	case r.TopLogprobs != nil && *r.TopLogprobs > 0:
		return cannot("top_logprobs")
	case r.N != nil && *r.N > 1:
		return cannot("n")
	case r.ReasoningEffort != nil:
		return cannot("reasoning_effort")
	case len(r.Modalities) > 0 && (len(r.Modalities) > 1 || r.Modalities[0] != "text"):
		return cannot("modalities")
	case present(r.Audio):
		return cannot("audio")
	case present(r.Prediction):
		return cannot("prediction")
	case present(r.WebSearch):
		return cannot("web_search_options")
	}
	return nil
}

var invalid = experts.Invalid

// present reports whether a raw JSON field was sent with a value.
func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }
