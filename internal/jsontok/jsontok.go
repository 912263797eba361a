// Package jsontok reads JSON strictly, a token at a time, for the hand
// decoders of the hot path (an upstream's chunks and answers, a client's
// chat request): each decodes the common shapes of its message without
// reflection and leaves anything else to encoding/json, so what it does
// decode must read as encoding/json would read it.
package jsontok

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// Decoder reads b from position i.
type Decoder struct {
	b   []byte
	i   int
	key int // the opening quote of the last key read
}

// New returns a decoder at the start of b.
func New(b []byte) Decoder { return Decoder{b: b} }

// Next passes over one byte (one already peeked).
func (d *Decoder) Next() { d.i++ }

// Pos is the current position, at a value after WS or Peek.
func (d *Decoder) Pos() int { return d.i }

// KeyStart is the position of the opening quote of the key Object last
// passed to its member function: read at once, before the value (which
// may hold keys of its own), it and Pos after the value delimit the member.
func (d *Decoder) KeyStart() int { return d.key }

// Since returns the bytes from position start to the current one, capped
// so that appending to them never writes into the input.
func (d *Decoder) Since(start int) []byte { return d.b[start:d.i:d.i] }

// Skip passes over any valid JSON value, strictly.
func (d *Decoder) Skip() bool { return d.skip(0) }

