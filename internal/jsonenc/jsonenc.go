// Package jsonenc appends JSON values byte for byte as encoding/json's
// Marshal writes them, without reflection: for the few shapes the hot
// path renders on every request.
package jsonenc

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// String appends s as a JSON string the way json.Marshal does: HTML
// characters, U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func String(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = safeRun(s, i); i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters and <, >, &
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// safeRun returns the position of the first byte from i that is not a
// safe ASCII byte, len(s) if none. It looks at eight bytes at a time:
// most of what is encoded needs no escape.
func safeRun(s string, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// Each term flags, exactly for the lowest flagged byte, one kind
		// of byte that is not safe: beyond ASCII, a control character,
		// or one of the five escaped.
		m := x | (x-lo*0x20)&^x | zeroByte(x^(lo*'"')) | zeroByte(x^(lo*'\\')) |
			zeroByte(x^(lo*'<')) | zeroByte(x^(lo*'>')) | zeroByte(x^(lo*'&'))
		if m &= hi; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(s) && s[i] < utf8.RuneSelf && safe[s[i]]; i++ {
	}
	return i
}

// zeroByte has the high bit set of y's lowest zero byte (and maybe of
// bytes above it), none if no byte is zero.
func zeroByte(y uint64) uint64 { return (y - 0x0101010101010101) &^ y }

// safe are the ASCII bytes json.Marshal writes as they are.
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// Rounded appends f rounded to six decimal places (half away from zero)
// as Float appends the rounded value, a zero of either sign as 0. It is
// for probabilities and gate weights: their shortest forms ran to 17
// digits and were most of the cost of a routed answer's route object.
// Numbers in [0, 1], all a router writes, take a path without strconv.
func Rounded(b []byte, f float64) ([]byte, error) {
	r := math.Round(f * 1e6)
	if !(r >= 0 && r <= 1e6) { // NaN too
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return Float(b, f)
		}
		return Float(b, r/1e6)
	}
	n := int32(r)
	switch n {
	case 0:
		return append(b, '0'), nil
	case 1e6:
		return append(b, '1'), nil
	}
	d := [8]byte{'0', '.'}
	end := 0
	for i := 7; i >= 2; i-- {
		d[i] = byte('0' + n%10)
		if end == 0 && d[i] != '0' {
			end = i + 1
		}
		n /= 10
	}
	return append(b, d[:end]...), nil
}

// Float appends f as json.Marshal writes a float64; NaN and infinities,
// which JSON cannot hold, are an error as they are for json.Marshal.
func Float(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("jsonenc: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 is written e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}
