package openai

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// sseReader returns each event's data, one-line events (returned from the
// buffer) and multi-line ones (joined) alike, whatever the line ends and
// however the body arrives.
func TestSSEReaderEvents(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"data: a\n\ndata: b\n\n", []string{"a", "b"}},
		{"data: a\r\n\r\ndata:b\r\n\r\n", []string{"a", "b"}},
		{"data: a\ndata: b\n\ndata: c\n\n", []string{"a\nb", "c"}},
		{": comment\nevent: x\ndata: a\nid: 1\n\n\n\ndata: b\n\n", []string{"a", "b"}},
		{"data: a\r\r\n\r\r\ndata: b", []string{"a", "b"}},
		{"data: a\n\ndata: [DONE]\n\n", []string{"a", "[DONE]"}},
		{"data:\n\ndata: x\n", []string{"", "x"}},
		{"retry: 5\n\n", nil},
	} {
		for name, r := range map[string]func(string) io.Reader{
			"whole":       func(s string) io.Reader { return strings.NewReader(s) },
			"byte a read": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		} {
			sse := newSSEReader(r(tc.in), 1<<20)
			var got []string
			for {
				data, err := sse.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%q (%s): %v", tc.in, name, err)
				}
				got = append(got, string(data))
			}
			sse.release()
			if !slices.Equal(got, tc.want) {
				t.Errorf("%q (%s): %q, want %q", tc.in, name, got, tc.want)
			}
		}
	}
}

// The limit counts every byte, blank lines read past included.
func TestSSEReaderLimit(t *testing.T) {
	in := "data: 12345\n\n"
	for limit, ok := range map[int64]bool{int64(len(in)): true, int64(len(in) - 1): false} {
		sse := newSSEReader(strings.NewReader(in), limit)
		_, err := sse.next()
		sse.release()
		if (err == nil) != ok || !ok && !errors.Is(err, errTooLarge) {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
}
