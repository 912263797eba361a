// Package openai is the expert kind "openai": any OpenAI-compatible chat
// completions endpoint (OpenAI itself, vLLM, llama.cpp server, Ollama, TEI,
// another moegate).
//
// It speaks the API over net/http directly. A request that came through
// the gateway's OpenAI API is forwarded as the client's own bytes with only
// the model replaced, the moegate extension removed and the expert's system
// prompt and retrieved passages prepended, so every parameter, known now or
// added to the API later, reaches the upstream unchanged.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/internal/readall"
)

// Defaults of Options.
const (
	DefaultMaxResponseBytes    = 8 << 20
	DefaultMaxIdleConnsPerHost = 256
)

// Options tune the kind; zero values take the defaults.
type Options struct {
	// Client carries the requests; nil: a client on a transport tuned for
	// a gateway (MaxIdleConnsPerHost idle connections kept per upstream,
	// keep-alive, HTTP/2 when the upstream offers it), shared by every
	// expert of the kind so experts on one upstream share its connections.
	Client *http.Client
	// MaxIdleConnsPerHost sizes that transport's pool, default 256.
	MaxIdleConnsPerHost int
	// MaxResponseBytes bounds an upstream answer, streamed or not,
	// default 8 MiB: a larger one is a failure naming the limit.
	MaxResponseBytes int64
}

func (o *Options) setDefaults() {
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: NewTransport(o.MaxIdleConnsPerHost)}
	}
}

// NewTransport returns a transport for upstream calls: keep-alive
// connections pooled per host (perHost idle ones kept, so that a burst of
// concurrent requests does not open and close a connection each), HTTP/2
// where the upstream offers it over TLS.
func NewTransport(perHost int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * perHost,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Answers are JSON the gateway parses: compression costs more CPU
		// on loopback and LAN than it saves.
		DisableCompression: true,
	}
}

// Expert is an expert served by an OpenAI-compatible chat completions API.
type Expert struct {
	name    string
	model   string
	system  string
	timeout time.Duration
	// endpoint is the chat completions URL, parsed once (a request gets a
	// copy), and endpointHost the Host header NewRequest would set for it.
	endpoint     *url.URL
	endpointHost string
	host         string // of endpoint, removed from upstream messages shown to clients
	header       http.Header
	client       *http.Client
	maxBytes     int64
	reasoning    bool
	slots        experts.Slots
}

// Kind is the "openai" kind for experts.Kinds. Its experts share one
// client (and so one connection pool).
func Kind(opts Options) experts.Builder {
	opts.setDefaults()
	return kind{opts}
}

type kind struct{ opts Options }

func (kind) Check(s experts.Spec) error { return Check(s) }

func (k kind) Build(_ context.Context, s experts.Spec) (experts.Expert, error) {
	return newExpert(s, k.opts)
}

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

// New builds the expert for spec (kind openai) with default options on
// httpClient (nil: a tuned client of its own). The API key is read now
// from the environment variable spec.APIKeyEnv; an unset variable is an
// experts.ErrInvalid error.
func New(spec experts.Spec, httpClient *http.Client) (*Expert, error) {
	opts := Options{Client: httpClient}
	opts.setDefaults()
	return newExpert(spec, opts)
}

func newExpert(spec experts.Spec, opts Options) (*Expert, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := Check(spec); err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	if spec.APIKeyEnv != "" {
		key := os.Getenv(spec.APIKeyEnv)
		if key == "" {
			return nil, invalid("api_key_env", "environment variable %s is not set", spec.APIKeyEnv)
		}
		h.Set("Authorization", "Bearer "+key)
	}
	// The spec's headers come last so that they can replace Authorization.
	for k, v := range spec.Headers {
		h.Set(k, v)
	}
	endpoint := strings.TrimRight(apiBase(spec.BaseURL), "/") + "/chat/completions"
	template, err := http.NewRequest(http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, invalid("base_url", "%q does not make a request URL: %v", spec.BaseURL, err)
	}
	o := &Expert{
		name:         spec.Name,
		model:        spec.Model,
		system:       spec.SystemPrompt,
		timeout:      spec.Timeout.Std(),
		endpoint:     template.URL,
		endpointHost: template.Host,
		host:         template.URL.Host,
		header:       h,
		client:       opts.Client,
		maxBytes:     opts.MaxResponseBytes,
		reasoning:    isReasoningModel(spec.Model),
	}
	if o.timeout <= 0 {
		o.timeout = experts.DefaultTimeout
	}
	o.slots = experts.NewSlots(spec.MaxConcurrency)
	return o, nil
}

