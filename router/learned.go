package router

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/moegate/moegate/embed"
)

// LocalFeatureDim is the dimension of embed.Local the learned router is
// tuned for: on CLINC150 domain routing (validation split), 1024 buckets
// give 0.922 accuracy, 2048 0.947, 32768 0.970, 65536 0.971 with the best
// out-of-scope recall (0.92), 131072 no better. Give the router its own
// embed.NewLocal(LocalFeatureDim) rather than the gateway's (smaller)
// embedder: it embeds q.Text itself, sparsely, in a few microseconds.
const LocalFeatureDim = 1 << 16

// Options configure a Learned router. Zero fields take the defaults.
type Options struct {
	TopK int // experts per query when Query.TopK and TopP are 0; default 1
	// TopP, when Query.TopP is 0, picks the smallest set of experts whose
	// gate weight reaches it instead of TopK.
	TopP float64
	// MinWeight drops chosen experts whose gate weight (probability
	// renormalised over the candidates) is below it; the best candidate is
	// always kept. Default 0.1.
	MinWeight float64
	// Threshold overrides the trained out-of-scope threshold when > 0.
	Threshold float64
	// The retrieval rule: retrieve when the trained retrieval gate's
	// probability is at least RetrieveThreshold (default 0.5), or when
	// Query.RetrievalScore is at least RetrievalThreshold (default
	// DefaultRetrievalThreshold).
	// Without a trained gate only the knowledge score counts.
	RetrieveThreshold  float64
	RetrievalThreshold float64
	Train              TrainOptions
	Logger             *slog.Logger // nil: discard
}

