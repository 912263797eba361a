package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/internal/readall"
)

// overloadRetry is the Retry-After of a request refused for load.
const overloadRetry = time.Second

// errOverloaded is the answer to a request or connection over the caps.
var errOverloaded = &errs.Error{Kind: errs.Unavailable, Code: "server_overloaded", RetryAfter: overloadRetry,
	Err: fmt.Errorf("The gateway is serving as many requests as it allows; retry shortly.")}

// HTTPServer returns an http.Server for the API with the configured
// timeouts. There is no write timeout: a streamed answer may run as long as
// the request's own deadline allows.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// Listener caps ln at MaxConnections open connections: a connection beyond
// the cap is answered 503 with Retry-After and closed at once, rather than
// queued (a queue would hold its memory and hide the overload).
func (s *Server) Listener(ln net.Listener) net.Listener {
	_, body, _ := describe(errOverloaded, "")
	b, _ := json.Marshal(body)
	resp := fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		int(overloadRetry.Seconds()), len(b), b)
	return &limitListener{Listener: ln, sem: make(chan struct{}, s.opts.MaxConnections), reject: resp, refused: s.metrics.refused.WithLabelValues("connections")}
}

type limitListener struct {
	net.Listener
	sem     chan struct{}
	reject  []byte
	refused interface{ Inc() }
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitedConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
		default:
			l.refused.Inc()
			go refuse(c, l.reject)
		}
	}
}

// refuse answers a connection over the cap and closes it, reading what the
// client sent first so that closing does not reset the connection before
// it has read the answer.
func refuse(c net.Conn, resp []byte) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4<<10)
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Read(buf)
	_, _ = c.Write(resp)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// limitInFlight refuses API requests beyond MaxInFlight with 503 and
// Retry-After; probes and metrics always pass, so an overloaded gateway
// still says so.
func (s *Server) limitInFlight() gin.HandlerFunc {
	sem := make(chan struct{}, s.opts.MaxInFlight)
	return func(c *gin.Context) {
		switch c.Request.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			c.Next()
			return
		}
		// The body is read before a slot is taken, so clients that trickle
		// their bodies (bounded by the read timeout and the body cap) do
		// not hold the slots of requests ready to be served.
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			buf, err := readall.ReadAll(c.Request.Body, c.Request.ContentLength, -1)
			c.Request.Body = &readAhead{b: buf, err: err}
		}
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			c.Next()
		default:
			s.metrics.refused.WithLabelValues("in_flight").Inc()
			writeError(c, errOverloaded)
		}
	}
}

// readAhead is a body limitInFlight read: its bytes, then the error that
// ended the reading (replayed, so the handler reports it as it would
// have). readBody takes the bytes without copying them.
type readAhead struct {
	b   []byte
	err error
}

func (r *readAhead) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, cmp.Or(r.err, io.EOF)
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (r *readAhead) Close() error { return nil }

// take returns what is left to read, as io.ReadAll would, and leaves
// nothing to read.
func (r *readAhead) take() ([]byte, error) {
	b := r.b
	r.b = r.b[len(r.b):]
	return b, r.err
}
