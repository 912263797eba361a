package router

import (
	"context"
	"slices"
)

// Static sends every query to one expert, or to the default expert when
// Expert is empty or not a candidate. It is a permanent option for operators
// who route by model name only.
type Static struct {
	Expert string
}

// Route implements Router.
func (s Static) Route(_ context.Context, q Query) (Decision, error) {
	if s.Expert != "" && slices.Contains(q.Candidates, s.Expert) {
		return Decision{Router: "static", Experts: []Choice{{Name: s.Expert, Weight: 1}}}, nil
	}
	return Decision{Router: "static", Default: true, DefaultReason: "static router"}, nil
}
