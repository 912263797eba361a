package experts

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Capabilities say which requests an expert can serve; requests are routed
// only among experts that can serve them. A nil flag means "yes" (remote
// experts are assumed to take what OpenAI's API takes unless their spec
// says otherwise); a zero limit means "no limit known". The local engine
// states its own from the loaded model.
type Capabilities struct {
	Tools      *bool `json:"tools,omitempty" yaml:"tools"`
	JSONSchema *bool `json:"json_schema,omitempty" yaml:"json_schema"` // response_format json_schema / json_object
	Vision     *bool `json:"vision,omitempty" yaml:"vision"`           // image parts in messages
	MaxContext int   `json:"max_context,omitempty" yaml:"max_context"` // tokens of prompt plus answer
	MaxOutput  int   `json:"max_output,omitempty" yaml:"max_output"`   // tokens of one answer
}

func (c Capabilities) clone() Capabilities {
	for _, p := range []**bool{&c.Tools, &c.JSONSchema, &c.Vision} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return c
}

func (c Capabilities) validate() error {
	if c.MaxContext < 0 {
		return invalid("capabilities.max_context", "must be >= 0")
	}
	if c.MaxOutput < 0 {
		return invalid("capabilities.max_output", "must be >= 0")
	}
	return nil
}

// Narrow returns c limited by what other says: a "no" or a smaller limit
// in either wins.
func (c Capabilities) Narrow(other Capabilities) Capabilities {
	out := c.clone()
	no := func(a, b *bool) *bool {
		if (a != nil && !*a) || (b != nil && !*b) {
			return new(false)
		}
		if a != nil {
			return a
		}
		return b
	}
	least := func(a, b int) int {
		if a == 0 || (b != 0 && b < a) {
			return b
		}
		return a
	}
	out.Tools, out.JSONSchema, out.Vision = no(c.Tools, other.Tools), no(c.JSONSchema, other.JSONSchema), no(c.Vision, other.Vision)
	out.MaxContext, out.MaxOutput = least(c.MaxContext, other.MaxContext), least(c.MaxOutput, other.MaxOutput)
	return out
}

// Needs are what a request asks of the expert that answers it.
type Needs struct {
	Tools        bool
	JSONSchema   bool
	Vision       bool
	PromptTokens int // estimated
	MaxTokens    int // asked for; 0: expert's default
}

// NeedsOf reads what req needs. The prompt size is estimated at four bytes
// a token, which is generous for English and never needs a tokenizer.
func NeedsOf(req *Request) Needs {
	n := Needs{Tools: present(req.Tools), Vision: req.Images > 0, MaxTokens: req.MaxTokens}
	if present(req.ResponseFormat) {
		var rf struct{ Type string }
		_ = json.Unmarshal(req.ResponseFormat, &rf)
		n.JSONSchema = rf.Type != "" && rf.Type != "text"
	}
	bytes := 0
	for _, m := range req.Messages {
		bytes += len(m.Content) + len(m.ToolCalls) + 16 // the template's tokens around each message
	}
	n.PromptTokens = (bytes + 3) / 4
	return n
}

// Lack is what an expert cannot give a request: the request parameter
// that needs it and why.
type Lack struct {
	Param  string
	Reason string
}

// Lacks reports the first thing c cannot give n, or nil.
func (c Capabilities) Lacks(n Needs) *Lack {
	switch {
	case n.Tools && c.Tools != nil && !*c.Tools:
		return &Lack{"tools", "does not support tools"}
	case n.JSONSchema && c.JSONSchema != nil && !*c.JSONSchema:
		return &Lack{"response_format", "does not support structured output (response_format)"}
	case n.Vision && c.Vision != nil && !*c.Vision:
		return &Lack{"messages", "does not take image input"}
	case c.MaxOutput > 0 && n.MaxTokens > c.MaxOutput:
		return &Lack{"max_tokens", fmt.Sprintf("answers at most %d tokens; %d asked", c.MaxOutput, n.MaxTokens)}
	case c.MaxContext > 0 && n.PromptTokens+n.MaxTokens > c.MaxContext:
		return &Lack{"messages", fmt.Sprintf("has a context of %d tokens; the prompt needs about %d", c.MaxContext, n.PromptTokens+n.MaxTokens)}
	}
	return nil
}

// present reports whether a raw JSON field was sent with a value.
func present(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}
