package router

// DefaultRetrievalThreshold is the best knowledge-store match (cosine) at
// which routers take the retrieval path when not configured otherwise.
const DefaultRetrievalThreshold = 0.35

// Renormalize returns cs with weights scaled to sum to 1, as after some
// chosen experts were dropped.
func Renormalize(cs []Choice) []Choice {
	sum := 0.0
	for _, c := range cs {
		sum += c.Weight
	}
	out := make([]Choice, len(cs))
	for i, c := range cs {
		out[i] = Choice{Name: c.Name, Weight: c.Weight / sum}
	}
	return out
}