// apiBase turns a configured base URL into the prefix "/chat/completions"
// is appended to: a bare host gets "/v1", any path is kept.
func apiBase(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" || u.Path == "/" {
		return strings.TrimRight(raw, "/") + "/v1"
	}
	return raw
}

// Name returns the expert's name.
func (o *Expert) Name() string { return o.name }

func (o *Expert) acquire(ctx context.Context) (release func(), err error) {
	release, err = o.slots.Acquire(ctx)
	if err != nil {
		return nil, o.wrap(ctx, err, false)
	}
	return release, nil
}

// post sends body and returns the response once its status is 2xx; any
// other status is mapped to an error.
func (o *Expert) post(ctx context.Context, body []byte) (*http.Response, error) {
	req, err := o.newRequest(ctx, body)
	if err != nil {
		return nil, err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, o.statusError(resp, b)
}

// newRequest is the POST of body to the endpoint, with the expert's
// headers: NewRequestWithContext's request for the endpoint's URL, which
// is not parsed again (2.7k instructions a request).
func (o *Expert) newRequest(ctx context.Context, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "", newRequestBody(body))
	if err != nil {
		return nil, err
	}
	// Set by NewRequestWithContext for a *bytes.Reader only, which would
	// need an io.NopCloser of its own.
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return newRequestBody(body), nil }
	// A copy of the endpoint, the request's own as the client may change
	// it, in the URL NewRequestWithContext made of "".
	*req.URL, req.Host = *o.endpoint, o.endpointHost
	// The expert's headers themselves, not a copy (a map of its own was
	// 344 bytes a request): the client and transport only read a
	// request's headers (http.RoundTripper's contract), copying them to
	// change them for a redirect.
	req.Header = o.header
	return req, nil
}

// requestBody is a request body over bytes: a bytes.Reader that is an
// io.ReadCloser itself.
type requestBody struct{ bytes.Reader }

func newRequestBody(b []byte) *requestBody {
	r := &requestBody{}
	r.Reset(b)
	return r
}

func (*requestBody) Close() error { return nil }

// Complete implements Expert.
func (o *Expert) Complete(ctx context.Context, req *experts.Request) (*experts.Response, error) {
	body, err := o.body(req, false)
	if err != nil {
		return nil, err
	}
	release, err := o.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	// The caller's deadline, when it comes first, bounds the call alone:
	// a timer of the expert's own would never fire.
	cctx := ctx
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > o.timeout {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	resp, err := o.post(cctx, body)
	if err != nil {
		return nil, o.wrap(ctx, err, cctx.Err() != nil && ctx.Err() == nil)
	}
	defer resp.Body.Close()
	raw, err := readall.ReadAll(resp.Body, resp.ContentLength, o.maxBytes+1)
	if err != nil {
		return nil, o.wrap(ctx, err, cctx.Err() != nil && ctx.Err() == nil)
	}
	if int64(len(raw)) > o.maxBytes {
		return nil, o.tooLarge()
	}
	w, ok := decodeResponse(raw)
	if !ok {
		w = wireResponse{} // nothing of the partial decode
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, o.failed(0, "the answer is not a chat completion (%s): %v", contentType(resp), err)
		}
	}
	if w.Error != nil {
		return nil, o.failed(0, "the upstream answered with an error: %s", o.sanitize(w.Error.Message))
	}
	if len(w.Choices) == 0 {
		return nil, o.failed(0, "the answer has no choices")
	}
	ch := w.Choices[0]
	out := &experts.Response{FinishReason: ch.FinishReason, Usage: w.Usage}
	if ch.Message.Content != nil {
		out.Content = *ch.Message.Content
	}
	if present(ch.Message.ToolCalls) {
		out.ToolCalls = ch.Message.ToolCalls
	}
	return out, nil
}

