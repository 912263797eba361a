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

// The Responses API (POST /v1/responses), stateless: each request carries
// the whole conversation. It is mapped onto a chat request, routed and
// answered by the same pipeline, and mapped back.

type responsesRequest struct {
	Model              string          `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       *string         `json:"instructions"`
	Tools              json.RawMessage `json:"tools"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	ParallelToolCalls  *bool           `json:"parallel_tool_calls"`
	Temperature        *float32        `json:"temperature"`
	TopP               *float32        `json:"top_p"`
	MaxOutputTokens    *int            `json:"max_output_tokens"`
	Stream             bool            `json:"stream"`
	Text               *responsesText  `json:"text"`
	PreviousResponseID string          `json:"previous_response_id"`
	Conversation       json.RawMessage `json:"conversation"`
	Metadata           json.RawMessage `json:"metadata"`
	User               string          `json:"user"`
	Moegate            json.RawMessage `json:"moegate"`
}

type responsesText struct {
	Format json.RawMessage `json:"format,omitempty"`
}

// inputItem is one item of `input`: a message (type "message" or absent),
// a function call the model made, or a function call's output.
type inputItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// responsesCall is one decoded /v1/responses request and what its answer
// echoes back.
type responsesCall struct {
	req    *gateway.Request
	stream bool
	echo   responseEcho
}

// responseEcho are the request fields a response object repeats.
type responseEcho struct {
	Instructions      *string         `json:"instructions"`
	Tools             json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls bool            `json:"parallel_tool_calls"`
	Temperature       *float32        `json:"temperature"`
	TopP              *float32        `json:"top_p"`
	MaxOutputTokens   *int            `json:"max_output_tokens"`
	Text              responsesText   `json:"text"`
	Metadata          json.RawMessage `json:"metadata"`
	User              string          `json:"user,omitempty"`
}

func (s *Server) decodeResponses(c *gin.Context) (*responsesCall, error) {
	var r responsesRequest
	if err := s.decodeJSON(c, &r); err != nil {
		return nil, err
	}
	if r.Model == "" {
		return nil, invalid("model", "You must provide a model parameter.")
	}
	if r.PreviousResponseID != "" {
		return nil, invalid("previous_response_id", "This gateway is stateless: it stores no responses, so 'previous_response_id' cannot be used. Send the whole conversation in 'input'.")
	}
	if nonNull(r.Conversation) != nil {
		return nil, invalid("conversation", "This gateway is stateless: it stores no conversations. Send the whole conversation in 'input'.")
	}
	if err := checkSampling(r.Temperature, r.TopP); err != nil {
		return nil, err
	}
	maxTokens := 0
	if r.MaxOutputTokens != nil {
		if *r.MaxOutputTokens < 1 {
			return nil, invalid("max_output_tokens", "'max_output_tokens' must be at least 1; got %d.", *r.MaxOutputTokens)
		}
		maxTokens = *r.MaxOutputTokens
	}
	var msgs []experts.Message
	if r.Instructions != nil && *r.Instructions != "" {
		msgs = append(msgs, experts.Message{Role: "system", Content: *r.Instructions})
	}
	in, images, err := inputMessages(r.Input)
	if err != nil {
		return nil, err
	}
	msgs = append(msgs, in...)
	if len(msgs) > s.opts.MaxMessages {
		return nil, invalid("input", "'input' has %d items; the limit is %d.", len(msgs), s.opts.MaxMessages)
	}
	tools, err := chatTools(r.Tools)
	if err != nil {
		return nil, err
	}
	choice, err := chatToolChoice(r.ToolChoice)
	if err != nil {
		return nil, err
	}
	var format json.RawMessage
	if r.Text != nil {
		if format, err = chatResponseFormat(r.Text.Format); err != nil {
			return nil, err
		}
	}
	ext, err := policies.ParseRequestExtension(r.Moegate)
	if err != nil {
		return nil, fieldErr("moegate", err)
	}
	echo := responseEcho{Instructions: r.Instructions, Tools: r.Tools, ToolChoice: r.ToolChoice, ParallelToolCalls: r.ParallelToolCalls == nil || *r.ParallelToolCalls,
		Temperature: r.Temperature, TopP: r.TopP, MaxOutputTokens: r.MaxOutputTokens, Metadata: r.Metadata, User: r.User}
	if echo.Tools = nonNull(echo.Tools); echo.Tools == nil {
		echo.Tools = json.RawMessage(`[]`)
	}
	if echo.ToolChoice = nonNull(echo.ToolChoice); echo.ToolChoice == nil {
		echo.ToolChoice = json.RawMessage(`"auto"`)
	}
	if echo.Metadata = nonNull(echo.Metadata); echo.Metadata == nil {
		echo.Metadata = json.RawMessage(`{}`)
	}
	echo.Text.Format = json.RawMessage(`{"type":"text"}`)
	if r.Text != nil && nonNull(r.Text.Format) != nil {
		echo.Text.Format = r.Text.Format
	}
	return &responsesCall{
		stream: r.Stream,
		echo:   echo,
		req: &gateway.Request{
			ID: requestID(c), Model: r.Model, Ext: withHeaders(c, ext),
			Chat: &experts.Request{Messages: msgs, Temperature: r.Temperature, TopP: r.TopP, MaxTokens: maxTokens, User: r.User,
				Tools: tools, ToolChoice: choice, ResponseFormat: format, Images: images},
		},
	}, nil
}

