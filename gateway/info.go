package gateway

import (
	"strconv"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/router"
)

// Info is the `moegate` object of every answer: how the request was
// routed, what was excluded and why, and what each expert did.
type Info struct {
	RequestID string     `json:"request_id"`
	Tenant    string     `json:"tenant,omitempty"`
	Route     RouteInfo  `json:"route"`
	Excluded  []Excluded `json:"excluded"`
	// ExcludedData are the data owners whose experts and passages this
	// request could not touch.
	ExcludedData []string      `json:"excluded_data,omitempty"`
	Retrieval    RetrievalInfo `json:"retrieval"`
	Aggregate    string        `json:"aggregate"`
	Experts      []ExpertCall  `json:"experts"`
	// AnsweredBy names the expert whose answer this is; FallbackReason
	// says why it is not the top expert the router chose.
	AnsweredBy     string    `json:"answered_by,omitempty"`
	FallbackReason string    `json:"fallback_reason,omitempty"`
	Cache          CacheInfo `json:"cache"`
	Notes          []string  `json:"notes,omitempty"`
}

// RouteInfo is the routing decision.
type RouteInfo struct {
	Router        string               `json:"router"`
	Version       int64                `json:"version"`
	Model         string               `json:"model"` // what the caller asked for: "auto" or an expert
	Experts       []router.Choice      `json:"experts"`
	Probabilities router.Probabilities `json:"probabilities,omitempty"`
	Default       bool                 `json:"default"`
	DefaultReason string               `json:"default_reason,omitempty"`
	// Override says why the router's choice was replaced, e.g. by the
	// tenant's own feedback on a similar query.
	Override string `json:"override,omitempty"`
}

// Excluded is an expert the request could not use, and why.
type Excluded struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// RetrievalInfo says whether passages grounded the answer.
type RetrievalInfo struct {
	Used     bool      `json:"used"`
	Mode     string    `json:"mode"`
	Reason   string    `json:"reason,omitempty"`
	Passages []Passage `json:"passages,omitempty"`
}

// Passage is one retrieved passage shown to the experts.
type Passage struct {
	N     int     `json:"n"` // the citation number in the prompt: [n]
	Doc   string  `json:"doc"`
	Chunk string  `json:"chunk"`
	Seq   int     `json:"seq"`
	Score float64 `json:"score"`
	Owner string  `json:"data_owner,omitempty"`
	Text  string  `json:"-"`
}

// ExpertCall is what one expert did for the request, as aggregate
// reports it.
type ExpertCall = aggregate.Call

// CacheInfo says whether the answer came from the response cache.
type CacheInfo struct {
	Hit        bool    `json:"hit"`
	Kind       string  `json:"kind,omitempty"` // exact | semantic
	Similarity float64 `json:"similarity,omitempty"`
	// Mode is on, off or refresh as applied to this request; Reason says
	// why the cache was skipped or refreshed.
	Mode   string `json:"mode,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Header renders the compact X-Moegate-Route form, e.g.
// "experts=banking:0.81,travel:0.19; default=false; retrieval=false; aggregate=top1; router=learned/v3; cache=miss".
func (m *Info) Header() string {
	b := make([]byte, 0, 160)
	b = append(b, "experts="...)
	for i, c := range m.Route.Experts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.Name...)
		b = append(b, ':')
		b = strconv.AppendFloat(b, c.Weight, 'g', 3, 64) // fmt's %.3g
	}
	b = append(b, "; default="...)
	b = strconv.AppendBool(b, m.Route.Default)
	b = append(b, "; retrieval="...)
	b = strconv.AppendBool(b, m.Retrieval.Used)
	b = append(b, "; aggregate="...)
	b = append(b, m.Aggregate...)
	b = append(b, "; router="...)
	b = append(b, m.Route.Router...)
	b = append(b, "/v"...)
	b = strconv.AppendInt(b, m.Route.Version, 10)
	if len(m.Excluded) > 0 {
		b = append(b, "; excluded="...)
		for i, e := range m.Excluded {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, e.Name...)
		}
	}
	b = append(b, "; cache="...)
	if m.Cache.Hit {
		b = append(b, m.Cache.Kind...)
	} else {
		b = append(b, "miss"...)
	}
	return string(b)
}
