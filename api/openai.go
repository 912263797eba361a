package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/internal/jsonenc"
)

// chatRequest is OpenAI's chat completion request. Fields the gateway does
// not act on are accepted and ignored, as OpenAI's own SDKs send many.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Temperature         *float32        `json:"temperature"`
	TopP                *float32        `json:"top_p"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int            `json:"seed"`
	User                string          `json:"user"`
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	Tools               json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	Moegate             json.RawMessage `json:"moegate"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatMessage holds content as raw JSON: a string, an array of content
// parts, or null (assistant messages with tool calls).
type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name,omitempty"`
	ToolCalls  json.RawMessage `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// contentText flattens a message's content to text and counts its image
// parts (only experts that take vision input are routed such requests).
// Other part types are a 400 naming the part.
func contentText(raw json.RawMessage) (string, int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", 0, nil
	}
	switch raw[0] {
	case '"':
		// The body was validated as JSON already: a string without
		// escapes in valid UTF-8 is its bytes between the quotes.
		if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
			return string(raw[1 : len(raw)-1]), 0, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", 0, err
		}
		return s, 0, nil
	case '[':
		var parts []struct {
			Type string  `json:"type"`
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", 0, fmt.Errorf("content parts: %w", err)
		}
		var b strings.Builder
		images := 0
		for i, p := range parts {
			if p.Type == "image_url" {
				images++
				continue
			}
			if p.Type != "text" || p.Text == nil {
				return "", 0, fmt.Errorf("content part %d has type %q: only text and image_url parts are supported", i, p.Type)
			}
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(*p.Text)
		}
		return b.String(), images, nil
	default:
		return "", 0, fmt.Errorf("content must be a string or an array of content parts")
	}
}

// parseStop accepts a string, an array of strings, or null.
func parseStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("stop must be a string or an array of strings")
	}
	if len(list) > 4 {
		return nil, fmt.Errorf("stop takes at most 4 sequences, got %d", len(list))
	}
	return list, nil
}

type chatCompletion struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chatChoice  `json:"choices"`
	Usage   *usage        `json:"usage,omitempty"`
	Moegate *gateway.Info `json:"moegate,omitempty"`
}

// appendJSON appends the bytes encoding/json would write for cc in its
// common shape (one choice, no tool calls), without reflection; ok is
// false for any other shape, which is left to encoding/json.
func (cc *chatCompletion) appendJSON(b []byte) (_ []byte, ok bool) {
	if len(cc.Choices) != 1 || len(cc.Choices[0].Message.ToolCalls) > 0 || cc.Choices[0].Logprobs != nil {
		return nil, false
	}
	ch := &cc.Choices[0]
	b = append(b, `{"id":`...)
	b = jsonenc.String(b, cc.ID)
	b = append(b, `,"object":`...)
	b = jsonenc.String(b, cc.Object)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, cc.Created, 10)
	b = append(b, `,"model":`...)
	b = jsonenc.String(b, cc.Model)
	b = append(b, `,"choices":[{"index":`...)
	b = strconv.AppendInt(b, int64(ch.Index), 10)
	b = append(b, `,"message":{"role":`...)
	b = jsonenc.String(b, ch.Message.Role)
	b = append(b, `,"content":`...)
	b = appendOptString(b, ch.Message.Content)
	b = append(b, `,"refusal":`...)
	b = appendOptString(b, ch.Message.Refusal)
	b = append(b, `},"finish_reason":`...)
	b = jsonenc.String(b, ch.FinishReason)
	b = append(b, `,"logprobs":null}]`...)
	if u := cc.Usage; u != nil {
		b = append(b, `,"usage":{"prompt_tokens":`...)
		b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
		b = append(b, `,"completion_tokens":`...)
		b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
		b = append(b, `,"total_tokens":`...)
		b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
		b = append(b, '}')
	}
	if cc.Moegate != nil {
		var err error
		if b, err = cc.Moegate.AppendJSON(append(b, `,"moegate":`...)); err != nil {
			return nil, false
		}
	}
	return append(b, '}'), true
}

func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return jsonenc.String(b, *s)
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      responseMessage `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     *struct{}       `json:"logprobs"`
}

type responseMessage struct {
	Role      string          `json:"role"`
	Content   *string         `json:"content"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
	Refusal   *string         `json:"refusal"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *usage        `json:"usage,omitempty"`
	Moegate *gateway.Info `json:"moegate,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
	Logprobs     *struct{}  `json:"logprobs"`
}

type chunkDelta struct {
	Role      string          `json:"role,omitempty"`
	Content   *string         `json:"content,omitempty"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
}

type modelObject struct {
	ID          string   `json:"id"`
	Object      string   `json:"object"`
	Created     int64    `json:"created"`
	OwnedBy     string   `json:"owned_by"`
	Description string   `json:"description,omitempty"`
	Kind        string   `json:"kind,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Note        string   `json:"note,omitempty"`
}

type modelList struct {
	Object string        `json:"object"`
	Data   []modelObject `json:"data"`
}
