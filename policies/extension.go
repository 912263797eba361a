package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/moegate/moegate/aggregate"
)

// Retrieval modes a request may ask for.
const (
	RetrievalAuto   = "auto"
	RetrievalAlways = "always"
	RetrievalNever  = "never"
)

// MaxTopK bounds the top_k a request may ask for.
const MaxTopK = 64

// Extension is the `moegate` object a caller may add to a chat request.
// Zero values mean "gateway default".
type Extension struct {
	OptOut
	TopK      int     `json:"top_k,omitempty"`
	TopP      float64 `json:"top_p,omitempty"`
	Aggregate string  `json:"aggregate,omitempty"`
	Retrieval string  `json:"retrieval,omitempty"` // auto, always or never
	// Cache is on, off or refresh (look nothing up, store the new answer);
	// "" lets the gateway decide (sampled requests skip the cache).
	Cache string `json:"cache,omitempty"`
}

// Cache modes a request may ask for.
const (
	CacheOn      = "on"
	CacheOff     = "off"
	CacheRefresh = "refresh"
)

// ParseRequestExtension decodes and validates the `moegate` object of a
// request body. Empty or null input gives the zero Extension. Unknown fields
// are rejected so a misspelt opt-out never silently does nothing. Errors
// wrap ErrInvalid and name the offending field. Name lists come back
// sorted and de-duplicated; an empty only_experts means "no restriction".
func ParseRequestExtension(raw json.RawMessage) (Extension, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return Extension{}, nil
	}
	var e Extension
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Extension{}, fmt.Errorf("%w: moegate.%s: want %s", ErrInvalid, te.Field, te.Type)
		}
		return Extension{}, fmt.Errorf("%w: moegate: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Extension{}, fmt.Errorf("%w: moegate: trailing data after the object", ErrInvalid)
	}
	if err := e.Validate(); err != nil {
		return Extension{}, err
	}
	e.ExcludeExperts = sortedSet(e.ExcludeExperts)
	e.ExcludeData = sortedSet(e.ExcludeData)
	if len(e.OnlyExperts) == 0 {
		e.OnlyExperts = nil
	} else {
		e.OnlyExperts = sortedSet(e.OnlyExperts)
	}
	return e, nil
}

// Validate reports the first problem with e, wrapping ErrInvalid.
func (e Extension) Validate() error {
	for _, l := range []struct {
		field string
		list  []string
	}{
		{"moegate.exclude_experts", e.ExcludeExperts},
		{"moegate.exclude_data", e.ExcludeData},
		{"moegate.only_experts", e.OnlyExperts},
	} {
		if err := validateNames(l.field, l.list); err != nil {
			return err
		}
	}
	if e.TopK < 0 || e.TopK > MaxTopK {
		return fmt.Errorf("%w: moegate.top_k %d: want 0 (default) to %d", ErrInvalid, e.TopK, MaxTopK)
	}
	if math.IsNaN(e.TopP) || e.TopP < 0 || e.TopP > 1 {
		return fmt.Errorf("%w: moegate.top_p %v: want 0 (default) to 1", ErrInvalid, e.TopP)
	}
	if !validAggregate(e.Aggregate) {
		return fmt.Errorf("%w: moegate.aggregate %q: want one of %s", ErrInvalid, e.Aggregate, strings.Join(aggregate.Strategies(), ", "))
	}
	switch e.Retrieval {
	case "", RetrievalAuto, RetrievalAlways, RetrievalNever:
	default:
		return fmt.Errorf("%w: moegate.retrieval %q: want auto, always or never", ErrInvalid, e.Retrieval)
	}
	switch e.Cache {
	case "", CacheOn, CacheOff, CacheRefresh:
	default:
		return fmt.Errorf("%w: moegate.cache %q: want on, off or refresh", ErrInvalid, e.Cache)
	}
	return nil
}