// inputMessages maps `input` (a string, or a list of items) onto chat
// messages; consecutive function calls become one assistant message.
func inputMessages(raw json.RawMessage) ([]experts.Message, int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, 0, invalid("input", "'input' is required: a string or a list of input items.")
	}
	if raw[0] == '"' {
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, 0, fieldErr("input", err)
		}
		return []experts.Message{{Role: "user", Content: text}}, 0, nil
	}
	var items []inputItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, 0, invalid("input", "'input' must be a string or a list of input items: %v", err)
	}
	if len(items) == 0 {
		return nil, 0, invalid("input", "'input' must contain at least one item.")
	}
	var msgs []experts.Message
	images := 0
	for i, it := range items {
		param := fmt.Sprintf("input[%d]", i)
		switch it.Type {
		case "", "message":
			if !validRoles[it.Role] || it.Role == "tool" {
				return nil, 0, invalid(param+".role", "Invalid role %q in %s: expected user, assistant, system or developer.", it.Role, param)
			}
			text, n, err := itemText(it.Content)
			if err != nil {
				return nil, 0, fieldErr(param+".content", err)
			}
			images += n
			role := it.Role
			if role == "developer" {
				role = "system"
			}
			msgs = append(msgs, experts.Message{Role: role, Content: text})
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return nil, 0, invalid(param, "A function_call item needs 'call_id' and 'name'.")
			}
			call := map[string]any{"id": it.CallID, "type": "function", "function": map[string]string{"name": it.Name, "arguments": it.Arguments}}
			if n := len(msgs); n > 0 && msgs[n-1].Role == "assistant" && len(msgs[n-1].ToolCalls) > 0 && msgs[n-1].Content == "" {
				var calls []any
				_ = json.Unmarshal(msgs[n-1].ToolCalls, &calls)
				msgs[n-1].ToolCalls, _ = json.Marshal(append(calls, call))
				continue
			}
			b, _ := json.Marshal([]any{call})
			msgs = append(msgs, experts.Message{Role: "assistant", ToolCalls: b})
		case "function_call_output":
			if it.CallID == "" {
				return nil, 0, invalid(param+".call_id", "A function_call_output item needs 'call_id'.")
			}
			out, _, err := itemText(it.Output)
			if err != nil {
				return nil, 0, fieldErr(param+".output", err)
			}
			msgs = append(msgs, experts.Message{Role: "tool", ToolCallID: it.CallID, Content: out})
		default:
			return nil, 0, invalid(param+".type", "Input items of type %q are not supported; use message, function_call or function_call_output.", it.Type)
		}
	}
	return msgs, images, nil
}

// itemText flattens an item's content: a string, or input_text/output_text
// parts; input_image parts are counted (only vision experts take them).
func itemText(raw json.RawMessage) (string, int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", 0, nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, 0, err
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", 0, fmt.Errorf("content must be a string or a list of content parts")
	}
	var b strings.Builder
	images := 0
	for i, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "text":
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(p.Text)
		case "input_image":
			images++
		default:
			return "", 0, fmt.Errorf("content part %d has type %q: supported are input_text, output_text and input_image", i, p.Type)
		}
	}
	return b.String(), images, nil
}

