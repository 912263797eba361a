package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/policies"
)

// The legacy completions API (POST /v1/completions): a prompt in, text
// out. The prompt becomes one user message of a chat request, routed and
// answered like any other.

type completionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Suffix        *string         `json:"suffix"`
	MaxTokens     *int            `json:"max_tokens"`
	Temperature   *float32        `json:"temperature"`
	TopP          *float32        `json:"top_p"`
	N             *int            `json:"n"`
	BestOf        *int            `json:"best_of"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
	Logprobs      *int            `json:"logprobs"`
	Echo          bool            `json:"echo"`
	Stop          json.RawMessage `json:"stop"`
	Seed          *int            `json:"seed"`
	User          string          `json:"user"`
	Moegate       json.RawMessage `json:"moegate"`
}

type textCompletion struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []textChoice  `json:"choices"`
	Usage   *usage        `json:"usage,omitempty"`
	Moegate *gateway.Info `json:"moegate,omitempty"`
}

type textChoice struct {
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type completionCall struct {
	req          *gateway.Request
	prompt       string
	echo         bool
	stream       bool
	includeUsage bool
}

func (s *Server) decodeCompletion(c *gin.Context) (*completionCall, error) {
	var r completionRequest
	if err := s.decodeJSON(c, &r); err != nil {
		return nil, err
	}
	if r.Model == "" {
		return nil, invalid("model", "You must provide a model parameter.")
	}
	prompt, err := parsePrompt(r.Prompt)
	if err != nil {
		return nil, err
	}
	switch {
	case r.Suffix != nil && *r.Suffix != "":
		return nil, invalid("suffix", "'suffix' (insertion) is not supported by this gateway.")
	case r.N != nil && *r.N != 1:
		return nil, invalid("n", "Only n=1 is supported; got n=%d.", *r.N)
	case r.BestOf != nil && *r.BestOf != 1:
		return nil, invalid("best_of", "Only best_of=1 is supported; got best_of=%d.", *r.BestOf)
	case r.Logprobs != nil:
		return nil, invalid("logprobs", "'logprobs' is not supported on /v1/completions by this gateway.")
	case r.StreamOptions != nil && !r.Stream:
		return nil, invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.")
	case r.MaxTokens != nil && *r.MaxTokens < 1:
		return nil, invalid("max_tokens", "'max_tokens' must be at least 1; got %d.", *r.MaxTokens)
	}
	if err := checkSampling(r.Temperature, r.TopP); err != nil {
		return nil, err
	}
	stop, err := parseStop(r.Stop)
	if err != nil {
		return nil, fieldErr("stop", err)
	}
	ext, err := policies.ParseRequestExtension(r.Moegate)
	if err != nil {
		return nil, fieldErr("moegate", err)
	}
	maxTokens := 0
	if r.MaxTokens != nil {
		maxTokens = *r.MaxTokens
	}
	return &completionCall{
		prompt: prompt, echo: r.Echo, stream: r.Stream,
		includeUsage: r.StreamOptions != nil && r.StreamOptions.IncludeUsage,
		req: &gateway.Request{ID: requestID(c), Model: r.Model, Ext: withHeaders(c, ext),
			Chat: &experts.Request{Messages: []experts.Message{{Role: "user", Content: prompt}},
				Temperature: r.Temperature, TopP: r.TopP, MaxTokens: maxTokens, Stop: stop, Seed: r.Seed, User: r.User}},
	}, nil
}

// parsePrompt accepts a string or a list of exactly one string.
func parsePrompt(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", invalid("prompt", "'prompt' is required.")
	}
	if raw[0] == '"' {
		var p string
		if err := json.Unmarshal(raw, &p); err != nil {
			return "", fieldErr("prompt", err)
		}
		return p, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", invalid("prompt", "'prompt' must be a string or a list of strings (token arrays are not supported).")
	}
	if len(list) != 1 {
		return "", invalid("prompt", "Only one prompt per request is supported; got %d.", len(list))
	}
	return list[0], nil
}

func (s *Server) completions(c *gin.Context) error {
	call, err := s.decodeCompletion(c)
	if err != nil {
		return err
	}
	p, err := s.plan(c, call.req)
	if err != nil {
		return err
	}
	id := "cmpl-" + strings.TrimPrefix(p.Info.RequestID, "req_")
	created := time.Now().Unix()
	if !call.stream {
		res, err := s.execute(c, p, nil)
		c.Header("X-Moegate-Route", p.Info.Header())
		if err != nil {
			return err
		}
		text := res.Response.Content
		if call.echo {
			text = call.prompt + text
		}
		finish := cmpOr(res.Response.FinishReason, "stop")
		c.JSON(http.StatusOK, textCompletion{ID: id, Object: "text_completion", Created: created, Model: res.Answered,
			Choices: []textChoice{{Text: text, FinishReason: &finish}}, Usage: usageOf(res.Response.Usage), Moegate: res.Info})
		return nil
	}
	started := false
	model := p.Info.Route.Experts[0].Name
	send := func(ch textCompletion) error {
		ch.ID, ch.Object, ch.Created, ch.Model = id, "text_completion", created, model
		if ch.Choices == nil {
			ch.Choices = []textChoice{}
		}
		b, err := json.Marshal(ch)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(c.Writer, "data: %s\n\n", b); err != nil {
			return err
		}
		c.Writer.Flush()
		return nil
	}
	start := func() error {
		started = true
		h := c.Writer.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		h.Set("X-Moegate-Route", p.Info.Header())
		c.Status(http.StatusOK)
		if call.echo {
			return send(textCompletion{Choices: []textChoice{{Text: call.prompt}}, Moegate: p.Info})
		}
		return nil
	}
	res, err := s.execute(c, p, func(d experts.Delta) error {
		if d.Content == "" {
			return nil
		}
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		return send(textCompletion{Choices: []textChoice{{Text: d.Content}}})
	})
	if err != nil {
		if !started {
			c.Header("X-Moegate-Route", p.Info.Header())
			return err
		}
		_, body, _ := describe(err, p.Info.RequestID)
		b, _ := json.Marshal(body)
		_, _ = fmt.Fprintf(c.Writer, "data: %s\n\n", b)
		return nil
	}
	model = res.Answered
	if !started {
		if err := start(); err != nil {
			return nil
		}
	}
	finish := cmpOr(res.Response.FinishReason, "stop")
	_ = send(textCompletion{Choices: []textChoice{{FinishReason: &finish}}, Moegate: res.Info})
	if call.includeUsage {
		_ = send(textCompletion{Usage: usageOf(res.Response.Usage)})
	}
	_, _ = fmt.Fprint(c.Writer, "data: [DONE]\n\n")
	c.Writer.Flush()
	return nil
}
