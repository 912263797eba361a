package gateway

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/router"
)

// capable is an expert that states what it can serve itself (the local
// engine, from its loaded model).
type capable interface {
	Capabilities() experts.Capabilities
}

// capabilitiesOf are the expert's declared capabilities, narrowed by what
// the expert states of itself.
func capabilitiesOf(e *experts.Entry) experts.Capabilities {
	c := e.Spec.Capabilities
	if x, ok := e.Expert.(capable); ok {
		c = c.Narrow(x.Capabilities())
	}
	return c
}

// refuser is an expert that can tell in advance that it would refuse a
// request (the local engine, on parameters it cannot honour).
type refuser interface {
	Refuses(req *experts.Request) error
}

// lacks says what the named expert cannot give this request, or nil.
func (g *Gateway) lacks(name string, p *Plan) *experts.Lack {
	e, ok := g.deps.Registry.Snapshot().Lookup(name)
	if !ok {
		return nil // gone: the candidate step drops it
	}
	if l := capabilitiesOf(e).Lacks(p.needs); l != nil {
		return l
	}
	if x, ok := e.Expert.(refuser); ok {
		var ve *experts.ValidationError
		if err := x.Refuses(p.req.Chat); errors.As(err, &ve) {
			return &experts.Lack{Param: ve.Field, Reason: fmt.Sprintf("cannot honour '%s'", ve.Field)}
		}
	}
	return nil
}

// skip records an expert that cannot serve the request.
func (p *Plan) skip(name string, l *experts.Lack) {
	p.Info.Excluded = append(p.Info.Excluded, Excluded{Name: name, Reason: "cannot serve this request: " + l.Reason})
	p.lacked = append(p.lacked, fmt.Sprintf("%s %s", name, l.Reason))
	p.lackParam = l.Param
}

// noCapableExpert is the 400 when every expert the request may use lacks
// something it needs.
func (p *Plan) noCapableExpert() error {
	return &errs.Error{Kind: errs.Invalid, Code: "no_capable_expert", Param: p.lackParam,
		Err: fmt.Errorf("No expert available to this request can serve it: %s.", strings.Join(p.lacked, "; "))}
}

// capableFallback picks, when the default expert cannot serve a request
// the router gave it, the most probable expert that can.
func capableFallback(d router.Decision, candidates []string) (string, bool) {
	if len(candidates) == 0 {
		return "", false
	}
	best := slices.MaxFunc(candidates, func(a, b string) int {
		pa, _ := d.Probabilities.Get(a)
		pb, _ := d.Probabilities.Get(b)
		switch {
		case pa < pb:
			return -1
		case pa > pb:
			return 1
		}
		return strings.Compare(b, a) // ties: the first name wins
	})
	return best, true
}
