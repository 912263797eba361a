package experts

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/internal/units"
)

// Names of the kinds of expert the gateway builds (see Kinds).
const (
	KindOpenAI = "openai" // any OpenAI-compatible chat completions endpoint (experts/openai)
	KindLocal  = "local"  // the in-process MoE engine (experts/local)
)

// ReservedName is the model name clients use to let the router choose; no
// expert may take it.
const ReservedName = "auto"

// Sentinel errors. Check them with errors.Is.
var (
	ErrInvalid  = errs.New(errs.Invalid, "invalid expert")
	ErrExists   = errs.New(errs.Exists, "expert already exists").WithCode("expert_exists")
	ErrNotFound = errs.New(errs.NotFound, "expert not found").WithCode("expert_not_found")
)

// ValidationError says which field of a Spec (or of a request) is wrong.
// It wraps ErrInvalid.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "invalid: " + e.Message
	}
	return "invalid " + e.Field + ": " + e.Message
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Param is the request or spec field at fault, for the HTTP layer.
func (e *ValidationError) Param() string { return e.Field }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a *ValidationError about field, for the kinds' checks.
func Invalid(field, format string, args ...any) error { return invalid(field, format, args...) }

// Spec describes one expert. Its JSON and YAML field names are a contract
// with the admin API and the config file.
type Spec struct {
	Name string `json:"name" yaml:"name"`
	Kind string `json:"kind" yaml:"kind"`
	// BaseURL of an OpenAI-compatible API. A URL without a path
	// ("http://host:8000") gets "/v1" appended; a URL with a path
	// ("http://host/v1", "https://host/openai/v1") is used as given.
	// Requests go to BaseURL + "/chat/completions".
	BaseURL string `json:"base_url,omitempty" yaml:"base_url"`
	// Model is the upstream model name (openai, required) or a GGUF path
	// (local; "" = the gateway's default local model).
	Model string `json:"model,omitempty" yaml:"model"`
	// APIKeyEnv names the environment variable holding the API key. The key
	// itself is never stored or echoed.
	APIKeyEnv string `json:"api_key_env,omitempty" yaml:"api_key_env"`
	// Headers are extra request headers, stored and shown (redacted) as
	// given: not for secrets, which go in HeadersEnv.
	Headers map[string]string `json:"headers,omitempty" yaml:"headers"`
	// HeadersEnv maps a header to the environment variable holding its
	// value, read when the expert is built; the value is never stored or
	// echoed.
	HeadersEnv map[string]string `json:"headers_env,omitempty" yaml:"headers_env"`
	// Timeout bounds one call (openai: the whole non-streaming call, or the
	// wait for each streamed chunk). 0 = DefaultTimeout.
	Timeout units.Duration `json:"timeout,omitempty" yaml:"timeout"`
	// Fallbacks are experts asked, in order, when this one fails or is
	// ejected and nobody the router chose could answer.
	Fallbacks []string `json:"fallbacks,omitempty" yaml:"fallbacks"`
	// ContextTokens is the upstream model's context window, so that
	// retrieved passages are trimmed to fit beside the conversation and
	// the answer; 0 = unknown (a local expert knows its own).
	ContextTokens int `json:"context_tokens,omitempty" yaml:"context_tokens"`
	// MaxConcurrency bounds calls in flight to this expert; 0 = unbounded.
	MaxConcurrency int `json:"max_concurrency,omitempty" yaml:"max_concurrency"`
	// SystemPrompt is prepended to every conversation as a system message.
	SystemPrompt    string   `json:"system_prompt,omitempty" yaml:"system_prompt"`
	Description     string   `json:"description,omitempty" yaml:"description"`
	Tags            []string `json:"tags,omitempty" yaml:"tags"`
	Examples        []string `json:"examples,omitempty" yaml:"examples"`
	DataOwner       string   `json:"data_owner,omitempty" yaml:"data_owner"`
	CostPer1KTokens float64  `json:"cost_per_1k_tokens,omitempty" yaml:"cost_per_1k_tokens"`
	LatencyHintMS   int      `json:"latency_hint_ms,omitempty" yaml:"latency_hint_ms"`
	// Deployments are several endpoints serving this expert (the same
	// model in several places); requests are balanced among them by
	// experts/deploy. Exclusive with BaseURL.
	Deployments []Deployment `json:"deployments,omitempty" yaml:"deployments"`
	// Capabilities say which requests the expert can serve (tools,
	// structured output, images, context and answer size).
	Capabilities Capabilities `json:"capabilities,omitzero" yaml:"capabilities"`
	// Enabled is nil when unset, which means true; Normalize sets it.
	Enabled   *bool     `json:"enabled,omitempty" yaml:"enabled"`
	CreatedAt time.Time `json:"created_at,omitzero" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at,omitzero" yaml:"-"`
}

// Deployment is one endpoint of an expert with several.
type Deployment struct {
	BaseURL   string `json:"base_url" yaml:"base_url"`
	Model     string `json:"model,omitempty" yaml:"model"`             // "": the expert's model
	APIKeyEnv string `json:"api_key_env,omitempty" yaml:"api_key_env"` // "": the expert's
	// Weight is the deployment's share of requests relative to the
	// others' (0 counts as 1).
	Weight int `json:"weight,omitempty" yaml:"weight"`
}

