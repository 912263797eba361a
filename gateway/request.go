package gateway

import (
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/policies"
)

// Request is one decoded chat request. Everything a caller may override
// travels here; the gateway's defaults live in Options.
type Request struct {
	ID     string
	Tenant policies.Tenant
	// Model is "auto" (route) or the name of one expert.
	Model string
	Chat  *experts.Request
	// Ext is the request's `moegate` object, its opt-out already merged
	// with the X-Moegate-Exclude-Data header.
	Ext policies.Extension
	// BareBody is true when Chat.Body is known to hold no member but
	// model, messages, stream, stream_options, user and moegate (the
	// API's decoder saw every member): the cache key then has no other
	// parameters, and is not made by scanning the body again (2.2k
	// instructions a request).
	BareBody bool
}

// routed is what the router reads of a conversation: the last user
// message, earlier user turns (oldest first) and the system prompt.
type routed struct {
	query   string
	history []string
	system  string
}

func routedText(msgs []experts.Message) routed {
	var r routed
	last := -1
	for i, m := range msgs {
		switch m.Role {
		case "user":
			last = i
		case "system", "developer":
			if r.system == "" {
				r.system = m.Content
			}
		}
	}
	if last < 0 {
		if len(msgs) > 0 {
			r.query = msgs[len(msgs)-1].Content
		}
		return r
	}
	r.query = msgs[last].Content
	for _, m := range msgs[:last] {
		if m.Role == "user" && m.Content != "" {
			r.history = append(r.history, m.Content)
		}
	}
	return r
}
