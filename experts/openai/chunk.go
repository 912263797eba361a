package openai

import (
	"bytes"
	"unsafe"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/jsonobj"
	"github.com/moegate/moegate/internal/jsontok"
)

// decodeChunk decodes the common shapes of a stream event (choices whose
// delta holds content, or usage; no error or tool calls, keys spelled as
// OpenAI spells them, strings with at most simple escapes) without
// reflection, into what json.Unmarshal would make of it. ok is false for
// anything else, valid or not, which is left to encoding/json: this is
// the one decode per upstream chunk.
func decodeChunk(data []byte) (c wireChunk, ok bool) {
	return c, decodeChunkInto(&c, data, nil, nil)
}

// decodeChunkInto is decodeChunk into *c, reusing the storage of its
// choices. When text is not nil the first choice's content is appended
// to *text and its Delta.Content holds those bytes (see textOf): a
// stream's content event then costs no allocation. When kept is not nil
// the chunk's members a writer keeps are appended to it (see
// appendKept), from this one reading of the chunk. On false, *text and
// *kept are as they were.
func decodeChunkInto(c *wireChunk, data []byte, text, kept *[]byte) bool {
	return decodeEvent(c, data, text, kept, nil)
}

// decodeEvent is decodeChunkInto for the events of one stream: when
// shape (kept by the caller for the stream) is not nil, an event that is
// the last content event with only its content string changed is read
// from that string alone, and the shape of each content event is
// remembered for the next.
func decodeEvent(c *wireChunk, data []byte, text, kept *[]byte, shape *eventShape) bool {
	if shape != nil && text != nil && kept != nil && shape.read(c, data, text, kept) {
		return true
	}
	*c = wireChunk{Choices: c.Choices[:0]}
	var n, nk int
	if text != nil {
		n = len(*text)
	}
	if kept != nil {
		nk = len(*kept)
	}
	d := chunkDecoder{Decoder: jsontok.New(data), text: text}
	var seenChoices, seenUsage bool
	keptAt := 0 // where in kept the content string is, if it is
	// lead is where the event's leading members a writer sets itself end
	// (see eventShape.lead), while leading.
	lead, leading := 0, shape != nil && text != nil && kept != nil
	member := func(key []byte) bool {
		if kept == nil || writersOwn(key) {
			if !d.member(c, key, &seenChoices, &seenUsage) {
				return false
			}
			if leading {
				lead = d.Pos()
			}
			return true
		}
		leading = false
		start := d.KeyStart()
		if !d.member(c, key, &seenChoices, &seenUsage) {
			return false
		}
		if d.at > start {
			keptAt = len(*kept) + 1 + d.at - start
		}
		*kept = append(append(*kept, ','), data[start:d.Pos()]...)
		return true
	}
	var ok bool
	if leading && len(shape.lead) > 0 && bytes.HasPrefix(data, shape.lead) {
		lead = len(shape.lead)
		ok = d.ObjectFrom(lead, member) && d.End()
		if !ok {
			// Refused from there (say the lead ends inside a number):
			// decoded whole, as it would be alone.
			*c = wireChunk{Choices: c.Choices[:0]}
			*text, *kept = (*text)[:n], (*kept)[:nk]
			d = chunkDecoder{Decoder: jsontok.New(data), text: text}
			seenChoices, seenUsage, keptAt, lead, leading = false, false, 0, 0, true
		}
	}
	if !ok {
		ok = d.Object(member) && d.End()
	}
	if !ok && text != nil {
		*text = (*text)[:n]
	}
	if !ok && kept != nil {
		*kept = (*kept)[:nk]
	}
	if shape != nil && text != nil && kept != nil {
		shape.remember(c, data, d.at, d.end, (*kept)[nk:], keptAt-nk, ok && keptAt > 0)
		if ok {
			shape.lead = append(shape.lead[:0], data[:lead]...)
		}
	}
	return ok
}

// eventShape is a stream's last event that was one piece of content:
// its bytes and its kept members around the content string. A stream's
// pieces mostly differ in that string alone (same id, model, created,
// choice index and nulls), and JSON that is valid with one string there
// is valid with any other, with the same meaning but for the content: so
// such an event needs only its bytes compared and its string read.
type eventShape struct {
	buf                    []byte // the four parts below, in order
	prefix, suffix         int    // lengths in buf of the event's bytes before and after the string
	keptPrefix, keptSuffix int    // and of its kept members'
	ok                     bool
	// lead is the start of the last event decoded whole, up to the end of
	// its leading members a writer sets itself (id, object, created,
	// model), which mean nothing to the decode. An event that starts with
	// the same bytes is read from there: JSON read left to right, they
	// are as valid in it, and end a value there if a key follows.
	lead []byte
}