// WS passes over white space.
func (d *Decoder) WS() {
	// Most calls are at a token: one comparison decides.
	for d.i < len(d.b) && d.b[d.i] <= ' ' {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// End reports whether only white space is left.
func (d *Decoder) End() bool {
	d.WS()
	return d.i == len(d.b)
}

// Peek returns the next byte after white space, 0 at the end.
func (d *Decoder) Peek() byte {
	d.WS()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// Literal passes over s, after white space, if it comes next.
func (d *Decoder) Literal(s string) bool {
	d.WS()
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// Null passes over null.
func (d *Decoder) Null() bool { return d.Literal("null") }

// Open passes over c, after white space, if it comes next.
func (d *Decoder) Open(c byte) bool {
	if d.Peek() != c {
		return false
	}
	d.i++
	return true
}

// Array reads an array, after white space, into *s (made with room for
// capHint unless *s has room already, whose storage is then reused; empty
// but not nil for [], as encoding/json leaves it), decoding each element
// in place with elem.
func Array[T any](d *Decoder, s *[]T, capHint int, elem func(*T) bool) bool {
	if d.Peek() != '[' {
		return false
	}
	if cap(*s) == 0 {
		*s = make([]T, 0, capHint)
	} else {
		*s = (*s)[:0]
	}
	return d.elements(func() bool {
		var zero T
		*s = append(*s, zero)
		return elem(&(*s)[len(*s)-1])
	})
}

// elements reads an array, after white space, calling elem at each
// element to read it; the first refusal ends the array as a refusal.
func (d *Decoder) elements(elem func() bool) bool {
	if !d.Open('[') {
		return false
	}
	if d.Peek() == ']' {
		d.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch d.Peek() {
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

// Object reads an object, after white space, calling member with each
// key while the decoder is at its value; member reads the value (or
// refuses it), and the first refusal ends the object as a refusal.
func (d *Decoder) Object(member func(key []byte) bool) bool {
	if !d.Open('{') {
		return false
	}
	for first := true; ; first = false {
		key, more, ok := d.nextKey(first)
		if !ok || !more {
			return ok
		}
		if !member(key) {
			return false
		}
	}
}

// ObjectFrom is Object for an object whose opening brace and first
// members were read before, up to pos, right after a member's value: it
// reads the members that follow.
func (d *Decoder) ObjectFrom(pos int, member func(key []byte) bool) bool {
	d.i = pos
	for {
		key, more, ok := d.nextKey(false)
		if !ok || !more {
			return ok
		}
		if !member(key) {
			return false
		}
	}
}

// nextKey reads the next key of an object and its colon (first: right after
// the brace), leaving the decoder at its value; more is false at the
// object's end. Keys with escapes or other than ASCII are refused:
// encoding/json folds case (and some non-ASCII letters) when matching
// field names, which is not worth following here.
func (d *Decoder) nextKey(first bool) (key []byte, more, ok bool) {
	switch c := d.Peek(); {
	case c == '}':
		d.i++
		return nil, false, true
	case !first && c == ',':
		d.i++
	case !first:
		return nil, false, false
	}
	if d.Peek() != '"' {
		return nil, false, false
	}
	d.key = d.i
	d.i++
	start := d.i
	d.i = scan(d.b, d.i, true)
	if d.i == len(d.b) || d.b[d.i] != '"' {
		return nil, false, false
	}
	key = d.b[start:d.i]
	d.i++
	return key, true, d.Open(':')
}

// Int reads an integer of at most 18 digits (no fraction or exponent,
// which encoding/json refuses for an int, and no overflow).
func (d *Decoder) Int() (int, bool) {
	d.WS()
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

// Str reads a string of valid UTF-8 with no escapes but \" \\ \/ \n \t
// \r \b \f.
func (d *Decoder) Str() (string, bool) {
	s, _, ok := d.str(nil)
	return string(s), ok
}

// AppendStr reads a string as Str does, appending its bytes to dst: a
// string read into a buffer the caller keeps costs no allocation.
func (d *Decoder) AppendStr(dst []byte) ([]byte, bool) {
	s, appended, ok := d.str(dst)
	if !ok {
		return dst, false
	}
	if !appended {
		s = append(dst, s...)
	}
	return s, true
}

// str reads a string as Str does. Without escapes its bytes are returned
// as they are in the input; with escapes they are appended to dst, and
// appended is true.
func (d *Decoder) str(dst []byte) (s []byte, appended, ok bool) {
	if d.Peek() != '"' {
		return nil, false, false
	}
	d.key = d.i
	d.i++
	start := d.i
	n := len(dst)
	for d.i = scan(d.b, d.i, false); d.i < len(d.b); d.i = scan(d.b, d.i, false) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s = d.b[start:d.i]
			d.i++
			read := s
			if appended {
				s = append(dst, s...)
				read = s[n:]
			}
			if !utf8.Valid(read) {
				return nil, false, false // encoding/json replaces bad bytes
			}
			return s, appended, true
		case c < 0x20:
			return nil, false, false
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return nil, false, false
			}
			dst = append(dst, d.b[start:d.i]...)
			appended = true
			switch e := d.b[d.i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'n':
				dst = append(dst, '\n')
			case 't':
				dst = append(dst, '\t')
			case 'r':
				dst = append(dst, '\r')
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			default:
				return nil, false, false // \u and anything invalid
			}
			d.i += 2
			start = d.i
		}
	}
	return nil, false, false
}

// maxDepth is the deepest nesting Skip passes over, encoding/json's.
const maxDepth = 10000

func (d *Decoder) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch d.Peek() {
	case '{':
		return d.Object(func([]byte) bool { return d.skip(depth + 1) })
	case '[':
		return d.elements(func() bool { return d.skip(depth + 1) })
	case '"':
		return d.skipString()
	case 't':
		return d.Literal("true")
	case 'f':
		return d.Literal("false")
	case 'n':
		return d.Null()
	}
	return d.Number()
}

// skipString passes over a string: any bytes but control characters,
// valid escapes.
func (d *Decoder) skipString() bool {
	d.i++
	for d.i = scan(d.b, d.i, false); d.i < len(d.b); d.i = scan(d.b, d.i, false) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return true
		case c < 0x20:
			return false
		}
		// A backslash.
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
	}
	return false
}

// scan returns the position of the first byte from i that ends a run of a
// string's plain bytes: a quote, a backslash or a control character, and
// (when key is set) any byte beyond ASCII; len(b) if none. It looks at
// eight bytes at a time: strings are most of what the hot path reads.
func scan(b []byte, i int, key bool) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^(lo*'"'), x^(lo*'\\')
		// Each term flags, exactly for the lowest flagged byte, a byte
		// that is zero (the quote, the backslash) or below 0x20.
		m := ((q - lo) &^ q) | ((bs - lo) &^ bs) | ((x - lo*0x20) &^ x)
		if key {
			m |= x
		}
		if m &= hi; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || key && c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// Number passes over a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *Decoder) Number() bool {
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
