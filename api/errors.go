package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/internal/errs"
)

// StatusClientClosedRequest is nginx's status for a client that went away
// before the answer: it is logged and counted, never seen by the client.
const StatusClientClosedRequest = 499

// httpError is how one error Kind is reported: the HTTP status, OpenAI's
// error type and the code used when the error names none.
type httpError struct {
	status int
	typ    string
	code   string
}

// kinds is the one mapping of error Kinds to HTTP.
var kinds = map[errs.Kind]httpError{
	errs.Invalid:          {http.StatusBadRequest, "invalid_request_error", ""},
	errs.NotFound:         {http.StatusNotFound, "invalid_request_error", "not_found"},
	errs.Exists:           {http.StatusConflict, "invalid_request_error", "already_exists"},
	errs.Conflict:         {http.StatusConflict, "invalid_request_error", "conflict"},
	errs.Unauthenticated:  {http.StatusUnauthorized, "authentication_error", "invalid_api_key"},
	errs.PermissionDenied: {http.StatusForbidden, "permission_error", "permission_denied"},
	errs.RateLimited:      {http.StatusTooManyRequests, "requests", "rate_limit_exceeded"},
	errs.TooLarge:         {http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large"},
	errs.Unavailable:      {http.StatusServiceUnavailable, "server_error", "unavailable"},
	errs.Timeout:          {http.StatusGatewayTimeout, "upstream_error", "timeout"},
	errs.UpstreamFailed:   {http.StatusBadGateway, "upstream_error", "upstream_failed"},
	errs.Canceled:         {StatusClientClosedRequest, "invalid_request_error", "client_closed_request"},
	errs.Internal:         {http.StatusInternalServerError, "server_error", "internal_error"},
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// describe turns err into its status and OpenAI error body. Internal
// errors never show their text: it may hold addresses or stack details;
// the caller logs it.
func describe(err error, requestID string) (int, errorBody, *errs.Error) {
	kind := errs.KindOf(err)
	h, ok := kinds[kind]
	if !ok {
		h = kinds[errs.Internal]
	}
	d := errorDetail{Message: err.Error(), Type: h.typ}
	code, param := h.code, ""
	e, _ := errors.AsType[*errs.Error](err)
	if e != nil {
		code, param = cmpOr(e.Code, code), e.Param
	}
	if p, ok := errors.AsType[interface {
		error
		Param() string
	}](err); ok && param == "" {
		param = p.Param()
	}
	if kind == errs.RateLimited && code == "insufficient_quota" {
		d.Type = code
	}
	if kind == errs.Internal {
		d.Message = "internal error; see the gateway log for request " + requestID
		code, param = h.code, ""
	}
	d.Code, d.Param = nullable(code), nullable(param)
	return h.status, errorBody{Error: d}, e
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// writeError sends err in OpenAI's error shape.
func writeError(c *gin.Context, err error) {
	status, body, e := describe(err, requestID(c))
	if e != nil && e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	c.AbortWithStatusJSON(status, body)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// invalid is a 400 about the request field param ("" for the whole body).
func invalid(param, format string, args ...any) error {
	return errs.Param(param, format, args...)
}

func fieldErr(param string, err error) error {
	return errs.Param(param, "Invalid '%s': %v", param, err)
}

func notFound(code, format string, args ...any) error {
	return errs.E(errs.NotFound, format, args...).WithCode(code)
}

func unauthorized(msg string) error {
	return errs.E(errs.Unauthenticated, "%s", msg)
}

func tooLarge(limit int64) error {
	return errs.E(errs.TooLarge, "Request body is larger than the limit of %d bytes.", limit)
}
