// Package errs is moegate's one error model: every package's errors carry a
// Kind, and the HTTP layer maps Kinds to statuses and OpenAI error types in
// one place. Packages keep their own sentinel values (experts.ErrNotFound)
// for errors.Is, but build them here so that their Kind travels with every
// error that wraps them.
package errs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller can do about it.
type Kind uint8

// Kinds, from the caller's point of view.
const (
	Internal         Kind = iota // a bug or an unexpected failure: not the caller's fault
	Invalid                      // the request is malformed or a value is out of range
	NotFound                     // the thing named does not exist (or is not visible)
	Exists                       // the thing to create already exists
	Conflict                     // the current state does not allow the action
	Unauthenticated              // no or bad credentials
	PermissionDenied             // credentials are fine, the action is not allowed
	RateLimited                  // a limit or budget refuses the request for now
	TooLarge                     // a body or answer exceeds a size limit
	Unavailable                  // nothing can serve the request right now
	Timeout                      // the deadline passed
	UpstreamFailed               // an expert or other upstream answered badly
	Canceled                     // the client went away
)

var kindNames = [...]string{
	Internal: "internal", Invalid: "invalid", NotFound: "not found", Exists: "exists", Conflict: "conflict",
	Unauthenticated: "unauthenticated", PermissionDenied: "permission denied", RateLimited: "rate limited",
	TooLarge: "too large", Unavailable: "unavailable", Timeout: "timeout", UpstreamFailed: "upstream failed",
	Canceled: "canceled",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is an error with a Kind and, optionally, what the HTTP layer needs
// to report it precisely.
type Error struct {
	Kind Kind
	// Code is a machine-readable code such as "model_not_found"; empty
	// lets the HTTP layer derive one from Kind.
	Code string
	// Param names the request field at fault, if any.
	Param string
	// RetryAfter tells the caller when to try again (RateLimited,
	// Unavailable).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k whose message is text; use it for sentinels.
func New(k Kind, text string) *Error { return &Error{Kind: k, Err: errors.New(text)} }

// E formats an error of kind k; %w in format wraps as fmt.Errorf does.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}

// Param returns an Invalid error about the request field param.
func Param(param, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Param: param, Err: fmt.Errorf(format, args...)}
}

// WithCode returns e with its Code set.
func (e *Error) WithCode(code string) *Error { e.Code = code; return e }

// KindOf returns the Kind of the outermost *Error in err's chain. Context
// errors that no package classified are Timeout and Canceled; anything
// else is Internal.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return Internal
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.Is(err, context.Canceled):
		return Canceled
	}
	return Internal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }
