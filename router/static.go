package router

import (
	"context"
	"slices"
)

// Static sends every query to one expert, or to the default expert when
// Expert is empty or not a candidate. It is a permanent option for operators
// who route by model name only. It takes the retrieval path when the
// retrieval store matches the query at least RetrievalThreshold (0: never).
type Static struct {
	Expert             string
	RetrievalThreshold float64
}

// Route implements Router.
func (s Static) Route(_ context.Context, q Query) (Decision, error) {
	d := Decision{Router: "static", RetrieveScore: q.RetrievalScore,
		Retrieve: s.RetrievalThreshold > 0 && q.RetrievalScore >= s.RetrievalThreshold}
	if s.Expert != "" && slices.Contains(q.Candidates, s.Expert) {
		d.Experts = []Choice{{Name: s.Expert, Weight: 1}}
		return d, nil
	}
	d.Default, d.DefaultReason = true, "static router"
	return d, nil
}