// Stream implements Expert. The timeout bounds the wait for the response
// headers and then for each chunk, so long answers are not cut off while
// a stalled upstream still is.
func (o *Expert) Stream(ctx context.Context, req *experts.Request, onDelta func(experts.Delta) error) (*experts.Response, error) {
	body, err := o.body(req, true)
	if err != nil {
		return nil, err
	}
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

	resp, err := o.post(cctx, body)
	if err != nil {
		return nil, o.wrap(ctx, err, timedOut())
	}
	defer resp.Body.Close()
	// An upstream that answers a stream with JSON or a web page has not
	// streamed: failing here lets the aggregator try another expert while
	// nothing has been sent to the client. Servers that forget the
	// content type but do send events are accepted.
	sse := newSSEReader(resp.Body, o.maxBytes)
	defer sse.release()
	if ct := contentType(resp); ct != "text/event-stream" && !sse.looksLikeEvents() {
		b, _ := sse.r.Peek(4 << 10)
		msg := ""
		var w wireResponse
		if json.Unmarshal(b, &w) == nil && w.Error != nil {
			msg = ": " + o.sanitize(w.Error.Message)
		}
		return nil, o.failed(0, "asked to stream, the upstream answered %s instead of server-sent events%s", orUnknown(ct), msg)
	}

	out := &experts.Response{}
	// content is the answer so far, append-only: each Delta.Content and
	// the final Content are strings over its bytes (textOf). Room for a
	// short answer saves the first few doublings.
	// kept is each event's members for Delta.Members, reused from the
	// pooled reader (a delta's members are written before the next event
	// is read).
	content, kept := make([]byte, 0, 512), sse.kept[:0]
	defer func() { sse.kept = kept[:0] }()
	var c wireChunk // every event decodes into it, reusing its storage
	var calls toolCallAccumulator
	done := false
	for !done {
		if sse.r.Buffered() == 0 {
			// About to wait for the upstream: the timeout starts now. Events
			// already read need no timer (a reset per event was a timer
			// operation per chunk).
			idle.Reset(o.timeout)
		}
		data, err := sse.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errTooLarge) {
			return nil, o.tooLarge()
		}
		if err != nil {
			return nil, o.wrap(ctx, err, timedOut())
		}
		if bytes.Equal(data, doneEvent) {
			done = true
			break
		}
		n := len(content)
		kept = kept[:0]
		if !decodeEvent(&c, data, &content, &kept, &sse.shape) {
			// Into a chunk of its own (nothing of the partial decode), so
			// that c, which encoding/json would make escape, stays on the
			// stack.
			full := new(wireChunk)
			err := json.Unmarshal(data, full)
			c = *full
			if err != nil {
				return nil, o.failed(0, "malformed stream event: %v", err)
			}
			if len(c.Choices) > 0 {
				content = append(content, c.Choices[0].Delta.Content...)
			}
			kept, _ = appendKept(kept, data) // an object: json.Unmarshal took it
		}
		if c.Error != nil {
			return nil, o.failed(0, "the upstream sent an error in the stream: %s", o.sanitize(c.Error.Message))
		}
		if c.Usage != nil {
			out.Usage = *c.Usage
		}
		if len(c.Choices) == 0 {
			continue
		}
		ch := c.Choices[0]
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			out.FinishReason = *ch.FinishReason
		}
		d := experts.Delta{Content: textOf(content[n:]), More: sse.r.Buffered() > 0}
		if present(ch.Delta.ToolCalls) {
			frags, err := calls.add(ch.Delta.ToolCalls)
			if err != nil {
				return nil, o.failed(0, "malformed tool call in the stream: %v", err)
			}
			d.ToolCalls = frags
		}
		if d.Content == "" && d.ToolCalls == nil {
			continue
		}
		// An event split over several data lines has line breaks the
		// client's event would break on: only single-line events go as
		// they are.
		if d.ToolCalls == nil && len(c.Choices) == 1 && (ch.FinishReason == nil || *ch.FinishReason == "") && c.Usage == nil &&
			len(kept) > 0 && bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
			d.Members = kept
		}
		if err := onDelta(d); err != nil {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, o.wrap(ctx, ctx.Err(), false)
	}
	if timedOut() {
		return nil, o.wrap(ctx, context.DeadlineExceeded, true)
	}
	got := len(content) > 0 || len(calls.calls) > 0 || out.FinishReason != ""
	switch {
	case !done && !got:
		return nil, o.failed(0, "the stream ended without any content or [DONE]")
	case !done && out.FinishReason == "":
		return nil, o.failed(0, "the stream was cut off before [DONE]")
	case !got:
		return nil, o.failed(0, "the stream ended without any content")
	}
	out.Content = textOf(content)
	out.ToolCalls = calls.json()
	return out, nil
}

var (
	errIdle   = errors.New("no data from upstream within the timeout")
	doneEvent = []byte("[DONE]")
)