// chatTools maps Responses function tools ({type, name, parameters}) onto
// chat tools ({type, function: {name, parameters}}). Built-in tools (web
// search, file search, ...) need OpenAI's own servers.
func chatTools(raw json.RawMessage) (json.RawMessage, error) {
	if nonNull(raw) == nil {
		return nil, nil
	}
	var tools []struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Strict      *bool           `json:"strict,omitempty"`
	}
	if err := json.Unmarshal(raw, &tools); err != nil {
		return nil, invalid("tools", "'tools' must be a list of tools: %v", err)
	}
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]map[string]any, len(tools))
	for i, t := range tools {
		if t.Type != "function" {
			return nil, invalid(fmt.Sprintf("tools[%d].type", i), "Tool type %q is not supported by this gateway; only function tools are.", t.Type)
		}
		if t.Name == "" {
			return nil, invalid(fmt.Sprintf("tools[%d].name", i), "A function tool needs a 'name'.")
		}
		fn := map[string]any{"name": t.Name}
		if t.Description != "" {
			fn["description"] = t.Description
		}
		if nonNull(t.Parameters) != nil {
			fn["parameters"] = t.Parameters
		}
		if t.Strict != nil {
			fn["strict"] = *t.Strict
		}
		out[i] = map[string]any{"type": "function", "function": fn}
	}
	b, err := json.Marshal(out)
	return b, err
}

// chatToolChoice maps "auto"/"none"/"required" as they are and
// {type: "function", name} onto chat's {type, function: {name}}.
func chatToolChoice(raw json.RawMessage) (json.RawMessage, error) {
	raw = nonNull(raw)
	if raw == nil || bytes.TrimSpace(raw)[0] == '"' {
		return raw, nil
	}
	var tc struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &tc); err != nil || tc.Type != "function" || tc.Name == "" {
		return nil, invalid("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": ...}.")
	}
	return json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
}

// chatResponseFormat maps text.format onto chat's response_format.
func chatResponseFormat(raw json.RawMessage) (json.RawMessage, error) {
	if nonNull(raw) == nil {
		return nil, nil
	}
	var f struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict,omitempty"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, invalid("text.format", "'text.format' must be an object: %v", err)
	}
	switch f.Type {
	case "text":
		return nil, nil
	case "json_object":
		return json.RawMessage(`{"type":"json_object"}`), nil
	case "json_schema":
		if f.Name == "" || nonNull(f.Schema) == nil {
			return nil, invalid("text.format", "A json_schema format needs 'name' and 'schema'.")
		}
		js := map[string]any{"name": f.Name, "schema": f.Schema}
		if f.Description != "" {
			js["description"] = f.Description
		}
		if f.Strict != nil {
			js["strict"] = *f.Strict
		}
		return json.Marshal(map[string]any{"type": "json_schema", "json_schema": js})
	}
	return nil, invalid("text.format.type", "'text.format.type' must be text, json_object or json_schema; got %q.", f.Type)
}

// responseObject is OpenAI's Response object.
type responseObject struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	CreatedAt         int64           `json:"created_at"`
	Status            string          `json:"status"`
	Error             *responseError  `json:"error"`
	IncompleteDetails *incomplete     `json:"incomplete_details"`
	Model             string          `json:"model"`
	Output            []outputItem    `json:"output"`
	Usage             *responsesUsage `json:"usage"`
	Store             bool            `json:"store"`
	responseEcho
	Moegate *gateway.Info `json:"moegate,omitempty"`
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incomplete struct {
	Reason string `json:"reason"`
}

type outputItem struct {
	Type      string        `json:"type"` // message | function_call
	ID        string        `json:"id"`
	Status    string        `json:"status"`
	Role      string        `json:"role,omitempty"`
	Content   []contentPart `json:"content,omitempty"`
	CallID    string        `json:"call_id,omitempty"`
	Name      string        `json:"name,omitempty"`
	Arguments *string       `json:"arguments,omitempty"`
}

type contentPart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

