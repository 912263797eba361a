// Package experts defines what a domain expert is, the kinds of expert the
// gateway can call, and the runtime registry that holds them.
package experts

import (
	"context"
	"encoding/json"
)

// Message is one chat message in OpenAI's shape, with content already
// flattened to text.
type Message struct {
	Role       string          `json:"role"`
	Content    string          `json:"content"`
	Name       string          `json:"name,omitempty"`
	ToolCalls  json.RawMessage `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// Request is a chat completion request as an expert sees it. Pointer fields
// are nil when the caller did not set them, so each expert applies its own
// defaults.
type Request struct {
	Messages    []Message
	Temperature *float32
	TopP        *float32
	MaxTokens   int // 0: expert's default
	Stop        []string
	Seed        *int
	User        string
	// Passed through untouched to experts that accept them (kind openai).
	Tools          json.RawMessage
	ToolChoice     json.RawMessage
	ResponseFormat json.RawMessage

	// Body is the client's JSON request body when the request came
	// through the OpenAI API, nil otherwise. Experts that speak that API
	// forward it with only the model replaced and the Prepended messages
	// added, so parameters the fields above do not model reach them too.
	Body []byte
	// Prepended counts the leading Messages the gateway added (retrieved
	// passages) that Body does not hold.
	Prepended int
	// Images counts the image parts of the messages: only experts that
	// take vision input can answer.
	Images int
}

// Usage counts tokens the way OpenAI does.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Total is TotalTokens, or the sum of the parts when the expert left it out.
func (u Usage) Total() int {
	if u.TotalTokens != 0 {
		return u.TotalTokens
	}
	return u.PromptTokens + u.CompletionTokens
}

// Response is a finished answer from an expert.
type Response struct {
	Content      string
	ToolCalls    json.RawMessage
	FinishReason string // "stop", "length", "tool_calls"
	Usage        Usage
}

// Delta is one streamed piece of an answer.
type Delta struct {
	Content   string
	ToolCalls json.RawMessage
	// More is true when more of the answer has already arrived: a writer
	// may hold this piece to send it with the next in one write.
	More bool
	// Members, when not nil, are the members of the upstream's
	// chat.completion.chunk (JSON) that carried this piece and nothing
	// else (no tool calls, finish reason or usage), each after a comma,
	// as the upstream wrote them, but for id, object, created, model and
	// another gateway's moegate object: an OpenAI-compatible writer may
	// send them on after its own id, object, created and model, keeping
	// every field the gateway does not read. Valid during the call only.
	Members []byte
}

// Expert answers chat requests. Implementations must honour ctx
// cancellation promptly: a client that disconnects cancels the call.
type Expert interface {
	// Complete returns the whole answer.
	Complete(ctx context.Context, req *Request) (*Response, error)
	// Stream calls onDelta for each piece as it arrives and returns the
	// final response (Content holds the whole text). An error returned by
	// onDelta aborts the stream and is returned.
	Stream(ctx context.Context, req *Request, onDelta func(Delta) error) (*Response, error)
}