func contentType(resp *http.Response) string {
	ct := resp.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

func orUnknown(s string) string {
	if s == "" {
		return "no content type"
	}
	return s
}

// wrap turns a transport error into an *experts.UpstreamError. ourTimeout
// is true when the expert's own timeout expired.
func (o *Expert) wrap(ctx context.Context, err error, ourTimeout bool) error {
	if ue, ok := errors.AsType[*experts.UpstreamError](err); ok {
		return ue
	}
	ue := &experts.UpstreamError{Expert: o.name, Err: err}
	var ne net.Error
	switch {
	case ourTimeout:
		ue.Timeout = true
		ue.Err = fmt.Errorf("%w after %s", context.DeadlineExceeded, o.timeout)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded):
		ue.Timeout = true
	case errors.As(err, &ne) && ne.Timeout():
		ue.Timeout = true
	case ctx.Err() != nil && !errors.Is(err, context.Canceled):
		ue.Err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if ue.Err != nil && !errors.Is(ue.Err, context.Canceled) && !ue.Timeout {
		// Transport errors name the upstream's address: keep it in the
		// chain for logs, show the client only what happened.
		ue.Err = &errs.Error{Kind: errs.UpstreamFailed, Code: "expert_failed",
			Err: &shown{msg: fmt.Sprintf("Expert '%s' could not be reached: %s", o.name, o.sanitize(err.Error())), cause: err}}
	}
	return ue
}

// shown is an error whose message is safe for clients while the cause,
// kept for errors.Is and logs, may not be.
type shown struct {
	msg   string
	cause error
}

func (s *shown) Error() string { return s.msg }
func (s *shown) Unwrap() error { return s.cause }

// failed is an upstream that answered, but not with a usable answer.
func (o *Expert) failed(status int, format string, args ...any) error {
	return &experts.UpstreamError{Expert: o.name, Status: status, Err: &errs.Error{Kind: errs.UpstreamFailed, Code: "expert_failed",
		Err: fmt.Errorf("Expert '%s' failed: %s", o.name, fmt.Sprintf(format, args...))}}
}

func (o *Expert) tooLarge() error {
	return &experts.UpstreamError{Expert: o.name, Err: &errs.Error{Kind: errs.UpstreamFailed, Code: "upstream_response_too_large",
		Err: fmt.Errorf("Expert '%s' answered more than the %d-byte limit on upstream answers (upstream.max_response_bytes).", o.name, o.maxBytes)}}
}

// statusError maps a non-2xx upstream answer to an error the client can
// act on: its own request's faults keep their status and the upstream's
// message (sanitised), the gateway's faults (credentials, the upstream
// failing) are 502 naming the expert, 429 keeps Retry-After.
func (o *Expert) statusError(resp *http.Response, body []byte) error {
	status := resp.StatusCode
	msg, param, code := "", "", ""
	var w wireResponse
	if json.Unmarshal(body, &w) == nil && w.Error != nil {
		msg, param = o.sanitize(w.Error.Message), w.Error.Param
		_ = json.Unmarshal(w.Error.Code, &code)
	}
	suffix := ""
	if msg != "" {
		suffix = ": " + msg
	}
	e := &errs.Error{Param: param, Code: code}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind, e.Code, e.Param = errs.UpstreamFailed, "upstream_auth_failed", ""
		e.Err = fmt.Errorf("Expert '%s' refused the gateway's credentials (upstream status %d); an operator must fix its api_key_env or headers.", o.name, status)
	case status == http.StatusTooManyRequests:
		e.Kind, e.Code, e.Param = errs.RateLimited, "upstream_rate_limited", ""
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		e.Err = fmt.Errorf("Expert '%s' is rate limited by its upstream%s", o.name, suffix)
	case status >= 400 && status < 500:
		e.Kind = map[int]errs.Kind{404: errs.NotFound, 409: errs.Conflict, 413: errs.TooLarge}[status]
		if e.Kind == errs.Internal {
			e.Kind = errs.Invalid
		}
		if e.Code == "" {
			e.Code = "upstream_rejected_request"
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		e.Err = fmt.Errorf("Expert '%s' rejected the request (upstream status %d): %s", o.name, status, msg)
	default:
		e.Kind, e.Code, e.Param = errs.UpstreamFailed, "expert_failed", ""
		e.Err = fmt.Errorf("Expert '%s' failed (upstream status %d)%s", o.name, status, suffix)
	}
	return &experts.UpstreamError{Expert: o.name, Status: status, Err: e}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
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

// wireError is OpenAI's error object.
type wireError struct {
	Message string          `json:"message"`
	Param   string          `json:"param"`
	Code    json.RawMessage `json:"code"`
}

// wireResponse is what is read of a chat completion.
type wireResponse struct {
	Choices []wireChoice  `json:"choices"`
	Usage   experts.Usage `json:"usage"`
	Error   *wireError    `json:"error"`
}

type wireChoice struct {
	Message      wireMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
}

type wireMessage struct {
	Content   *string         `json:"content"`
	ToolCalls json.RawMessage `json:"tool_calls"`
}

// wireChunk is what is read of a chat.completion.chunk.
type wireChunk struct {
	Choices []wireChunkChoice `json:"choices"`
	Usage   *experts.Usage    `json:"usage"`
	Error   *wireError        `json:"error"`
}

type wireChunkChoice struct {
	Delta struct {
		Content   string          `json:"content"`
		ToolCalls json.RawMessage `json:"tool_calls"`
	} `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}