// maxDeployments bounds the endpoints of one expert.
const maxDeployments = 64

// DefaultTimeout applies when Spec.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Limits on spec fields, so one admin call cannot make the registry huge.
const (
	maxTimeout     = time.Hour
	maxConcurrency = 100_000
	maxTextLen     = 16 << 10 // description, system prompt
	maxTags        = 256
	maxExamples    = 5000    // the router's training data: a few thousand per domain is normal
	maxItemLen     = 2 << 10 // one tag or example
	maxFallbacks   = 8
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerRE = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
)

// IsEnabled reports whether the expert takes traffic (nil Enabled = true).
func (s Spec) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// Normalize trims text fields, lower-cases the kind, drops empty and
// duplicate tags and examples, and sets Enabled when unset.
func (s *Spec) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	s.Kind = strings.ToLower(strings.TrimSpace(s.Kind))
	s.BaseURL = strings.TrimRight(strings.TrimSpace(s.BaseURL), "/")
	s.Model = strings.TrimSpace(s.Model)
	s.APIKeyEnv = strings.TrimSpace(s.APIKeyEnv)
	s.Description = strings.TrimSpace(s.Description)
	s.DataOwner = strings.TrimSpace(s.DataOwner)
	s.Tags = cleanList(s.Tags)
	for i := range s.Deployments {
		d := &s.Deployments[i]
		d.BaseURL = strings.TrimRight(strings.TrimSpace(d.BaseURL), "/")
		d.Model, d.APIKeyEnv = strings.TrimSpace(d.Model), strings.TrimSpace(d.APIKeyEnv)
	}
	if len(s.Deployments) == 0 {
		s.Deployments = nil
	}
	s.Examples = cleanList(s.Examples)
	s.Fallbacks = cleanList(s.Fallbacks)
	if len(s.Headers) == 0 {
		s.Headers = nil
	}
	if len(s.HeadersEnv) == 0 {
		s.HeadersEnv = nil
	}
	if s.Enabled == nil {
		t := true
		s.Enabled = &t
	}
}

