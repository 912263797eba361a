package api

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// requestHeader reads what Header.Get reads for the canonical keys the
// handlers ask for, from a request as the server parses it: keys sent in
// any case, repeated, empty or absent.
func TestRequestHeaderMatchesGet(t *testing.T) {
	for _, tt := range []struct{ name, raw string }{
		{"lower case", "x-request-id: abc\r\ncache-control: no-store\r\nauthorization: Bearer k\r\nx-moegate-exclude-data: a,b\r\n"},
		{"mixed case", "X-REQUEST-ID: abc\r\nCache-control: no-cache\r\nAUTHORIZATION: Bearer k\r\n"},
		{"repeated", "Cache-Control: no-store\r\ncache-control: no-cache\r\n"},
		{"empty value", "X-Request-Id: \r\n"},
		{"absent", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + tt.raw + "\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"X-Request-Id", "Cache-Control", "Authorization", "X-Moegate-Exclude-Data"} {
				if got, want := requestHeader(r, key), r.Header.Get(key); got != want {
					t.Errorf("requestHeader(%s) = %q, want %q", key, got, want)
				}
			}
		})
	}
}