// remember keeps the shape of the event data just decoded into c when it
// was one piece of content: one choice with a content string at
// data[at:end] (kept[keptAt:] when keptAt > 0), no finish reason, no
// usage or tool calls.
func (e *eventShape) remember(c *wireChunk, data []byte, at, end int, kept []byte, keptAt int, ok bool) {
	e.ok = ok && at > 0 && len(c.Choices) == 1 && c.Choices[0].FinishReason == nil && c.Usage == nil &&
		!present(c.Choices[0].Delta.ToolCalls) && keptAt+end-at <= len(kept)
	if !e.ok {
		return
	}
	keptEnd := keptAt + end - at
	e.buf = append(append(append(append(e.buf[:0], data[:at]...), data[end:]...), kept[:keptAt]...), kept[keptEnd:]...)
	e.prefix, e.suffix, e.keptPrefix, e.keptSuffix = at, len(data)-end, keptAt, len(kept)-keptEnd
}

// read decodes data as decodeChunkInto would if it has the remembered
// shape: the same bytes around one valid string.
func (e *eventShape) read(c *wireChunk, data []byte, text, kept *[]byte) bool {
	if !e.ok || len(data) <= e.prefix+e.suffix {
		return false
	}
	b := e.buf
	prefix, suffix := b[:e.prefix], b[e.prefix:e.prefix+e.suffix]
	b = b[e.prefix+e.suffix:]
	keptPrefix, keptSuffix := b[:e.keptPrefix], b[e.keptPrefix:e.keptPrefix+e.keptSuffix]
	str := data[e.prefix : len(data)-e.suffix]
	if str[0] != '"' || !bytes.HasPrefix(data, prefix) || !bytes.HasSuffix(data, suffix) {
		return false
	}
	n := len(*text)
	d := jsontok.New(str)
	t, ok := d.AppendStr(*text)
	if !ok || !d.End() {
		return false
	}
	*text = t
	c.Choices = append(c.Choices[:0], wireChunkChoice{})
	c.Choices[0].Delta.Content = textOf(t[n:])
	c.Usage, c.Error = nil, nil
	*kept = append(append(append(*kept, keptPrefix...), str...), keptSuffix...)
	return true
}

// writersOwn reports whether a chunk's member is one a writer sets
// itself (or, for another gateway's moegate object, drops) rather than
// passing on: see experts.Delta.Members.
func writersOwn(key []byte) bool {
	switch string(key) {
	case "id", "object", "created", "model", "moegate":
		return true
	}
	return false
}

// appendKept appends to dst the members of the chunk data a writer keeps,
// each after a comma, as decodeChunkInto does, for a chunk it refused
// (read by encoding/json). ok is false, and dst as it was, if data is not
// an object.
func appendKept(dst, data []byte) (_ []byte, ok bool) {
	n := len(dst)
	err := jsonobj.Members(data, func(key, _, member []byte) {
		if !writersOwn(key) {
			dst = append(append(dst, ','), member...)
		}
	})
	if err != nil {
		return dst[:n], false
	}
	return dst, true
}

// member reads the value of a chunk's top-level key.
func (d *chunkDecoder) member(c *wireChunk, key []byte, seenChoices, seenUsage *bool) bool {
	switch string(key) {
	case "choices":
		if *seenChoices {
			return false // a repeated key: left to encoding/json
		}
		*seenChoices = true
		return d.choices(c)
	case "usage":
		if *seenUsage {
			return false
		}
		*seenUsage = true
		return d.usage(c)
	case "error":
		return d.Null()
	default:
		return d.other(key)
	}
}

// chunkDecoder reads the shapes of an upstream's chunks and answers.
type chunkDecoder struct {
	jsontok.Decoder
	text *[]byte // see decodeChunkInto
	// at and end delimit the first choice's content string read into
	// text, from its opening quote; at is 0 if there was none.
	at, end int
}

// other skips the value of a key the chunk has no field for, refusing a
// key encoding/json would match to a field by folding its case.
func (d *chunkDecoder) other(key []byte) bool {
	return !fieldName(key) && d.Skip()
}

// fieldName reports whether key, ASCII as the decoder's keys are, equals
// one of the field names of the chunk and answer types ignoring case.
// Folding ASCII letters to lower case is all strings.EqualFold would
// do to such a key.
func fieldName(key []byte) bool {
	var buf [len("completion_tokens")]byte
	if len(key) > len(buf) {
		return false // longer than any field name
	}
	lower := buf[:len(key)]
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower) {
	case "choices", "usage", "error", "delta", "content", "tool_calls", "finish_reason", "message", "param", "code",
		"prompt_tokens", "completion_tokens", "total_tokens":
		return true
	}
	return false
}