type responsesUsage struct {
	InputTokens         int            `json:"input_tokens"`
	InputTokensDetails  map[string]int `json:"input_tokens_details"`
	OutputTokens        int            `json:"output_tokens"`
	OutputTokensDetails map[string]int `json:"output_tokens_details"`
	TotalTokens         int            `json:"total_tokens"`
}

func responsesUsageOf(u experts.Usage) *responsesUsage {
	return &responsesUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.Total(),
		InputTokensDetails: map[string]int{"cached_tokens": 0}, OutputTokensDetails: map[string]int{"reasoning_tokens": 0}}
}

func responseID(info *gateway.Info) string {
	return "resp_" + strings.TrimPrefix(info.RequestID, "req_")
}

func messageID(info *gateway.Info) string { return "msg_" + strings.TrimPrefix(info.RequestID, "req_") }

// newResponse is the response object before any output: status in_progress.
func newResponse(call *responsesCall, info *gateway.Info, model string, created int64) responseObject {
	return responseObject{ID: responseID(info), Object: "response", CreatedAt: created, Status: "in_progress", Model: model,
		Output: []outputItem{}, responseEcho: call.echo, Moegate: info}
}

// finishResponse fills in the output of a finished answer.
func finishResponse(r *responseObject, res *gateway.Result) {
	r.Model, r.Status, r.Moegate = res.Answered, "completed", res.Info
	out := res.Response
	if out.FinishReason == "length" {
		r.Status, r.IncompleteDetails = "incomplete", &incomplete{Reason: "max_output_tokens"}
	}
	r.Output = []outputItem{}
	if out.Content != "" || len(out.ToolCalls) == 0 {
		r.Output = append(r.Output, messageItem(res.Info, out.Content, "completed"))
	}
	r.Output = append(r.Output, functionCalls(out.ToolCalls)...)
	r.Usage = responsesUsageOf(out.Usage)
}

func messageItem(info *gateway.Info, text, status string) outputItem {
	item := outputItem{Type: "message", ID: messageID(info), Status: status, Role: "assistant", Content: []contentPart{}}
	if status == "completed" {
		item.Content = []contentPart{{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}}
	}
	return item
}

// functionCalls maps chat tool calls onto function_call output items.
func functionCalls(raw json.RawMessage) []outputItem {
	var calls []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &calls) != nil {
		return nil
	}
	out := make([]outputItem, 0, len(calls))
	for _, c := range calls {
		args := c.Function.Arguments
		out = append(out, outputItem{Type: "function_call", ID: "fc_" + strings.TrimPrefix(c.ID, "call_"), Status: "completed",
			CallID: c.ID, Name: c.Function.Name, Arguments: &args})
	}
	return out
}

func (s *Server) responses(c *gin.Context) error {
	call, err := s.decodeResponses(c)
	if err != nil {
		return err
	}
	p, err := s.plan(c, call.req)
	if err != nil {
		return err
	}
	created := time.Now().Unix()
	if !call.stream {
		res, err := s.execute(c, p, nil)
		c.Header("X-Moegate-Route", p.Info.Header())
		if err != nil {
			return err
		}
		r := newResponse(call, p.Info, res.Answered, created)
		finishResponse(&r, res)
		c.JSON(http.StatusOK, r)
		return nil
	}
	w := &responsesStream{c: c, call: call, info: p.Info, created: created, model: p.Info.Route.Experts[0].Name}
	res, err := s.execute(c, p, w.delta)
	if err != nil {
		if !w.started {
			c.Header("X-Moegate-Route", p.Info.Header())
			return err
		}
		w.fail(err)
		return nil
	}
	w.finish(res)
	return nil
}

// responsesStream writes the Responses API's server-sent events: the
// response is created, a message item and its text part are added, text
// arrives as deltas, then everything is closed in order and the response
// completes. Function calls are added as whole items at the end.
type responsesStream struct {
	c       *gin.Context
	call    *responsesCall
	info    *gateway.Info
	created int64
	model   string
	started bool
	msgOpen bool // the message item was added
	seq     int
	text    strings.Builder
}

func (w *responsesStream) event(typ string, fields map[string]any) error {
	fields["type"] = typ
	fields["sequence_number"] = w.seq
	w.seq++
	b, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w.c.Writer, "event: %s\ndata: %s\n\n", typ, b); err != nil {
		return err
	}
	w.c.Writer.Flush()
	return nil
}

