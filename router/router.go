// Package router decides which experts answer a query: the Router interface,
// a static router, and the learned router.
package router

import (
	"context"

	"github.com/moegate/moegate/internal/jsonenc"
)

// Query is what a router sees of one request.
type Query struct {
	Text string
	// History holds the earlier user turns of the conversation, oldest
	// first, without Text; System is the system prompt (may be empty).
	// Both inform the route when Text alone is short or ambiguous.
	History []string
	System  string
	Vector  []float32 // embedding of Text, from the gateway's embedder
	// Features, when not empty, are Text's n-grams under the router's
	// own n-gram features (Learned.NGrams), computed by the caller along
	// with Vector so the query is hashed once; the router adds the rest
	// of its features (spelling, stems, concepts).
	Features Features
	// Candidates are the experts the request may use after policies; a
	// router never picks anything else. Empty means none is allowed.
	Candidates []string
	TopK       int     // 0: router default
	TopP       float64 // 0: use TopK; otherwise dynamic k by gate mass
	// RetrievalScore is the best cosine similarity of the query to the
	// retrieval store (0 when the store is empty or not consulted); the
	// retrieval gate may use it.
	RetrievalScore float64
}

// Features are a text's non-zero coordinates, in increasing index order.
type Features struct {
	Idx []int32
	Val []float32
}

// Choice is one chosen expert and its gate weight; the weights of a
// Decision sum to 1.
type Choice struct {
	Name   string  `json:"name"`
	Weight float64 `json:"weight"`
}

// AppendJSON appends c as a JSON object, its weight rounded to six
// decimals as probabilities are (jsonenc.Rounded).
func (c Choice) AppendJSON(b []byte) ([]byte, error) {
	b = jsonenc.String(append(b, `{"name":`...), c.Name)
	b, err := jsonenc.Rounded(append(b, `,"weight":`...), c.Weight)
	return append(b, '}'), err
}

// MarshalJSON writes c as AppendJSON does.
func (c Choice) MarshalJSON() ([]byte, error) { return c.AppendJSON(nil) }

// Decision is a router's answer.
type Decision struct {
	Router        string        `json:"router"`
	Version       int64         `json:"version"`
	Experts       []Choice      `json:"experts"`
	Probabilities Probabilities `json:"probabilities,omitempty"`
	// Default is true when no expert fits and the default expert answers.
	Default       bool    `json:"default"`
	DefaultReason string  `json:"default_reason,omitempty"`
	Retrieve      bool    `json:"retrieve"`
	RetrieveScore float64 `json:"retrieve_score,omitempty"`
}

// Router picks experts for a query.
type Router interface {
	Route(ctx context.Context, q Query) (Decision, error)
}
