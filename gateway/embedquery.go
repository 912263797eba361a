package gateway

import (
	"context"
	"sync"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/router"
)

// sharedEmbedder reads a query once for the pipeline and the router when
// both use the local n-gram features: the gateway's small dense vector
// (cache, retrieval, corrections) and the router's wide sparse features
// are then two foldings of one hashing of the text.
type sharedEmbedder struct {
	small, wide *embed.Local
	// bufs holds the features' buffers between requests: the router reads
	// them only while routing (see release). vecs holds the dense vectors
	// (8 KB each), which the plan reads only until it has routed.
	bufs, vecs sync.Pool
}

// featureBuf is one request's buffers for the router's features; a
// question of a few dozen words has a few hundred.
type featureBuf struct {
	idx []int32
	val []float32
}

// ngramRouter is a router whose features are the local embedder's
// n-grams or extend them (router.Learned): NGrams returns that embedder,
// nil when its features are not n-grams (an embedder's vectors).
type ngramRouter interface{ NGrams() *embed.Local }

// shareEmbedding returns the shared embedder for deps, nil when the
// router does not read the gateway embedder's features at a dimension it
// folds onto.
func shareEmbedding(deps Deps) *sharedEmbedder {
	small, ok := deps.Embedder.(*embed.Local)
	if !ok {
		return nil
	}
	fr, ok := deps.Router.(ngramRouter)
	if !ok {
		return nil
	}
	wide := fr.NGrams()
	if wide == nil || wide.FeatureVersion() != small.FeatureVersion() || wide.Dim()%small.Dim() != 0 {
		return nil
	}
	return &sharedEmbedder{small: small, wide: wide}
}

// embedQuery embeds text with the gateway's embedder and, when forRouter
// and the router shares its features, also returns the router's features
// of it and, when there is a response cache, the vector as the cache
// takes it, gathered from the coordinates the embedder reached.
// The vector is then lent from a pool (lent is not nil): see releaseVec.
func (g *Gateway) embedQuery(ctx context.Context, text string, forRouter bool) (_ []float32, _ router.Features, _ *policies.Vector, lent *[]float32, _ error) {
	if s := g.shared; s != nil && forRouter {
		lent = s.lendVec()
		v := *lent
		buf, _ := s.bufs.Get().(*featureBuf)
		if buf == nil {
			buf = &featureBuf{idx: make([]int32, 0, 512), val: make([]float32, 0, 512)}
		}
		var nzArr [512]int32
		nz, idx, val, _ := s.small.EmbedWith(s.wide, v, nzArr[:0], buf.idx[:0], buf.val[:0], text)
		var cv *policies.Vector
		if g.deps.Cache != nil {
			cv = policies.NewSparseVector(v, nz)
		}
		return v, router.Features{Idx: idx, Val: val}, cv, lent, nil
	}
	if l, ok := g.deps.Embedder.(*embed.Local); ok && g.deps.Cache != nil {
		// The same vector as Embed's, and the cache's gathered from the
		// coordinates the embedder reached: made from the dense vector,
		// it scanned all of them (38k instructions, a tenth of a request
		// by name).
		if err := ctx.Err(); err != nil {
			return nil, router.Features{}, nil, nil, err
		}
		var idxArr [512]int32
		var valArr [512]float32
		idx, val := l.AppendSparse(idxArr[:0], valArr[:0], text)
		var v []float32
		if s := g.shared; s != nil && s.small == l {
			// Lent as above (8 KB of garbage a request otherwise).
			lent = s.lendVec()
			v = *lent
			clear(v)
		} else {
			v = make([]float32, l.Dim())
		}
		for k, i := range idx {
			v[i] = val[k]
		}
		return v, router.Features{}, policies.NewSparseVector(v, idx), lent, nil
	}
	vecs, err := g.queries.Embed(ctx, []string{text})
	if err != nil {
		return nil, router.Features{}, nil, nil, err
	}
	return vecs[0], router.Features{}, nil, nil, nil
}

// lendVec returns a dense vector of the gateway embedder's dimension
// from the pool, holding what its last borrower left.
func (s *sharedEmbedder) lendVec() *[]float32 {
	if lent, ok := s.vecs.Get().(*[]float32); ok {
		return lent
	}
	v := make([]float32, s.small.Dim())
	return &v
}

// releaseVec returns a vector embedQuery lent, which nothing may read
// after (the cache's Vector keeps none of it), for the next request.
func (s *sharedEmbedder) releaseVec(lent *[]float32) {
	if s != nil && lent != nil {
		s.vecs.Put(lent)
	}
}

// release returns the buffers of f, which nothing may read after, for
// the next request.
func (s *sharedEmbedder) release(f router.Features) {
	if s == nil || cap(f.Idx) == 0 || cap(f.Idx) > 1<<14 {
		return // none, or grown by an unusually long text: not kept
	}
	s.bufs.Put(&featureBuf{idx: f.Idx[:0], val: f.Val[:0]})
}
