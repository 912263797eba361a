package gateway

import (
	"context"
	"math"
	"slices"
	"sync"

	"github.com/moegate/moegate/internal/vec"
	"github.com/moegate/moegate/router"
)

// CorrectionSimilarity is how close (cosine of the gateway's embeddings) a
// query must be to one a tenant corrected for the correction to apply. On
// the local n-gram features a reworded query scores about 0.8 and a query
// about something else in the same domain about 0.7.
const CorrectionSimilarity = 0.75

// corrections are the experts tenants said should have answered their
// queries. A tenant's corrections steer only that tenant's requests, at
// once and without retraining: a tenant can teach the gateway its own
// routing but can never move another tenant's. The global router learns
// only from feedback without a tenant (admins') and from the default
// tenant when authentication is off.
type corrections struct {
	mu       sync.RWMutex
	byTenant map[string][]correction
}

type correction struct {
	vec    []float32 // unit length
	text   string
	expert string
}

func newCorrections() *corrections { return &corrections{byTenant: map[string][]correction{}} }

// add records that tenant's query (embedded as v) belongs to expert; a
// later correction of the same text replaces the earlier one.
func (c *corrections) add(tenant, text string, v []float32, expert string) {
	u := slices.Clone(v)
	if !vec.Normalize(u) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.byTenant[tenant]
	list = slices.DeleteFunc(list, func(x correction) bool { return x.text == text })
	c.byTenant[tenant] = append(list, correction{vec: u, text: text, expert: expert})
}

// best returns the expert of the tenant's correction closest to v, when it
// is at least CorrectionSimilarity close and allowed.
func (c *corrections) best(tenant string, v []float32, allowed func(string) bool) (string, float64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	list := c.byTenant[tenant]
	if len(list) == 0 {
		return "", 0, false
	}
	n := math.Sqrt(float64(vec.Dot(v, v)))
	if n == 0 {
		return "", 0, false
	}
	best, bestSim := "", 0.0
	for _, x := range list {
		if sim := float64(vec.Dot(x.vec, v)) / n; sim > bestSim && allowed(x.expert) {
			best, bestSim = x.expert, sim
		}
	}
	return best, bestSim, bestSim >= CorrectionSimilarity
}

// LoadCorrections replaces the corrections with the tenants' stored
// feedback (oldest first, a later correction of a text winning), so that
// they survive a restart and reach every replica sharing the store.
// Reloads run every few seconds, so a text already held keeps its vector
// and only new feedback is embedded.
func (g *Gateway) LoadCorrections(ctx context.Context, fbs []router.Feedback) error {
	type key struct{ tenant, text string }
	held := map[key][]float32{}
	g.corrections.mu.RLock()
	for tenant, list := range g.corrections.byTenant {
		for _, x := range list {
			held[key{tenant, x.text}] = x.vec
		}
	}
	g.corrections.mu.RUnlock()

	fresh := map[string][]correction{}
	at := map[key]int{}
	for _, fb := range fbs {
		if fb.Tenant == "" || fb.Expert == "" || fb.Text == "" {
			continue
		}
		k := key{fb.Tenant, fb.Text}
		v := held[k]
		if v == nil {
			vecs, err := g.deps.Embedder.Embed(ctx, []string{fb.Text})
			if err != nil {
				return err
			}
			if v = slices.Clone(vecs[0]); !vec.Normalize(v) {
				continue
			}
			held[k] = v
		}
		c := correction{vec: v, text: fb.Text, expert: fb.Expert}
		if i, ok := at[k]; ok {
			fresh[fb.Tenant][i] = c
			continue
		}
		at[k] = len(fresh[fb.Tenant])
		fresh[fb.Tenant] = append(fresh[fb.Tenant], c)
	}
	g.corrections.mu.Lock()
	g.corrections.byTenant = fresh
	g.corrections.mu.Unlock()
	return nil
}
