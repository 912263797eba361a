package openai

import (
	"strings"
	"unicode/utf8"

	"github.com/moegate/moegate/experts"
)

// decodeChunk decodes the common shapes of a stream event (choices whose
// delta holds content, or usage; no error or tool calls, keys spelled as
// OpenAI spells them, strings with at most simple escapes) without
// reflection, into what json.Unmarshal would make of it. ok is false for
// anything else, valid or not, which is left to encoding/json: this is
// the one decode per upstream chunk.
func decodeChunk(data []byte) (c wireChunk, ok bool) {
	d := chunkDecoder{b: data}
	if !d.open('{') {
		return c, false
	}
	for first := true; ; first = false {
		key, more, ok := d.key(first)
		switch {
		case !ok:
			return c, false
		case !more:
			return c, d.end()
		}
		switch string(key) {
		case "choices":
			ok = d.choices(&c)
		case "usage":
			ok = d.usage(&c)
		case "error":
			ok = d.null()
		default:
			ok = d.other(key)
		}
		if !ok {
			return c, false
		}
	}
}

type chunkDecoder struct {
	b []byte
	i int
}

func (d *chunkDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *chunkDecoder) end() bool {
	d.ws()
	return d.i == len(d.b)
}

func (d *chunkDecoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *chunkDecoder) literal(s string) bool {
	d.ws()
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

func (d *chunkDecoder) null() bool { return d.literal("null") }

func (d *chunkDecoder) open(c byte) bool {
	if d.peek() != c {
		return false
	}
	d.i++
	return true
}

// key reads the next key of an object and its colon (first: right after
// the brace), leaving the decoder at its value; more is false at the
// object's end. Keys with escapes or other than ASCII are refused:
// encoding/json folds case (and some non-ASCII letters) when matching
// field names, which is not worth following here.
func (d *chunkDecoder) key(first bool) (key []byte, more, ok bool) {
	switch c := d.peek(); {
	case c == '}':
		d.i++
		return nil, false, true
	case !first && c == ',':
		d.i++
	case !first:
		return nil, false, false
	}
	if d.peek() != '"' {
		return nil, false, false
	}
	d.i++
	start := d.i
	for d.i < len(d.b) && d.b[d.i] != '"' {
		if c := d.b[d.i]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return nil, false, false
		}
		d.i++
	}
	if d.i == len(d.b) {
		return nil, false, false
	}
	key = d.b[start:d.i]
	d.i++
	return key, true, d.open(':')
}

// other skips the value of a key the chunk has no field for, refusing a
// key encoding/json would match to a field by folding its case.
func (d *chunkDecoder) other(key []byte) bool {
	for _, f := range [...]string{"choices", "usage", "error", "delta", "content", "tool_calls", "finish_reason", "message", "param", "code",
		"prompt_tokens", "completion_tokens", "total_tokens"} {
		if len(key) == len(f) && strings.EqualFold(string(key), f) {
			return false
		}
	}
	return d.skip(0)
}

func (d *chunkDecoder) choices(c *wireChunk) bool {
	if c.Choices != nil {
		return false // a repeated key: left to encoding/json
	}
	if d.peek() == 'n' {
		return d.null()
	}
	if !d.literal("[") {
		return false
	}
	c.Choices = make([]wireChunkChoice, 0, 1)
	if d.peek() == ']' {
		d.i++
		return true
	}
	for {
		c.Choices = append(c.Choices, wireChunkChoice{})
		if !d.choice(&c.Choices[len(c.Choices)-1]) {
			return false
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return true
		default:
			return false
		}
	}
}

func (d *chunkDecoder) choice(ch *wireChunkChoice) bool {
	if !d.open('{') {
		return false
	}
	for first := true; ; first = false {
		key, more, ok := d.key(first)
		if !ok || !more {
			return ok
		}
		switch string(key) {
		case "delta":
			ok = d.delta(ch)
		case "finish_reason":
			if d.peek() == 'n' {
				ch.FinishReason = nil
				ok = d.null()
			} else {
				var s string
				s, ok = d.str()
				ch.FinishReason = &s
			}
		default:
			ok = d.other(key)
		}
		if !ok {
			return false
		}
	}
}

func (d *chunkDecoder) delta(ch *wireChunkChoice) bool {
	if !d.open('{') {
		return false
	}
	for first := true; ; first = false {
		key, more, ok := d.key(first)
		if !ok || !more {
			return ok
		}
		switch {
		case string(key) != "content":
			ok = d.other(key)
		case d.peek() == 'n':
			ok = d.null()
		default:
			ch.Delta.Content, ok = d.str()
		}
		if !ok {
			return false
		}
	}
}

// usage reads the token counts a stream's last event carries.
func (d *chunkDecoder) usage(c *wireChunk) bool {
	if c.Usage != nil {
		return false // a repeated key: left to encoding/json
	}
	if d.peek() == 'n' {
		return d.null()
	}
	c.Usage = new(experts.Usage)
	return d.usageFields(c.Usage)
}

// usageFields reads a usage object into u.
func (d *chunkDecoder) usageFields(u *experts.Usage) bool {
	if !d.open('{') {
		return false
	}
	for first := true; ; first = false {
		key, more, ok := d.key(first)
		if !ok || !more {
			return ok
		}
		switch string(key) {
		case "prompt_tokens":
			u.PromptTokens, ok = d.int()
		case "completion_tokens":
			u.CompletionTokens, ok = d.int()
		case "total_tokens":
			u.TotalTokens, ok = d.int()
		default:
			ok = d.other(key)
		}
		if !ok {
			return false
		}
	}
}

