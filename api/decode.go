package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads the body into v, mapping every failure to the right
// OpenAI error: 413 past the body limit, 400 for malformed JSON or a field
// of the wrong type (named in param).
func (s *Server) decodeJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge(s.opts.MaxBodyBytes)
		}
		return invalid("", "Could not read the request body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return invalid("", "The request body is empty; expected a JSON object.")
	}
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