func (w *responsesStream) start() error {
	w.started = true
	h := w.c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Moegate-Route", w.info.Header())
	w.c.Status(http.StatusOK)
	r := newResponse(w.call, w.info, w.model, w.created)
	if err := w.event("response.created", map[string]any{"response": r}); err != nil {
		return err
	}
	return w.event("response.in_progress", map[string]any{"response": r})
}

// openMessage adds the message item the text streams into: output 0.
func (w *responsesStream) openMessage() error {
	w.msgOpen = true
	if err := w.event("response.output_item.added", map[string]any{"output_index": 0, "item": messageItem(w.info, "", "in_progress")}); err != nil {
		return err
	}
	return w.event("response.content_part.added", map[string]any{"item_id": messageID(w.info), "output_index": 0, "content_index": 0,
		"part": contentPart{Type: "output_text", Text: "", Annotations: []any{}, Logprobs: []any{}}})
}

func (w *responsesStream) delta(d experts.Delta) error {
	if d.Content == "" {
		return nil // tool calls are sent whole when the answer is complete
	}
	if !w.started {
		if err := w.start(); err != nil {
			return err
		}
	}
	if !w.msgOpen {
		if err := w.openMessage(); err != nil {
			return err
		}
	}
	w.text.WriteString(d.Content)
	return w.event("response.output_text.delta", map[string]any{"item_id": messageID(w.info), "output_index": 0, "content_index": 0,
		"delta": d.Content, "logprobs": []any{}})
}

func (w *responsesStream) finish(res *gateway.Result) {
	w.model = res.Answered
	if !w.started {
		if err := w.start(); err != nil {
			return
		}
	}
	r := newResponse(w.call, w.info, w.model, w.created)
	finishResponse(&r, res)
	text := res.Response.Content
	calls := functionCalls(res.Response.ToolCalls)
	first := 0 // output index of the first function call
	// A message item when text streamed, or when there is nothing else to
	// answer with (as in the non-streaming output).
	if w.msgOpen || text != "" || len(calls) == 0 {
		if !w.msgOpen {
			_ = w.openMessage()
		}
		id := messageID(w.info)
		part := contentPart{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
		_ = w.event("response.output_text.done", map[string]any{"item_id": id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []any{}})
		_ = w.event("response.content_part.done", map[string]any{"item_id": id, "output_index": 0, "content_index": 0, "part": part})
		_ = w.event("response.output_item.done", map[string]any{"output_index": 0, "item": messageItem(w.info, text, "completed")})
		first = 1
		if len(r.Output) == 0 || r.Output[0].Type != "message" {
			r.Output = append([]outputItem{messageItem(w.info, text, "completed")}, r.Output...)
		}
	}
	for i, fc := range calls {
		idx := first + i
		args := *fc.Arguments
		added := fc
		added.Status, added.Arguments = "in_progress", new(string)
		_ = w.event("response.output_item.added", map[string]any{"output_index": idx, "item": added})
		_ = w.event("response.function_call_arguments.delta", map[string]any{"item_id": fc.ID, "output_index": idx, "delta": args})
		_ = w.event("response.function_call_arguments.done", map[string]any{"item_id": fc.ID, "output_index": idx, "arguments": args})
		_ = w.event("response.output_item.done", map[string]any{"output_index": idx, "item": fc})
	}
	typ := "response.completed"
	if r.Status == "incomplete" {
		typ = "response.incomplete"
	}
	_ = w.event(typ, map[string]any{"response": r})
}

// fail reports an error after the stream started: an error event, then
// response.failed.
func (w *responsesStream) fail(e error) {
	_, body, _ := describe(e, w.info.RequestID)
	msg, code := body.Error.Message, ""
	if body.Error.Code != nil {
		code = *body.Error.Code
	}
	_ = w.event("error", map[string]any{"code": code, "message": msg, "param": nil})
	r := newResponse(w.call, w.info, w.model, w.created)
	r.Status, r.Error = "failed", &responseError{Code: cmpOr(code, "server_error"), Message: msg}
	_ = w.event("response.failed", map[string]any{"response": r})
}
