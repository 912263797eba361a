// Package jsonobj walks the members of a JSON object without decoding it,
// so that a body can be edited or keyed while every other byte is kept.
package jsonobj

import (
	"bytes"
	"errors"
	"strings"
)

// Members calls fn with each top-level member of the JSON object src: its
// key as written between the quotes, its value's bytes, and the member's bytes from the key's
// opening quote to the end of its value. src must be valid JSON (the API
// layer has decoded it); anything else is an error, never a panic.
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
		end, err := skipString(src, i)
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

// skipString returns the index after the string starting at b[i] == '"'.
// It looks for the closing quote with IndexByte (vectorised), stepping
// over a backslash and the byte it escapes when one comes first.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			break
		}
		if e := bytes.IndexByte(b[j:j+q], '\\'); e >= 0 {
			j += e + 2
			continue
		}
		return j + q + 1, nil
	}
	return 0, errNotObject
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errNotObject
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errNotObject
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
		j++
	}
	if j == i {
		return 0, errNotObject
	}
	return j, nil
}
