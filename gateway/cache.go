package gateway

import (
	"fmt"

	"github.com/moegate/moegate/policies"
)

// cacheUse is what the response cache may do for one request.
type cacheUse struct {
	lookup, store bool
}

// cacheDecision decides whether a request may be answered from the cache
// and whether its answer is stored, and records why in the moegate object.
// A request that asks for sampling (temperature > 0 or top_p < 1) wants a
// fresh draw, so by default it neither reads nor writes the cache; the
// request's moegate.cache ("on", "off", "refresh") overrides that.
func (g *Gateway) cacheDecision(p *Plan) cacheUse {
	info := &p.Info.Cache
	mode := p.req.Ext.Cache
	info.Mode = mode
	switch {
	case g.deps.Cache == nil:
		info.Mode, info.Reason = policies.CacheOff, "no response cache configured"
		return cacheUse{}
	case len(p.req.Chat.Tools) > 0:
		info.Mode, info.Reason = policies.CacheOff, "requests with tools are not cached"
		return cacheUse{}
	case p.req.Chat.Images > 0:
		// The keys hold the conversation's text only.
		info.Mode, info.Reason = policies.CacheOff, "requests with images are not cached"
		return cacheUse{}
	case mode == policies.CacheOff:
		info.Reason = "disabled by request"
		return cacheUse{}
	case mode == policies.CacheRefresh:
		info.Reason = "refresh requested: the answer is fresh and replaces the cached one"
		return cacheUse{store: true}
	case mode == policies.CacheOn:
		return cacheUse{lookup: true, store: true}
	}
	info.Mode = policies.CacheOn
	if why := sampled(p); why != "" && !g.opts.CacheSampled {
		info.Mode = policies.CacheOff
		info.Reason = why + " asks for a fresh sample: not served from or stored in the cache (moegate.cache \"on\" allows it)"
		return cacheUse{}
	}
	if p.unembedded {
		info.Reason = "the embedder failed or did not answer in time: exact matches only"
	}
	return cacheUse{lookup: true, store: true}
}

// sampled names the parameter that makes a request a random draw, or "".
// An unset temperature leaves the expert's default, which the cache treats
// as the gateway's usual answer.
func sampled(p *Plan) string {
	c := p.req.Chat
	switch {
	case c.Temperature != nil && *c.Temperature > 0:
		return fmt.Sprintf("temperature %g", *c.Temperature)
	case c.TopP != nil && *c.TopP < 1:
		return fmt.Sprintf("top_p %g", *c.TopP)
	}
	return ""
}