func (d *chunkDecoder) choices(c *wireChunk) bool {
	if d.Peek() == 'n' {
		c.Choices = nil
		return d.Null()
	}
	return jsontok.Array(&d.Decoder, &c.Choices, 1, func(ch *wireChunkChoice) bool {
		return d.choice(ch, len(c.Choices) == 1)
	})
}

func (d *chunkDecoder) choice(ch *wireChunkChoice, first bool) bool {
	return d.Object(func(key []byte) (ok bool) {
		switch string(key) {
		case "delta":
			ok = d.delta(ch, first)
		case "finish_reason":
			ok = d.strOrNull(&ch.FinishReason)
		default:
			ok = d.other(key)
		}
		return ok
	})
}

func (d *chunkDecoder) delta(ch *wireChunkChoice, first bool) bool {
	seen := false
	return d.Object(func(key []byte) (ok bool) {
		if string(key) != "content" {
			return d.other(key)
		}
		switch {
		case seen && d.text != nil:
			ok = false // repeated, the first value already in text: left to encoding/json
		case d.Peek() == 'n':
			ok = d.Null()
		case first && d.text != nil:
			n := len(*d.text)
			d.at = d.Pos()
			*d.text, ok = d.AppendStr(*d.text)
			d.end = d.Pos()
			ch.Delta.Content = textOf((*d.text)[n:])
		default:
			ch.Delta.Content, ok = d.Str()
		}
		seen = true
		return ok
	})
}

// textOf returns b's bytes as a string without copying them. b must never
// be written again: it is the tail of an append-only buffer.
func textOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// strOrNull reads a string into a new *p, or null as a nil *p.
func (d *chunkDecoder) strOrNull(p **string) bool {
	if d.Peek() == 'n' {
		*p = nil
		return d.Null()
	}
	s, ok := d.Str()
	*p = &s
	return ok
}

// usage reads the token counts a stream's last event carries.
func (d *chunkDecoder) usage(c *wireChunk) bool {
	if d.Peek() == 'n' {
		return d.Null()
	}
	c.Usage = new(experts.Usage)
	return d.usageFields(c.Usage)
}

// usageFields reads a usage object into u.
func (d *chunkDecoder) usageFields(u *experts.Usage) bool {
	return d.Object(func(key []byte) (ok bool) {
		switch string(key) {
		case "prompt_tokens":
			u.PromptTokens, ok = d.Int()
		case "completion_tokens":
			u.CompletionTokens, ok = d.Int()
		case "total_tokens":
			u.TotalTokens, ok = d.Int()
		default:
			ok = d.other(key)
		}
		return ok
	})
}

// decodeResponse decodes the common shape of a chat completion (choices
// whose message holds content, usage; no error or tool calls, keys as
// OpenAI spells them) without reflection, into what json.Unmarshal would
// make of it. ok is false for anything else, which is left to
// encoding/json.
func decodeResponse(data []byte) (w wireResponse, ok bool) {
	d := chunkDecoder{Decoder: jsontok.New(data)}
	var seenChoices, seenUsage bool
	ok = d.Object(func(key []byte) bool {
		switch string(key) {
		case "choices":
			if seenChoices {
				return false // a repeated key: left to encoding/json
			}
			seenChoices = true
			return d.respChoices(&w)
		case "usage":
			if seenUsage {
				return false
			}
			seenUsage = true
			if d.Peek() == 'n' {
				return d.Null()
			}
			return d.usageFields(&w.Usage)
		case "error":
			return d.Null()
		default:
			return d.other(key)
		}
	})
	return w, ok && d.End()
}

func (d *chunkDecoder) respChoices(w *wireResponse) bool {
	if d.Peek() == 'n' {
		return d.Null()
	}
	return jsontok.Array(&d.Decoder, &w.Choices, 1, d.respChoice)
}

func (d *chunkDecoder) respChoice(ch *wireChoice) bool {
	seenMessage := false
	return d.Object(func(key []byte) (ok bool) {
		switch string(key) {
		case "message":
			if seenMessage {
				return false
			}
			seenMessage = true
			ok = d.message(&ch.Message)
		case "finish_reason":
			if d.Peek() == 'n' {
				ok = d.Null() // null leaves a string as it is
			} else {
				ch.FinishReason, ok = d.Str()
			}
		default:
			ok = d.other(key)
		}
		return ok
	})
}

func (d *chunkDecoder) message(m *wireMessage) bool {
	if d.Peek() == 'n' {
		return d.Null()
	}
	return d.Object(func(key []byte) (ok bool) {
		switch string(key) {
		case "content":
			ok = d.strOrNull(&m.Content)
		default: // tool calls ("tool_calls", even null) are left to encoding/json
			ok = string(key) != "tool_calls" && d.other(key)
		}
		return ok
	})
}