func (o Options) withDefaults() Options {
	o.TopK = cmp.Or(o.TopK, 1)
	o.MinWeight = cmp.Or(o.MinWeight, 0.1)
	o.RetrieveThreshold = cmp.Or(o.RetrieveThreshold, 0.5)
	o.RetrievalThreshold = cmp.Or(o.RetrievalThreshold, DefaultRetrievalThreshold)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Learned routes with a trained Model over query embeddings.
//
// For a query it computes the gate's probability of every expert (and of
// the out-of-scope class when out-of-scope examples were given), keeps the
// candidates, and sends the query to the default expert when it is out of
// scope (see Model.Threshold and Model.NullThreshold, chosen at training
// time for a target in-scope coverage) or the best candidate's probability
// is below Model.Threshold. Otherwise the candidates'
// probabilities are renormalised into gate weights, the top k (or the
// smallest set reaching top p) are chosen, those below MinWeight dropped,
// and the weights renormalised again. Decision.Probabilities holds the
// model's probabilities of the candidates, before renormalisation.
//
// The model is swapped atomically: Route calls in flight keep the model
// they started with. It is safe for concurrent use.
type Learned struct {
	emb    embed.Embedder
	opts   Options
	active atomic.Pointer[installed]
	// features holds a query's features (*routeScratch) between queries:
	// the lexical features' arrays, a few KB, were allocated per query.
	features sync.Pool
}

// routeScratch is a query's features and their parts.
type routeScratch struct {
	x, ngrams sparse
	split     lexSplit
}

// installed is a model with its lookup table, built once at Install.
type installed struct {
	*Model
	index map[string]int
	sc    *scorer  // the gate with its exemplars
	spell *speller // nil: no spelling correction
	// words is the scorer's word vectors, with Lexical features (nil:
	// each query's features are scored whole).
	words *wordVectors
}

// wordKnower is implemented by features that know a language's words
// (Lexical): such words are not typos even when no example has them.
type wordKnower interface {
	KnownWord(w string) bool
}

// NewLearned returns an untrained router over emb's embeddings; until a
// model is installed every query goes to the default expert.
func NewLearned(emb embed.Embedder, opts Options) *Learned {
	return &Learned{emb: emb, opts: opts.withDefaults()}
}

// Train trains a model on examples with the router's embedder and options.
// It does not install it.
func (l *Learned) Train(ctx context.Context, examples []Example) (*Model, error) {
	return Train(ctx, l.emb, examples, l.opts.Train)
}

// Install makes m the active model. Its version becomes one more than the
// active model's (0 when none) when it is not already greater.
func (l *Learned) Install(m *Model) error {
	if err := m.validate(); err != nil {
		return err
	}
	if d := l.emb.Dim(); d != 0 && d != m.Dim {
		return fmt.Errorf("%w: model of dimension %d for an embedder of dimension %d", ErrBadModel, m.Dim, d)
	}
	if f := featureVersion(l.emb); f != m.Features {
		return fmt.Errorf("%w: model trained on features %q, embedder has %q", ErrBadModel, m.Features, f)
	}
	in := &installed{Model: m.described(), index: make(map[string]int, len(m.Experts))}
	if len(m.ExemplarWeights) == 0 {
		in.sc = &scorer{gate: packLinear(m.Gate)}
	} else {
		xs, ys := m.exemplarX, m.exemplarY
		if xs == nil {
			// A loaded model: its exemplars' features were not saved.
			var err error
			embed := func(ctx context.Context, texts []string) ([]sparse, error) { return embedAll(ctx, l.emb, texts) }
			if xs, ys, err = embedExemplars(context.Background(), embed, m); err != nil {
				return fmt.Errorf("router: embed exemplars: %w", err)
			}
		}
		in.sc = exemplarScorer(m.Gate, xs, ys, m.ExemplarWeights, m.ExemplarTemp)
	}
	if _, ok := l.emb.(*Lexical); ok {
		in.words = newWordVectors(in.sc)
	}
	for i, e := range m.Experts {
		if i != m.OOSClass {
			in.index[e] = i
		}
	}
	if len(m.Vocabulary) > 0 {
		var known func(string) bool
		if k, ok := l.emb.(wordKnower); ok {
			known = k.KnownWord
		}
		in.spell = newSpeller(m.Vocabulary, known)
	}
	for {
		old := l.active.Load()
		var cur int64
		if old != nil {
			cur = old.Version
		}
		if m.Version <= cur {
			m.Version = cur + 1
		}
		in.Version = m.Version
		if l.active.CompareAndSwap(old, in) {
			return nil
		}
	}
}

// LoadFile installs the model saved at path.
func (l *Learned) LoadFile(path string) error {
	m, err := LoadFile(path)
	if err != nil {
		return err
	}
	return l.Install(m)
}

// NGrams is the embed.Local whose n-grams the router's features are, or
// extend (Lexical); nil when they are not n-grams. A caller that hashes
// the query with it anyway passes the result in Query.Features.
func (l *Learned) NGrams() *embed.Local {
	switch f := l.emb.(type) {
	case *embed.Local:
		return f
	case *Lexical:
		return f.NGrams()
	}
	return nil
}

// Model returns the active model, nil before the first one: its
// description, without the gate's weights (see Model.described), so
// Install refuses it and Load refuses what Save writes of it.
func (l *Learned) Model() *Model {
	if in := l.active.Load(); in != nil {
		return in.Model
	}
	return nil
}

// Version is the active model's version, 0 before the first one.
func (l *Learned) Version() int64 {
	if in := l.active.Load(); in != nil {
		return in.Version
	}
	return 0
}

// Route implements Router. It uses q.Vector when it has the model's
// dimension and embeds q.Text with the router's embedder otherwise, so the
// router may use its own features, independent of the gateway's vectors;
// long texts and conversations are read as evidence.go describes.
func (l *Learned) Route(ctx context.Context, q Query) (Decision, error) {
	d := Decision{Router: "learned"}
	m := l.active.Load()
	if m == nil {
		l.retrieval(&d, nil, sparse{}, q.RetrievalScore)
		return deflt(d, "router not trained"), nil
	}
	d.Version = m.Version
	var pArr [64]float64 // on the stack for up to 64 classes: an allocation a query otherwise
	p := pArr[:0]
	if len(m.Experts) > len(pArr) {
		p = make([]float64, len(m.Experts))
	}
	p = p[:len(m.Experts)]
	buf, _ := l.features.Get().(*routeScratch)
	if buf == nil {
		buf = &routeScratch{}
	}
	defer l.features.Put(buf) // the features are used by the retrieval gate only, below
	sx, err := l.evidence(ctx, m, q, p, buf)
	if err != nil {
		return Decision{}, err
	}
	l.retrieval(&d, m.Model, sx, q.RetrievalScore)
	l.selectExperts(&d, m, p, q)
	return d, nil
}

func deflt(d Decision, reason string) Decision {
	d.Default, d.DefaultReason, d.Experts = true, reason, nil
	return d
}

// retrieval applies the retrieval rule documented on Options.
func (l *Learned) retrieval(d *Decision, m *Model, x sparse, knowledge float64) {
	d.RetrieveScore = knowledge
	d.Retrieve = knowledge >= l.opts.RetrievalThreshold
	if m == nil || m.Retrieval == nil {
		return
	}
	var p [2]float64
	m.Retrieval.probs(x, p[:])
	d.RetrieveScore = max(p[1], knowledge)
	d.Retrieve = d.Retrieve || p[1] >= l.opts.RetrieveThreshold
}

// cand is a candidate expert with its gate probability.
type cand struct {
	name string
	p    float64
}

// sortByP sorts cs most probable first, stably, as
// slices.SortStableFunc by cmp.Compare (NaN last): by insertion for a
// gateway's few experts, without the calls of a comparison function.
func sortByP(cs []cand) {
	if len(cs) > maxInsertion {
		slices.SortStableFunc(cs, func(a, b cand) int { return cmp.Compare(b.p, a.p) })
		return
	}
	for i := 1; i < len(cs); i++ {
		c, j := cs[i], i
		for ; j > 0 && cmp.Compare(cs[j-1].p, c.p) < 0; j-- {
			cs[j] = cs[j-1]
		}
		cs[j] = c
	}
}

// selectExperts picks experts among q.Candidates from the gate
// probabilities p.
func (l *Learned) selectExperts(d *Decision, m *installed, p []float64, q Query) {
	var csArr [16]cand // on the stack for a gateway's few candidates
	cs := csArr[:0]
	if len(q.Candidates) > len(csArr) {
		cs = make([]cand, 0, len(q.Candidates))
	}
	for _, name := range q.Candidates {
		i, ok := m.index[name]
		if !ok || slices.ContainsFunc(cs, func(c cand) bool { return c.name == name }) {
			continue
		}
		cs = append(cs, cand{name, p[i]})
	}
	if len(q.Candidates) == 0 {
		*d = deflt(*d, "no candidate experts")
		return
	}
	if len(cs) == 0 {
		*d = deflt(*d, "no candidate expert is known to the router")
		return
	}
	d.Probabilities = make(Probabilities, len(cs))
	for i, c := range cs {
		d.Probabilities[i] = Probability{c.name, c.p}
	}
	d.Probabilities.sortByName()
	sortByP(cs)

	// Out of scope: the out-of-scope class is too likely, or even the best
	// candidate is not likely enough.
	if m.OOSClass >= 0 && m.NullThreshold > 0 {
		if s := versusNull(p, m.OOSClass); s < m.NullThreshold {
			*d = deflt(*d, fmt.Sprintf("out of scope: P(best)/(P(best)+P(out of scope))=%.3f < null threshold %.3f", s, m.NullThreshold))
			return
		}
	}
	tau := cmp.Or(l.opts.Threshold, m.Threshold)
	if cs[0].p < tau {
		best, bestP := "", 0.0
		for name, i := range m.index {
			if p[i] > bestP || p[i] == bestP && name < best {
				best, bestP = name, p[i]
			}
		}
		if bestP >= tau {
			*d = deflt(*d, fmt.Sprintf("best expert %q (p=%.2f) is not a candidate; best candidate %q p=%.2f < %.2f", best, bestP, cs[0].name, cs[0].p, tau))
		} else {
			*d = deflt(*d, fmt.Sprintf("out of scope: best expert %q p=%.2f < threshold %.2f", best, bestP, tau))
		}
		return
	}

	// Gate weights over the candidates: the mass of excluded experts and of
	// the out-of-scope class is removed and the rest renormalised.
	var total float64
	for _, c := range cs {
		total += c.p
	}
	k := cmp.Or(q.TopK, l.opts.TopK)
	topP := cmp.Or(q.TopP, l.opts.TopP)
	if q.TopK > 0 && q.TopP == 0 {
		topP = 0 // an explicit top_k in the request beats a configured top_p
	}
	n := min(k, len(cs))
	if topP > 0 {
		// Dynamic k: the smallest prefix whose gate mass reaches topP.
		n = 0
		for cum := 0.0; n < len(cs) && cum < topP; n++ {
			cum += cs[n].p / total
		}
	}
	cs = cs[:n]
	kept := cs[:1]
	for _, c := range cs[1:] {
		if c.p/total >= l.opts.MinWeight {
			kept = append(kept, c)
		}
	}
	var sum float64
	for _, c := range kept {
		sum += c.p
	}
	d.Experts = make([]Choice, 0, len(kept))
	for _, c := range kept {
		d.Experts = append(d.Experts, Choice{Name: c.name, Weight: c.p / sum})
	}
}
