package openai

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/jsonobj"
)

// body returns the upstream request body for req. When req carries the
// client's own body it is forwarded member by member: model replaced, the
// moegate extension dropped, stream settings set for this call, the
// expert's system prompt and the gateway's prepended messages put in front
// of the client's messages; every other byte is the client's.
func (o *Expert) body(req *experts.Request, stream bool) ([]byte, error) {
	if len(req.Body) > 0 {
		if b, ok := o.forward(req, stream); ok {
			return b, nil
		}
	}
	return o.encode(req, stream)
}

// prefix is the messages the expert adds in front of the client's.
func (o *Expert) prefix(req *experts.Request) []experts.Message {
	n := min(max(req.Prepended, 0), len(req.Messages))
	if o.system == "" {
		return req.Messages[:n]
	}
	out := make([]experts.Message, 0, n+1)
	out = append(out, experts.Message{Role: "system", Content: o.system})
	return append(out, req.Messages[:n]...)
}

// forward rewrites req.Body; ok is false when the body is not a JSON
// object it can edit, and the request is then encoded from its fields.
func (o *Expert) forward(req *experts.Request, stream bool) ([]byte, bool) {
	src := req.Body
	out := make([]byte, 0, len(src)+len(o.model)+64)
	out = append(out, `{"model":`...)
	out = strconv.AppendQuote(out, o.model)
	if stream {
		out = append(out, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	hasMaxCompletion := false
	if o.reasoning { // only a reasoning model's max_tokens depends on it
		err := jsonobj.Members(src, func(key, _, _ []byte) {
			if string(key) == "max_completion_tokens" {
				hasMaxCompletion = true
			}
		})
		if err != nil {
			return nil, false
		}
	}
	prefix := o.prefix(req)
	sawMessages := false
	err := jsonobj.Members(src, func(key, value, member []byte) {
		switch string(key) {
		case "model", "moegate", "stream", "stream_options":
			return
		case "max_tokens":
			// Reasoning models take only max_completion_tokens.
			if o.reasoning && !hasMaxCompletion {
				out = append(out, `,"max_completion_tokens":`...)
				out = append(out, value...)
				return
			}
		case "messages":
			sawMessages = true
			if len(prefix) > 0 {
				out = appendMessages(out, value, prefix)
				return
			}
		}
		out = append(out, ',')
		out = append(out, member...)
	})
	if err != nil || !sawMessages {
		return nil, false
	}
	return append(out, '}'), true
}

// appendMessages writes the messages member with prefix in front of the
// client's array val.
func appendMessages(out, val []byte, prefix []experts.Message) []byte {
	if len(val) < 2 || val[0] != '[' {
		val = []byte("[]")
	}
	out = append(out, `,"messages":[`...)
	for i, m := range prefix {
		if i > 0 {
			out = append(out, ',')
		}
		b, _ := json.Marshal(m)
		out = append(out, b...)
	}
	inner := bytes.TrimSpace(val[1 : len(val)-1])
	if len(inner) > 0 {
		out = append(out, ',')
		out = append(out, inner...)
	}
	return append(out, ']')
}

// wireRequest is a request encoded from its fields, for calls that did not
// come through the OpenAI API (synthesis, tests, other front ends).
type wireRequest struct {
	Model               string            `json:"model"`
	Messages            []experts.Message `json:"messages"`
	Temperature         *float32          `json:"temperature,omitempty"`
	TopP                *float32          `json:"top_p,omitempty"`
	MaxTokens           int               `json:"max_tokens,omitempty"`
	MaxCompletionTokens int               `json:"max_completion_tokens,omitempty"`
	Stop                []string          `json:"stop,omitempty"`
	Seed                *int              `json:"seed,omitempty"`
	User                string            `json:"user,omitempty"`
	Tools               json.RawMessage   `json:"tools,omitempty"`
	ToolChoice          json.RawMessage   `json:"tool_choice,omitempty"`
	ResponseFormat      json.RawMessage   `json:"response_format,omitempty"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
}

func (o *Expert) encode(req *experts.Request, stream bool) ([]byte, error) {
	w := wireRequest{Model: o.model, Temperature: req.Temperature, TopP: req.TopP, MaxTokens: req.MaxTokens,
		Stop: req.Stop, Seed: req.Seed, User: req.User}
	if o.system != "" {
		w.Messages = append(w.Messages, experts.Message{Role: "system", Content: o.system})
	}
	w.Messages = append(w.Messages, req.Messages...)
	if w.Messages == nil {
		w.Messages = []experts.Message{}
	}
	for i, m := range req.Messages {
		if present(m.ToolCalls) && !isArray(m.ToolCalls) {
			return nil, invalid(fmt.Sprintf("messages[%d].tool_calls", i), "not a JSON array")
		}
	}
	if present(req.Tools) {
		if err := checkTools(req.Tools); err != nil {
			return nil, err
		}
		w.Tools = req.Tools
	}
	if present(req.ToolChoice) {
		if !json.Valid(req.ToolChoice) {
			return nil, invalid("tool_choice", "not valid JSON")
		}
		w.ToolChoice = req.ToolChoice
	}
	if present(req.ResponseFormat) {
		var rf map[string]json.RawMessage
		if err := json.Unmarshal(req.ResponseFormat, &rf); err != nil {
			return nil, invalid("response_format", "%v", err)
		}
		w.ResponseFormat = req.ResponseFormat
	}
	if o.reasoning {
		if t := req.Temperature; t != nil && *t != 1 {
			return nil, invalid("temperature", "model %q supports only the default temperature (1)", o.model)
		}
		if p := req.TopP; p != nil && *p != 1 {
			return nil, invalid("top_p", "model %q supports only the default top_p (1)", o.model)
		}
		w.MaxCompletionTokens, w.MaxTokens = w.MaxTokens, 0
	}
	if stream {
		w.Stream = true
		w.StreamOptions = &struct {
			IncludeUsage bool `json:"include_usage"`
		}{true}
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, invalid("request", "%v", err)
	}
	return b, nil
}

func isArray(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '[' && json.Valid(t)
}

// checkTools requires a list of objects, each with a string type.
func checkTools(raw json.RawMessage) error {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return invalid("tools", "%v", err)
	}
	for i, it := range items {
		var typ string
		if err := json.Unmarshal(it["type"], &typ); err != nil || typ == "" {
			return invalid(fmt.Sprintf("tools[%d].type", i), "missing or not a string")
		}
	}
	return nil
}

var (
	urlPattern  = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+`)
	addrPattern = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\[[0-9a-fA-F:.]+\](?::\d+)?`)
)

// sanitize makes an upstream's message safe to show a client: no URLs, no
// network addresses, not the upstream's host name, and not too long.
func (o *Expert) sanitize(msg string) string {
	msg = urlPattern.ReplaceAllString(msg, "[upstream]")
	msg = addrPattern.ReplaceAllString(msg, "[upstream]")
	if o.host != "" {
		msg = strings.ReplaceAll(msg, o.host, "[upstream]")
		if h, _, ok := strings.Cut(o.host, ":"); ok && len(h) > 3 {
			msg = strings.ReplaceAll(msg, h, "[upstream]")
		}
	}
	msg = strings.TrimSpace(msg)
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}

// sseReader returns the data of each server-sent event, counting bytes
// against a limit.
type sseReader struct {
	r     *bufio.Reader
	left  int64
	multi []byte
	shape eventShape // of the stream's last content event, for decodeEvent
	kept  []byte     // the last event's members, for Stream
}

var errTooLarge = errors.New("upstream answer too large")

func newSSEReader(r io.Reader, limit int64) *sseReader {
	s := sseReaders.Get().(*sseReader)
	s.r.Reset(r)
	s.left, s.multi, s.shape.ok = limit, s.multi[:0], false
	return s
}

// sseReaders keeps readers between streams: a 16 KB buffer per stream
// was the largest allocation of a streamed request.
var sseReaders = sync.Pool{New: func() any { return &sseReader{r: bufio.NewReaderSize(nil, 16<<10)} }}

// release returns s for another stream; nothing it returned may be read
// after.
func (s *sseReader) release() {
	s.r.Reset(nil)
	if cap(s.multi) > 64<<10 {
		s.multi = nil // grown by an unusually long event: not kept
	}
	if cap(s.shape.buf) > 64<<10 || cap(s.kept) > 64<<10 {
		s.shape.buf, s.kept = nil, nil
	}
	sseReaders.Put(s)
}

// looksLikeEvents peeks at the start of the body for an SSE field.
func (s *sseReader) looksLikeEvents() bool {
	b, _ := s.r.Peek(64)
	b = bytes.TrimLeft(b, " \t\r\n")
	for _, p := range []string{"data:", ":", "event:", "id:", "retry:"} {
		if bytes.HasPrefix(b, []byte(p)) {
			return true
		}
	}
	return false
}

// next returns the next event's data (multi-line data joined by "\n"),
// io.EOF at the end. The slice is valid until the next call.
func (s *sseReader) next() ([]byte, error) {
	s.multi = s.multi[:0]
	have := false
	for {
		line, err := s.line()
		if err != nil {
			if errors.Is(err, io.EOF) && have {
				return s.multi, nil
			}
			return nil, err
		}
		line = trimEOL(line)
		if len(line) == 0 {
			if have {
				return s.multi, nil
			}
			continue
		}
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue // comments, event:, id:, retry:
		}
		data = bytes.TrimPrefix(data, []byte(" "))
		if !have {
			// A one-line event whose blank line has arrived is returned
			// where it lies in the buffer, not copied: looking at what is
			// buffered reads nothing, so the line stays valid.
			if n := s.blankNext(); n > 0 {
				_, _ = s.r.Discard(n)
				s.left -= int64(n)
				if s.left < 0 {
					return nil, errTooLarge
				}
				return data, nil
			}
		}
		if have {
			s.multi = append(s.multi, '\n')
		}
		s.multi = append(s.multi, data...)
		have = true
	}
}

// line reads one line, however long, within the byte limit.
// blankNext returns the length of the blank line ("\n" or "\r\n")
// that the buffer holds next, 0 if it holds none.
func (s *sseReader) blankNext() int {
	b, _ := s.r.Peek(min(2, s.r.Buffered()))
	switch {
	case len(b) > 0 && b[0] == '\n':
		return 1
	case len(b) == 2 && b[0] == '\r' && b[1] == '\n':
		return 2
	}
	return 0
}

// trimEOL removes the line ends (any "\r" and "\n") at the end of b.
func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (s *sseReader) line() ([]byte, error) {
	b, err := s.r.ReadSlice('\n')
	s.left -= int64(len(b))
	if s.left < 0 {
		return nil, errTooLarge
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		if err != nil && len(b) > 0 && errors.Is(err, io.EOF) {
			return b, nil
		}
		return b, err
	}
	long := append([]byte(nil), b...)
	for errors.Is(err, bufio.ErrBufferFull) {
		b, err = s.r.ReadSlice('\n')
		s.left -= int64(len(b))
		if s.left < 0 {
			return nil, errTooLarge
		}
		long = append(long, b...)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return long, nil
}

// toolCallFragment is a streamed piece of a tool call as upstreams send it.
type toolCallFragment struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// toolCall is a whole tool call in OpenAI's shape.
type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// toolCallDelta is a streamed tool-call fragment as sent on. It omits an
// empty type: clients that merge fragments would otherwise overwrite
// "function" with "".
type toolCallDelta struct {
	Index    int    `json:"index"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// toolCallAccumulator merges streamed tool-call fragments by index.
type toolCallAccumulator struct {
	calls []toolCall
}

// add merges raw fragments and returns them normalised for the client.
func (a *toolCallAccumulator) add(raw json.RawMessage) (json.RawMessage, error) {
	var frags []toolCallFragment
	if err := json.Unmarshal(raw, &frags); err != nil {
		return nil, err
	}
	out := make([]toolCallDelta, len(frags))
	for k, d := range frags {
		i := len(a.calls)
		if d.Index != nil {
			i = *d.Index
		}
		out[k].Index, out[k].ID, out[k].Type = i, d.ID, d.Type
		out[k].Function.Name, out[k].Function.Arguments = d.Function.Name, d.Function.Arguments
		if i < 0 || i > 1024 {
			continue
		}
		for len(a.calls) <= i {
			a.calls = append(a.calls, toolCall{})
		}
		c := &a.calls[i]
		if d.ID != "" {
			c.ID = d.ID
		}
		if d.Type != "" {
			c.Type = d.Type
		} else if c.Type == "" {
			c.Type = "function"
		}
		if c.Function.Name == "" {
			c.Function.Name = d.Function.Name
		}
		c.Function.Arguments += d.Function.Arguments
	}
	b, err := json.Marshal(out)
	return b, err
}

func (a *toolCallAccumulator) json() json.RawMessage {
	if len(a.calls) == 0 {
		return nil
	}
	b, _ := json.Marshal(a.calls)
	return b
}