// decodeResponse decodes the common shape of a chat completion (choices
// whose message holds content, usage; no error or tool calls, keys as
// OpenAI spells them) without reflection, into what json.Unmarshal would
// make of it. ok is false for anything else, which is left to
// encoding/json.
func decodeResponse(data []byte) (w wireResponse, ok bool) {
	d := chunkDecoder{b: data}
	if !d.open('{') {
		return w, false
	}
	var seenChoices, seenUsage bool
	for first := true; ; first = false {
		key, more, ok := d.key(first)
		switch {
		case !ok:
			return w, false
		case !more:
			return w, d.end()
		}
		switch string(key) {
		case "choices":
			if seenChoices {
				return w, false // a repeated key: left to encoding/json
			}
			seenChoices = true
			ok = d.respChoices(&w)
		case "usage":
			if seenUsage {
				return w, false
			}
			seenUsage = true
			if d.peek() == 'n' {
				ok = d.null()
			} else {
				ok = d.usageFields(&w.Usage)
			}
		case "error":
			ok = d.null()
		default:
			ok = d.other(key)
		}
		if !ok {
			return w, false
		}
	}
}

func (d *chunkDecoder) respChoices(w *wireResponse) bool {
	if d.peek() == 'n' {
		return d.null()
	}
	if !d.literal("[") {
		return false
	}
	w.Choices = make([]wireChoice, 0, 1)
	if d.peek() == ']' {
		d.i++
		return true
	}
	for {
		w.Choices = append(w.Choices, wireChoice{})
		if !d.respChoice(&w.Choices[len(w.Choices)-1]) {
			return false
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return true
		default:
			return false
		}
	}
}

func (d *chunkDecoder) respChoice(ch *wireChoice) bool {
	if !d.open('{') {
		return false
	}
	seenMessage := false
	for first := true; ; first = false {
		key, more, ok := d.key(first)
		if !ok || !more {
			return ok
		}
		switch string(key) {
		case "message":
			if seenMessage {
				return false
			}
			seenMessage = true
			ok = d.message(&ch.Message)
		case "finish_reason":
			if d.peek() == 'n' {
				ok = d.null() // null leaves a string as it is
			} else {
				ch.FinishReason, ok = d.str()
			}
		default:
			ok = d.other(key)
		}
		if !ok {
			return false
		}
	}
}

func (d *chunkDecoder) message(m *wireMessage) bool {
	if d.peek() == 'n' {
		return d.null()
	}
	if !d.open('{') {
		return false
	}
	for first := true; ; first = false {
		key, more, ok := d.key(first)
		if !ok || !more {
			return ok
		}
		switch string(key) {
		case "content":
			if d.peek() == 'n' {
				m.Content = nil
				ok = d.null()
			} else {
				var s string
				s, ok = d.str()
				m.Content = &s
			}
		default: // tool calls ("tool_calls", even null) are left to encoding/json
			ok = string(key) != "tool_calls" && d.other(key)
		}
		if !ok {
			return false
		}
	}
}

// int reads an integer of at most 18 digits (no fraction or exponent,
// which encoding/json refuses for an int, and no overflow).
func (d *chunkDecoder) int() (int, bool) {
	d.ws()
	neg := d.i < len(d.b) && d.b[d.i] == '-'
	if neg {
		d.i++
	}
	start, n := d.i, 0
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		n = n*10 + int(d.b[d.i]-'0')
		d.i++
	}
	switch digits := d.i - start; {
	case digits == 0 || digits > 18 || digits > 1 && d.b[start] == '0':
		return 0, false
	case d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E'):
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// str reads a string of valid UTF-8 with no escapes but \" \\ \/ \n \t
// \r \b \f.
func (d *chunkDecoder) str() (string, bool) {
	if d.peek() != '"' {
		return "", false
	}
	d.i++
	start := d.i
	var out []byte // only when there are escapes
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if out != nil {
				s = append(out, s...)
			}
			if !utf8.Valid(s) {
				return "", false // encoding/json replaces bad bytes
			}
			return string(s), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return "", false
			}
			out = append(out, d.b[start:d.i]...)
			switch e := d.b[d.i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'n':
				out = append(out, '\n')
			case 't':
				out = append(out, '\t')
			case 'r':
				out = append(out, '\r')
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			default:
				return "", false // \u and anything invalid
			}
			d.i += 2
			start = d.i
		default:
			d.i++
		}
	}
	return "", false
}

// skip passes over any valid JSON value, strictly.
func (d *chunkDecoder) skip(depth int) bool {
	if depth > 32 {
		return false
	}
	switch d.peek() {
	case '{':
		d.i++
		for first := true; ; first = false {
			_, more, ok := d.key(first)
			if !ok || !more {
				return ok
			}
			if !d.skip(depth + 1) {
				return false
			}
		}
	case '[':
		d.i++
		if d.peek() == ']' {
			d.i++
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			switch d.peek() {
			case ',':
				d.i++
			case ']':
				d.i++
				return true
			default:
				return false
			}
		}
	case '"':
		return d.skipString()
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.null()
	}
	return d.number()
}

// skipString passes over a string: any bytes but control characters,
// valid escapes.
func (d *chunkDecoder) skipString() bool {
	d.i++
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return false
			}
			switch d.b[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				if d.i+5 > len(d.b) {
					return false
				}
				for _, h := range d.b[d.i+1 : d.i+5] {
					if !isHex(h) {
						return false
					}
				}
				d.i += 5
			default:
				return false
			}
		default:
			d.i++
		}
	}
	return false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// number passes over a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *chunkDecoder) number() bool {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