func cleanList(in []string) []string {
	var out []string
	for _, v := range in {
		v = strings.TrimSpace(v)
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Validate checks s as Normalize left it. The error is a *ValidationError
// naming the first bad field.
func (s Spec) Validate() error {
	if s.Name == ReservedName {
		return invalid("name", "%q is reserved", ReservedName)
	}
	if !nameRE.MatchString(s.Name) {
		return invalid("name", "%q must match %s", s.Name, nameRE)
	}
	if s.Kind == "" {
		return invalid("kind", "required")
	}
	if s.APIKeyEnv != "" && !envRE.MatchString(s.APIKeyEnv) {
		return invalid("api_key_env", "%q is not an environment variable name", s.APIKeyEnv)
	}
	for k, v := range s.Headers {
		if !headerRE.MatchString(k) {
			return invalid("headers", "%q is not a valid header name", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return invalid("headers", "value of %q contains a control character", k)
		}
	}
	for k, v := range s.HeadersEnv {
		if !headerRE.MatchString(k) {
			return invalid("headers_env", "%q is not a valid header name", k)
		}
		if !envRE.MatchString(v) {
			return invalid("headers_env", "%q is not an environment variable name", v)
		}
	}
	if s.Timeout < 0 || s.Timeout.Std() > maxTimeout {
		return invalid("timeout", "%s is outside 0..%s", s.Timeout.Std(), maxTimeout)
	}
	if len(s.Fallbacks) > maxFallbacks {
		return invalid("fallbacks", "more than %d entries", maxFallbacks)
	}
	for _, fb := range s.Fallbacks {
		if fb == s.Name || fb == ReservedName || !nameRE.MatchString(fb) {
			return invalid("fallbacks", "%q is not another expert's name", fb)
		}
	}
	if s.ContextTokens < 0 || s.ContextTokens > 1<<24 {
		return invalid("context_tokens", "%d is outside 0..%d", s.ContextTokens, 1<<24)
	}
	if s.MaxConcurrency < 0 || s.MaxConcurrency > maxConcurrency {
		return invalid("max_concurrency", "%d is outside 0..%d", s.MaxConcurrency, maxConcurrency)
	}
	if len(s.SystemPrompt) > maxTextLen {
		return invalid("system_prompt", "longer than %d bytes", maxTextLen)
	}
	if len(s.Description) > maxTextLen {
		return invalid("description", "longer than %d bytes", maxTextLen)
	}
	for field, list := range map[string][]string{"tags": s.Tags, "examples": s.Examples} {
		if limit := map[string]int{"tags": maxTags, "examples": maxExamples}[field]; len(list) > limit {
			return invalid(field, "more than %d entries", limit)
		}
		for _, v := range list {
			if len(v) > maxItemLen {
				return invalid(field, "an entry is longer than %d bytes", maxItemLen)
			}
		}
	}
	if s.DataOwner != "" && !nameRE.MatchString(s.DataOwner) {
		return invalid("data_owner", "%q must match %s", s.DataOwner, nameRE)
	}
	if s.CostPer1KTokens < 0 || math.IsNaN(s.CostPer1KTokens) || math.IsInf(s.CostPer1KTokens, 0) {
		return invalid("cost_per_1k_tokens", "must be a finite number >= 0")
	}
	if s.LatencyHintMS < 0 {
		return invalid("latency_hint_ms", "must be >= 0")
	}
	if len(s.Deployments) > maxDeployments {
		return invalid("deployments", "more than %d entries", maxDeployments)
	}
	for i, d := range s.Deployments {
		field := fmt.Sprintf("deployments[%d]", i)
		if d.BaseURL == "" {
			return invalid(field+".base_url", "required")
		}
		if d.APIKeyEnv != "" && !envRE.MatchString(d.APIKeyEnv) {
			return invalid(field+".api_key_env", "%q is not an environment variable name", d.APIKeyEnv)
		}
		if d.Weight < 0 || d.Weight > 1000 {
			return invalid(field+".weight", "%d is outside 0..1000", d.Weight)
		}
	}
	return s.Capabilities.validate()
}

// CredentialHeaders names the headers of s that carry credentials in
// plain text, to be warned about: they belong in headers_env.
func CredentialHeaders(s Spec) []string {
	var out []string
	for k := range s.Headers {
		switch strings.ToLower(k) {
		case "authorization", "proxy-authorization", "api-key", "x-api-key", "cookie":
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// EnvPolicy says which environment variables a spec may name for its
// secrets (api_key_env, headers_env). The gateway's own (MOEGATE_*: the
// admin token, database URLs) are never allowed, so an admin cannot send
// them to an upstream; with Prefix set, only names starting with it are.
type EnvPolicy struct {
	Prefix string
}

// Check returns a *ValidationError about field if s names a variable the
// policy does not allow.
func (p EnvPolicy) Check(s Spec) error {
	names := map[string]string{}
	if s.APIKeyEnv != "" {
		names[s.APIKeyEnv] = "api_key_env"
	}
	for _, v := range s.HeadersEnv {
		names[v] = "headers_env"
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		field := names[name]
		if strings.HasPrefix(strings.ToUpper(name), "MOEGATE_") {
			return invalid(field, "%s is one of the gateway's own variables (MOEGATE_*), which are never sent to an expert", name)
		}
		if p.Prefix != "" && !strings.HasPrefix(name, p.Prefix) {
			return invalid(field, "%s does not start with %s, the prefix this gateway allows for expert secrets", name, p.Prefix)
		}
	}
	return nil
}

// ResolveEnv returns s with HeadersEnv read from the environment into
// Headers, for building the expert (never for storing). An unset variable
// is an error.
func (s Spec) ResolveEnv(getenv func(string) string) (Spec, error) {
	if len(s.HeadersEnv) == 0 {
		return s, nil
	}
	s = s.Clone()
	if s.Headers == nil {
		s.Headers = map[string]string{}
	}
	for k, name := range s.HeadersEnv {
		v := getenv(name)
		if v == "" {
			return s, invalid("headers_env", "environment variable %s (header %s) is not set", name, k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return s, invalid("headers_env", "environment variable %s (header %s) contains a control character", name, k)
		}
		s.Headers[k] = v
	}
	return s, nil
}

// Clone returns a deep copy of s, so a caller can change it without
// touching the registry's copy.
func (s Spec) Clone() Spec {
	if s.Headers != nil {
		h := make(map[string]string, len(s.Headers))
		for k, v := range s.Headers {
			h[k] = v
		}
		s.Headers = h
	}
	s.Capabilities = s.Capabilities.clone()
	s.HeadersEnv = maps.Clone(s.HeadersEnv)
	s.Deployments = slices.Clone(s.Deployments)
	s.Tags = slices.Clone(s.Tags)
	s.Examples = slices.Clone(s.Examples)
	s.Fallbacks = slices.Clone(s.Fallbacks)
	if s.Enabled != nil {
		e := *s.Enabled
		s.Enabled = &e
	}
	return s
}

// UpstreamError is a failed call to an expert's upstream.
type UpstreamError struct {
	Expert  string
	Status  int  // upstream HTTP status, 0 if none
	Timeout bool // the call ran out of time
	Err     error
}

func (e *UpstreamError) Error() string {
	var b strings.Builder
	b.WriteString("expert ")
	b.WriteString(strconv.Quote(e.Expert))
	if e.Timeout {
		b.WriteString(": timeout")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": upstream status %d", e.Status)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Retryable reports whether trying again may help: timeouts, 429, 5xx and
// connection failures (no status). Client errors (4xx) and cancellation
// are not retryable.
func (e *UpstreamError) Retryable() bool {
	if errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, ErrInvalid) {
		return false
	}
	switch {
	case e.Timeout:
		return true
	case e.Status == 429 || e.Status >= 500:
		return true
	case e.Status == 0:
		return true
	}
	return false
}
