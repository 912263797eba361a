package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/internal/readall"
)

// serve runs env's API on a real listener with the server's own bounds.
func serve(t *testing.T, env *testEnv) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := env.srv.HTTPServer()
	go hs.Serve(env.srv.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

func TestInFlightCap(t *testing.T) {
	blk := &blockingExpert{started: make(chan struct{}), cancelled: make(chan struct{})}
	env := newTestEnv(t, Options{MaxInFlight: 1}, gateway.Options{}, nil)
	env.experts["slow"] = blk
	if _, err := env.reg.Add(context.Background(), experts.Spec{Name: "slow", Kind: experts.KindLocal}); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(`{"model":"slow","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-blk.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the first request never reached the expert")
	}
	resp, err := http.Get("http://" + addr + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), `"code":"server_overloaded"`) {
		t.Fatalf("over the cap: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz under load: %v %v", resp, err)
	}
	cancel()
	<-blk.cancelled
	// A client trickling its body does not hold the slot.
	slowc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowc.Close()
	io.WriteString(slowc, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	time.Sleep(100 * time.Millisecond)
	// Freed: served again.
	deadline := time.Now().Add(2 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v1/models")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not released: %v %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectionCap(t *testing.T) {
	env := newTestEnv(t, Options{MaxConnections: 2}, gateway.Options{}, nil)
	addr := serve(t, env)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(50 * time.Millisecond) // let the server accept them
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "server_overloaded") {
		t.Fatalf("third connection: %d %s", resp.StatusCode, body)
	}
	// A held connection closing frees its place.
	held[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("place not freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A client trickling its body is cut off at the read timeout, and one that
// never finishes its headers at the header timeout.
func TestSlowClientsAreCutOff(t *testing.T) {
	env := newTestEnv(t, Options{ReadTimeout: 300 * time.Millisecond, ReadHeaderTimeout: 200 * time.Millisecond}, gateway.Options{}, nil)
	addr := serve(t, env)
	for _, tc := range []struct{ name, start string }{
		{"body", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"},
		{"headers", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tc.start)
			start := time.Now()
			// Trickle a byte every 50ms; the server must close the connection.
			closed := make(chan struct{})
			go func() {
				io.Copy(io.Discard, c)
				close(closed)
			}()
			for {
				select {
				case <-closed:
					if d := time.Since(start); d > 3*time.Second {
						t.Fatalf("closed after %v", d)
					}
					return
				case <-time.After(50 * time.Millisecond):
					c.Write([]byte(" "))
				}
				if time.Since(start) > 5*time.Second {
					t.Fatal("a trickling client is still connected after 5s")
				}
			}
		})
	}
}

// A body limitInFlight read ahead gives readBody what reading the body
// itself gives: the same bytes and the same error, whatever its announced
// length says and however its reading ended.
func TestReadBodyAfterReadAhead(t *testing.T) {
	const limit = 16
	boom := errors.New("connection reset")
	for _, tt := range []struct {
		name          string
		content       string
		failure       error // after content
		contentLength int64
	}{
		{"announced", `{"a":1}`, nil, 7},
		{"not announced", `{"a":1}`, nil, -1},
		{"shorter than announced", `{"a":1}`, nil, 9},
		{"longer than announced", `{"a":1}`, nil, 3},
		{"past the limit", strings.Repeat("x", 40), nil, -1},
		{"past the limit, announced", strings.Repeat("x", 40), nil, 40},
		{"read error", `{"a"`, boom, -1},
		{"read error, announced", `{"a"`, boom, 7},
		{"empty", "", nil, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			newRequest := func() *http.Request {
				r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
				var body io.Reader = strings.NewReader(tt.content)
				if tt.failure != nil {
					body = io.MultiReader(body, iotest.ErrReader(tt.failure))
				}
				r.Body, r.ContentLength = http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(body), limit), tt.contentLength
				return r
			}
			want, wantErr := readBody(newRequest(), limit)

			ahead := newRequest()
			b, err := readall.ReadAll(ahead.Body, ahead.ContentLength, -1)
			ahead.Body = &readAhead{b: b, err: err}
			got, gotErr := readBody(ahead, limit)
			if !bytes.Equal(got, want) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("after reading ahead: %q, %v; reading the body: %q, %v", got, gotErr, want, wantErr)
			}
		})
	}
}
