// Package jsonobj walks the members of a JSON object without decoding it,
// so that a body can be edited or keyed while every other byte is kept.
package jsonobj

import (
	"errors"

	"github.com/moegate/moegate/internal/jsontok"
)

// Members calls fn with each top-level member of the JSON object src: its
// key as written between the quotes, its value's bytes, and the member's bytes from the key's
// opening quote to the end of its value. Each key and value is checked
// as strictly as encoding/json checks it: src that is not valid JSON is
// an error, never a panic, and never passed on in pieces.
func Members(src []byte, fn func(key, value, member []byte)) error {
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '{' {
		return errNotObject
	}
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == '}' {
		return nil
	}
	for i < len(src) {
		if src[i] != '"' {
			return errNotObject
		}
		start := i
		end, err := skipValue(src, i) // the key, a string
		if err != nil {
			return err
		}
		key := src[start+1 : end-1]
		i = skipSpace(src, end)
		if i >= len(src) || src[i] != ':' {
			return errNotObject
		}
		i = skipSpace(src, i+1)
		vstart := i
		if i, err = skipValue(src, i); err != nil {
			return err
		}
		fn(key, src[vstart:i], src[start:i])
		i = skipSpace(src, i)
		if i >= len(src) {
			return errNotObject
		}
		switch src[i] {
		case ',':
			i = skipSpace(src, i+1)
		case '}':
			return nil
		default:
			return errNotObject
		}
	}
	return errNotObject
}

var errNotObject = errors.New("not a JSON object")

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index after the value starting at b[i], which
// must be valid JSON: a body that is not must not be forwarded as if it
// were.
func skipValue(b []byte, i int) (int, error) {
	d := jsontok.New(b[i:])
	if !d.Skip() {
		return 0, errNotObject
	}
	return i + d.Pos(), nil
}
