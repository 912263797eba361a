package api

import (
	"encoding/json"
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
// bare reports, when ok, that body has no member but model, messages,
// stream, stream_options, user and moegate: no parameter that changes the
// answer, which the cache key would otherwise scan the body again for.
func decodeChatRequest(body []byte, r *chatRequest) (ok, bare bool) {
	d := jsontok.New(body)
	seenMessages, seenOptions := false, false
	bare = true
	ok = d.Object(func(key []byte) bool {
		switch string(key) {
		case "model", "user", "messages", "stream", "stream_options", "moegate":
		default:
			bare = false
		}
		switch string(key) {
		case "model":
			return optString(&d, &r.Model)
		case "user":
			return optString(&d, &r.User)
		case "messages":
			if seenMessages {
				return false
			}
			seenMessages = true
			return chatMessages(&d, r)
		case "stream":
			return optBool(&d, &r.Stream)
		case "temperature":
			return optFloat32(&d, &r.Temperature)
		case "top_p":
			return optFloat32(&d, &r.TopP)
		case "max_tokens":
			return optInt(&d, &r.MaxTokens)
		case "max_completion_tokens":
			return optInt(&d, &r.MaxCompletionTokens)
		case "seed":
			return optInt(&d, &r.Seed)
		case "n":
			return optInt(&d, &r.N)
		case "stream_options":
			if seenOptions {
				return false
			}
			seenOptions = true
			return chatStreamOptions(&d, r)
		case "stop":
			return raw(&d, &r.Stop)
		case "tools":
			return raw(&d, &r.Tools)
		case "tool_choice":
			return raw(&d, &r.ToolChoice)
		case "response_format":
			return raw(&d, &r.ResponseFormat)
		case "moegate":
			return raw(&d, &r.Moegate)
		default:
			return otherMember(&d, key)
		}
	}) && d.End()
	return ok, ok && bare
}

func chatMessages(d *jsontok.Decoder, r *chatRequest) bool {
	if d.Peek() == 'n' {
		r.Messages = nil
		return d.Null()
	}
	return jsontok.Array(d, &r.Messages, 4, func(m *chatMessage) bool { return chatMessageObject(d, m) })
}

// chatMessageObject reads one message; null elements are refused, left to
// encoding/json.
func chatMessageObject(d *jsontok.Decoder, m *chatMessage) bool {
	return d.Object(func(key []byte) bool {
		switch string(key) {
		case "role":
			return optString(d, &m.Role)
		case "content":
			return raw(d, &m.Content)
		case "name":
			return optString(d, &m.Name)
		case "tool_calls":
			return raw(d, &m.ToolCalls)
		case "tool_call_id":
			return optString(d, &m.ToolCallID)
		default:
			return otherMember(d, key)
		}
	})
}

func chatStreamOptions(d *jsontok.Decoder, r *chatRequest) bool {
	if d.Peek() == 'n' {
		r.StreamOptions = nil
		return d.Null()
	}
	if d.Peek() != '{' {
		return false
	}
	r.StreamOptions = new(streamOptions)
	return d.Object(func(key []byte) bool {
		if string(key) == "include_usage" {
			return optBool(d, &r.StreamOptions.IncludeUsage)
		}
		return otherMember(d, key)
	})
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

// optFloat32 reads a number into *p as encoding/json reads it into a
// *float32 (nil for null).
func optFloat32(d *jsontok.Decoder, p **float32) bool {
	if d.Peek() == 'n' {
		*p = nil
		return d.Null()
	}
	start := d.Pos()
	if !d.Number() {
		return false
	}
	f, err := strconv.ParseFloat(string(d.Since(start)), 32)
	if err != nil {
		return false // out of range: encoding/json's type error
	}
	v := float32(f)
	*p = &v
	return true
}

// optInt reads an integer into *p (nil for null).
func optInt(d *jsontok.Decoder, p **int) bool {
	if d.Peek() == 'n' {
		*p = nil
		return d.Null()
	}
	v, ok := d.Int()
	if ok {
		*p = &v
	}
	return ok
}

// raw reads any value into *m as json.RawMessage does: its bytes, "null"
// included.
func raw(d *jsontok.Decoder, m *json.RawMessage) bool {
	d.WS()
	start := d.Pos()
	if !d.Skip() {
		return false
	}
	*m = d.Since(start)
	return true
}
