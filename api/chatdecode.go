package api

import (
	"strconv"
	"strings"

	"github.com/moegate/moegate/internal/jsontok"
)

// decodeChatRequest decodes the common shapes of a chat request without
// reflection, into what json.Unmarshal would make of it. ok is false for
// anything else, valid or not (a wrong type, a key that differs from a
// field's name only in case, escapes in keys, repeated arrays...), which
// is left to encoding/json and its error messages. The raw members
// (content, tools, stop...) share body's bytes, capped against appends.
func decodeChatRequest(body []byte, r *chatRequest) bool {
	d := jsontok.New(body)
	if !d.Open('{') {
		return false
	}
	seenMessages, seenOptions := false, false
	for first := true; ; first = false {
		key, more, ok := d.Key(first)
		switch {
		case !ok:
			return false
		case !more:
			return d.End()
		}
		switch string(key) {
		case "model":
			ok = optString(&d, &r.Model)
		case "user":
			ok = optString(&d, &r.User)
		case "messages":
			if seenMessages {
				return false
			}
			seenMessages = true
			ok = chatMessages(&d, r)
		case "stream":
			ok = optBool(&d, &r.Stream)
		case "temperature":
			r.Temperature, ok = optFloat32(&d)
		case "top_p":
			r.TopP, ok = optFloat32(&d)
		case "max_tokens":
			r.MaxTokens, ok = optInt(&d)
		case "max_completion_tokens":
			r.MaxCompletionTokens, ok = optInt(&d)
		case "seed":
			r.Seed, ok = optInt(&d)
		case "n":
			r.N, ok = optInt(&d)
		case "stream_options":
			if seenOptions {
				return false
			}
			seenOptions = true
			ok = chatStreamOptions(&d, r)
		case "stop":
			r.Stop, ok = raw(&d)
		case "tools":
			r.Tools, ok = raw(&d)
		case "tool_choice":
			r.ToolChoice, ok = raw(&d)
		case "response_format":
			r.ResponseFormat, ok = raw(&d)
		case "moegate":
			r.Moegate, ok = raw(&d)
		default:
			ok = otherMember(&d, key)
		}
		if !ok {
			return false
		}
	}
}

func chatMessages(d *jsontok.Decoder, r *chatRequest) bool {
	if d.Peek() == 'n' {
		r.Messages = nil
		return d.Null()
	}
	return jsontok.Array(d, &r.Messages, 4, func(m *chatMessage) bool { return chatMessageObject(d, m) })
}

func chatMessageObject(d *jsontok.Decoder, m *chatMessage) bool {
	if !d.Open('{') {
		return false // null elements too: left to encoding/json
	}
	for first := true; ; first = false {
		key, more, ok := d.Key(first)
		if !ok || !more {
			return ok
		}
		switch string(key) {
		case "role":
			ok = optString(d, &m.Role)
		case "content":
			m.Content, ok = raw(d)
		case "name":
			ok = optString(d, &m.Name)
		case "tool_calls":
			m.ToolCalls, ok = raw(d)
		case "tool_call_id":
			ok = optString(d, &m.ToolCallID)
		default:
			ok = otherMember(d, key)
		}
		if !ok {
			return false
		}
	}
}

func chatStreamOptions(d *jsontok.Decoder, r *chatRequest) bool {
	if d.Peek() == 'n' {
		r.StreamOptions = nil
		return d.Null()
	}
	if !d.Open('{') {
		return false
	}
	r.StreamOptions = new(streamOptions)
	for first := true; ; first = false {
		key, more, ok := d.Key(first)
		if !ok || !more {
			return ok
		}
		if string(key) == "include_usage" {
			ok = optBool(d, &r.StreamOptions.IncludeUsage)
		} else {
			ok = otherMember(d, key)
		}
		if !ok {
			return false
		}
	}
}

// chatFields are the JSON names of the request's fields at any depth: a
// key equal to one but for case is matched by encoding/json, so it is
// left to it.
var chatFields = [...]string{"model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
	"user", "n", "stream", "stream_options", "tools", "tool_choice", "response_format", "moegate",
	"role", "content", "name", "tool_calls", "tool_call_id", "include_usage"}

// otherMember passes over the value of a key no field takes.
func otherMember(d *jsontok.Decoder, key []byte) bool {
	for _, f := range chatFields {
		if len(key) == len(f) && strings.EqualFold(string(key), f) {
			return false
		}
	}
	return d.Skip()
}

// optString reads a string into s; null leaves s as it is.
func optString(d *jsontok.Decoder, s *string) bool {
	if d.Peek() == 'n' {
		return d.Null()
	}
	v, ok := d.Str()
	if ok {
		*s = v
	}
	return ok
}

// optBool reads a boolean into b; null leaves b as it is.
func optBool(d *jsontok.Decoder, b *bool) bool {
	switch d.Peek() {
	case 'n':
		return d.Null()
	case 't':
		*b = true
		return d.Literal("true")
	case 'f':
		*b = false
		return d.Literal("false")
	}
	return false
}

// optFloat32 reads a number as encoding/json reads it into a *float32
// (nil for null).
func optFloat32(d *jsontok.Decoder) (*float32, bool) {
	if d.Peek() == 'n' {
		return nil, d.Null()
	}
	start := d.Pos()
	if !d.Number() {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(d.Since(start)), 32)
	if err != nil {
		return nil, false // out of range: encoding/json's type error
	}
	v := float32(f)
	return &v, true
}

// optInt reads an integer into a *int (nil for null).
func optInt(d *jsontok.Decoder) (*int, bool) {
	if d.Peek() == 'n' {
		return nil, d.Null()
	}
	v, ok := d.Int()
	if !ok {
		return nil, false
	}
	return &v, true
}

// raw reads any value as a json.RawMessage does: its bytes, "null"
// included.
func raw(d *jsontok.Decoder) ([]byte, bool) {
	d.WS()
	start := d.Pos()
	if !d.Skip() {
		return nil, false
	}
	return d.Since(start), true
}
