package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// Error is an error in OpenAI's shape with its HTTP status. Handlers return
// it; one place (writeError) turns it into a response.
type Error struct {
	Status     int
	Type       string // invalid_request_error, authentication_error, rate_limit_exceeded, ...
	Code       string
	Param      string
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func invalid(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...)}
}

func notFound(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: code, Message: fmt.Sprintf(format, args...)}
}

func unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Type: "authentication_error", Code: "invalid_api_key", Message: msg}
}

func internal(msg string) *Error {
	return &Error{Status: http.StatusInternalServerError, Type: "server_error", Code: "internal_error", Message: msg}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeError sends err in OpenAI's error shape. Errors that are not *Error
// are internal: their text is logged by the caller, never sent.
func writeError(c *gin.Context, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = internal("internal error; see the gateway log for request " + requestID(c))
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	c.AbortWithStatusJSON(e.Status, errorBody{Error: errorDetail{
		Message: e.Message, Type: e.Type, Param: nullable(e.Param), Code: nullable(e.Code),
	}})
}
