package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads the body into v, mapping every failure to the right
// OpenAI error: 413 past the body limit, 400 for malformed JSON or a field
// of the wrong type (named in param).
func (s *Server) decodeJSON(c *gin.Context, v any) error {
	_, err := s.readJSON(c, v)
	return err
}

// readJSON is decodeJSON that also returns the body read.
func (s *Server) readJSON(c *gin.Context, v any) ([]byte, error) {
	body, err := s.readRaw(c)
	if err != nil {
		return nil, err
	}
	return body, s.unmarshal(body, v)
}

// readChat is readJSON for a chat request, decoded by hand in its common
// shapes; bare is decodeChatRequest's (false when encoding/json decoded
// it).
func (s *Server) readChat(c *gin.Context, r *chatRequest) (body []byte, bare bool, err error) {
	body, err = s.readRaw(c)
	if err != nil {
		return body, false, err
	}
	ok, bare := decodeChatRequest(body, r)
	if ok {
		return body, bare, nil
	}
	// Into a request of its own (nothing of the partial decode), so that
	// r, which encoding/json would make escape, can live on the caller's
	// stack.
	full := new(chatRequest)
	err = s.unmarshal(body, full)
	*r = *full
	return body, false, err
}

// readRaw reads a request body that should hold a JSON value.
func (s *Server) readRaw(c *gin.Context) ([]byte, error) {
	body, err := readBody(c.Request, s.opts.MaxBodyBytes)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge(s.opts.MaxBodyBytes)
		}
		return nil, invalid("", "Could not read the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("", "The request body is empty; expected a JSON object.")
	}
	return body, nil
}

// readBody reads the whole body, in one allocation when its length is
// announced; a body limitInFlight read already is taken as it is.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if ra, ok := r.Body.(*readAhead); ok {
		switch n := r.ContentLength; {
		case n <= 0 || n > limit:
			return ra.take() // as io.ReadAll below
		case int64(len(ra.b)) == n:
			b, _ := ra.take() // as io.ReadFull below: the bytes announced, whatever came after
			return b, nil
		}
	}
	if n := r.ContentLength; n > 0 && n <= limit {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		// A body longer than announced is the server's to reject; a
		// MaxBytesReader still reports the limit.
		return b, nil
	}
	return io.ReadAll(r.Body)
}

func (s *Server) unmarshal(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return invalid(te.Field, "Invalid type for '%s': expected %s, got JSON %s.", te.Field, te.Type, te.Value)
		}
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return invalid("", "We could not parse the JSON body of your request: %v (at byte %d).", se, se.Offset)
		}
		return invalid("", "We could not parse the JSON body of your request: %v.", err)
	}
	return nil
}
