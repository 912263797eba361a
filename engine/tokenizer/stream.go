package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// StreamDecoder decodes tokens one at a time. A character split over
// several tokens (byte-level BPE, byte fallback) is held back until it is
// complete, so every piece returned is valid UTF-8.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
}

// NewStreamDecoder starts decoding a fresh stream of tokens.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder { return &StreamDecoder{t: t} }

// Add decodes one more token and returns the text that is now complete,
// possibly "".
func (d *StreamDecoder) Add(id int32) string {
	d.pending = d.t.appendPiece(d.pending, id)
	n := completePrefix(d.pending)
	if n == 0 {
		return ""
	}
	out := strings.ToValidUTF8(string(d.pending[:n]), "\uFFFD")
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return out
}

// Flush returns what is held back, with incomplete characters replaced by
// U+FFFD, and resets the decoder.
func (d *StreamDecoder) Flush() string {
	out := strings.ToValidUTF8(string(d.pending), "\uFFFD")
	d.pending = d.pending[:0]
	return out
}

// completePrefix is the length of b without a trailing incomplete (but so
// far valid) UTF-8 sequence.
func completePrefix(b []byte) int {
	// A multi-byte sequence is at most 4 bytes; look for its start among
	// the last 3 bytes.
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		if c < utf8.RuneSelf {
			return len(b)
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			return len(b)
		}
	}
	return len(b)
}
