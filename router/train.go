package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/moegate/moegate/embed"
)

// Example is one training query: an expert's example or description, a
// logged query with feedback, or an out-of-scope query (Expert empty).
type Example struct {
	Text   string `json:"text"`
	Expert string `json:"expert"`
	// Retrieve marks queries that need the knowledge store. Once any example
	// has it, all others count as "no retrieval" for the retrieval gate.
	Retrieve bool `json:"retrieve,omitempty"`
	// Weight scales the example's loss; 0 (or less) means 1.
	Weight float64 `json:"weight,omitempty"`
	// History and System are the conversation before Text (see Query);
	// training ignores them, evaluation routes with them.
	History []string `json:"history,omitempty"`
	System  string   `json:"system,omitempty"`
}

// Model kinds.
const (
	KindLogReg   = "logreg"   // multinomial logistic regression (default)
	KindCentroid = "centroid" // nearest centroid with a softmax over cosines
)

// TrainOptions tune training. The zero value gives the defaults measured on
// CLINC150 (see the package tests and 'gateway route-eval').
type TrainOptions struct {
	Kind string // KindLogReg (default) or KindCentroid
	// Epochs defaults to 20, or more for small sets so that training takes
	// at least 2000 steps: an under-trained gate is under-confident.
	Epochs       int
	BatchSize    int     // default 64
	LearningRate float64 // Adam step; default 0.02
	L2           float64 // weight decay; default 1e-5
	// OOSWeight scales the loss of out-of-scope examples, which are usually
	// few; default 2.
	OOSWeight float64
	// Temperature of the centroid model's softmax over cosines; default 0.05.
	Temperature float64
	// TargetCoverage is the share of in-scope queries that should pass the
	// out-of-scope threshold; the threshold is the matching quantile of
	// held-out in-scope probabilities. Default 0.975: held-out training
	// queries are easier than new ones (on CLINC150 validation queries the
	// coverage comes out about 1% lower than the target).
	TargetCoverage float64
	// HoldOut is the share of examples held out to choose the threshold;
	// default 0.15. With fewer than 50 held-out in-scope examples the
	// threshold is FallbackThreshold (default 0.3).
	HoldOut           float64
	FallbackThreshold float64
	Seed              uint64
	// LabelSmoothing moves this share of each example's target from its
	// class to all classes evenly; default 0.05. It keeps the gate from
	// growing over-confident on the training examples, which helps both
	// accuracy and out-of-scope detection on CLINC150. Negative disables it.
	LabelSmoothing float64
	// Progress, when set, receives one line per training stage.
	Progress func(msg string)
}

func (o TrainOptions) withDefaults() TrainOptions {
	o.Kind = cmp.Or(o.Kind, KindLogReg)
	o.BatchSize = cmp.Or(o.BatchSize, 64)
	o.LearningRate = cmp.Or(o.LearningRate, 0.02)
	o.L2 = cmp.Or(o.L2, 1e-5)
	o.OOSWeight = cmp.Or(o.OOSWeight, 2)
	o.Temperature = cmp.Or(o.Temperature, 0.05)
	o.TargetCoverage = cmp.Or(o.TargetCoverage, 0.975)
	o.LabelSmoothing = cmp.Or(o.LabelSmoothing, 0.05)
	o.HoldOut = cmp.Or(o.HoldOut, 0.15)
	o.FallbackThreshold = cmp.Or(o.FallbackThreshold, 0.3)
	o.Seed = cmp.Or(o.Seed, 1)
	return o
}

func (o TrainOptions) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// ErrNoExamples reports a training set without any in-scope example.
var ErrNoExamples = errors.New("router: no in-scope training examples")

// sparse is a feature vector by its non-zero entries.
type sparse struct {
	idx []int32
	val []float32
}

func toSparse(v []float32) sparse {
	var s sparse
	for i, x := range v {
		if x != 0 {
			s.idx = append(s.idx, int32(i))
			s.val = append(s.val, x)
		}
	}
	return s
}

// sparseEmbedder is implemented by embedders that can skip the zeros of
// their vectors (embed.Local): training and routing over large hashed
// dimensions then cost what the text costs, not what the dimension costs.
type sparseEmbedder interface {
	AppendSparse(idx []int32, val []float32, text string) ([]int32, []float32)
}

// featureVersioner is implemented by embedders whose features change
// between versions (embed.Local): a model trained on one version is stale
// on another.
type featureVersioner interface {
	FeatureVersion() string
}

func featureVersion(emb embed.Embedder) string {
	if fv, ok := emb.(featureVersioner); ok {
		return fv.FeatureVersion()
	}
	return ""
}

// embedAll embeds texts as sparse vectors, checking their dimension.
func embedAll(ctx context.Context, emb embed.Embedder, texts []string) ([]sparse, error) {
	out := make([]sparse, len(texts))
	if se, ok := emb.(sparseEmbedder); ok {
		for i, t := range texts {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			out[i].idx, out[i].val = se.AppendSparse(nil, nil, t)
		}
		return out, nil
	}
	const chunk = 512 // bounds the dense vectors alive at once
	for start := 0; start < len(texts); start += chunk {
		end := min(start+chunk, len(texts))
		vecs, err := emb.Embed(ctx, texts[start:end])
		if err != nil {
			return nil, err
		}
		if len(vecs) != end-start {
			return nil, fmt.Errorf("embedder returned %d vectors for %d texts", len(vecs), end-start)
		}
		for i, v := range vecs {
			if len(v) != emb.Dim() {
				return nil, fmt.Errorf("embedder returned length %d, want %d", len(v), emb.Dim())
			}
			out[start+i] = toSparse(v)
		}
	}
	return out, nil
}

// dataset is embedded training data.
type dataset struct {
	x []sparse
	y []int // class index
	w []float32
}

func (d *dataset) subset(keep []int) *dataset {
	s := &dataset{}
	for _, i := range keep {
		s.x = append(s.x, d.x[i])
		s.y = append(s.y, d.y[i])
		s.w = append(s.w, d.w[i])
	}
	return s
}

// Train embeds the examples with emb and trains a model: the expert gate
// with its out-of-scope threshold, and the retrieval gate when some
// examples are labelled for retrieval.
func Train(ctx context.Context, emb embed.Embedder, examples []Example, opts TrainOptions) (*Model, error) {
	opts = opts.withDefaults()
	start := time.Now()

	names := map[string]bool{}
	for _, ex := range examples {
		names[ex.Expert] = true
	}
	experts := make([]string, 0, len(names))
	for n := range names {
		if n != OutOfScope {
			experts = append(experts, n)
		}
	}
	if len(experts) == 0 {
		return nil, ErrNoExamples
	}
	slices.Sort(experts)
	oos := -1
	if names[OutOfScope] {
		oos = len(experts)
		experts = append(experts, OutOfScope)
	}
	class := make(map[string]int, len(experts))
	for i, n := range experts {
		class[n] = i
	}

	texts := make([]string, len(examples))
	for i, ex := range examples {
		texts[i] = ex.Text
	}
	xs, err := embedAll(ctx, emb, texts)
	if err != nil {
		return nil, fmt.Errorf("router: embed training examples: %w", err)
	}
	dim := emb.Dim()
	data := &dataset{}
	var retrieve []bool
	anyRetrieve := false
	for i, ex := range examples {
		w := 1.0
		if ex.Weight > 0 {
			w = ex.Weight
		}
		if ex.Expert == OutOfScope {
			w *= opts.OOSWeight
		}
		data.x = append(data.x, xs[i])
		data.y = append(data.y, class[ex.Expert])
		data.w = append(data.w, float32(w))
		retrieve = append(retrieve, ex.Retrieve)
		anyRetrieve = anyRetrieve || ex.Retrieve
	}
	opts.progress("embedded %d examples (%d experts, out-of-scope class: %v) in %v", len(examples), len(experts)-btoi(oos >= 0), oos >= 0, time.Since(start).Round(time.Millisecond))

	m := &Model{
		Kind:     opts.Kind,
		Dim:      dim,
		Features: featureVersion(emb),
		Examples: len(examples),
		Experts:  experts,
		OOSClass: oos,
	}

	classes := len(experts)
	// The final gate on everything and, meanwhile, the threshold from a gate
	// trained on all but a held-out split: two independent fits, one per core.
	type fitResult struct {
		g   *Linear
		err error
	}
	final := make(chan fitResult, 1)
	go func() {
		g, err := fit(ctx, data, classes, dim, opts)
		final <- fitResult{g, err}
	}()
	// With out-of-scope examples the calibrated test is on P(in scope), and
	// the best candidate needs only FallbackThreshold.
	score := func(p []float64) float64 { return bestExpert(p, oos) }
	if oos >= 0 {
		score = func(p []float64) float64 { return 1 - p[oos] }
	}
	tau, err := threshold(ctx, data, classes, dim, oos, score, opts)
	if oos >= 0 {
		m.Threshold, m.InScopeThreshold = opts.FallbackThreshold, tau
	} else {
		m.Threshold = tau
	}
	if err != nil {
		<-final
		return nil, err
	}
	r := <-final
	if r.err != nil {
		return nil, r.err
	}
	m.Gate = r.g
	opts.progress("trained %s gate on %d examples, threshold %.4f, in-scope threshold %.4f (%v)", opts.Kind, len(data.x), m.Threshold, m.InScopeThreshold, time.Since(start).Round(time.Millisecond))

	if anyRetrieve {
		rd := &dataset{x: data.x}
		for _, r := range retrieve {
			rd.y = append(rd.y, btoi(r))
			rd.w = append(rd.w, 1)
		}
		ro := opts
		ro.Kind = KindLogReg
		if m.Retrieval, err = fit(ctx, rd, 2, dim, ro); err != nil {
			return nil, err
		}
		opts.progress("trained retrieval gate (%v)", time.Since(start).Round(time.Millisecond))
	}
	m.Trained = time.Now().UTC()
	return m, nil
}

// threshold trains a gate without a held-out share of the examples and
// returns the quantile of the held-out in-scope queries' scores that keeps
// TargetCoverage of them in scope. With too few held-out examples it
// returns FallbackThreshold for the best expert's probability, and 0.5 for
// P(in scope) (more likely in scope than not).
func threshold(ctx context.Context, data *dataset, classes, dim, oos int, score func(p []float64) float64, opts TrainOptions) (float64, error) {
	train, held := splitStratified(data, classes, opts.HoldOut, opts.Seed)
	heldIn := 0
	for _, i := range held {
		if data.y[i] != oos {
			heldIn++
		}
	}
	if heldIn < 50 || opts.TargetCoverage >= 1 {
		if oos >= 0 {
			return 0.5, nil
		}
		return opts.FallbackThreshold, nil
	}
	g, err := fit(ctx, data.subset(train), classes, dim, opts)
	if err != nil {
		return 0, err
	}
	scores := make([]float64, 0, heldIn)
	p := make([]float64, classes)
	for _, i := range held {
		if data.y[i] != oos {
			g.probs(data.x[i], p)
			scores = append(scores, score(p))
		}
	}
	slices.Sort(scores)
	return scores[int(math.Floor((1-opts.TargetCoverage)*float64(len(scores))))], nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bestExpert is the largest probability of an expert class (not the
// out-of-scope class).
func bestExpert(p []float64, oos int) float64 {
	best := 0.0
	for c, x := range p {
		if c != oos {
			best = max(best, x)
		}
	}
	return best
}

// splitStratified holds out frac of each class, at random but reproducibly.
func splitStratified(d *dataset, classes int, frac float64, seed uint64) (train, held []int) {
	byClass := make([][]int, classes)
	for i, y := range d.y {
		byClass[y] = append(byClass[y], i)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for _, idx := range byClass {
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		n := int(frac * float64(len(idx)))
		held = append(held, idx[:n]...)
		train = append(train, idx[n:]...)
	}
	slices.Sort(train)
	slices.Sort(held)
	return train, held
}

func fit(ctx context.Context, d *dataset, classes, dim int, o TrainOptions) (*Linear, error) {
	switch o.Kind {
	case KindLogReg:
		return fitLogReg(ctx, d, classes, dim, o)
	case KindCentroid:
		return fitCentroid(d, classes, dim, o), nil
	}
	return nil, fmt.Errorf("router: unknown model kind %q", o.Kind)
}

// fitCentroid makes each class's weight row its normalised mean example,
// divided by the temperature: the softmax then runs over cosine
// similarities to the class centroids.
func fitCentroid(d *dataset, classes, dim int, o TrainOptions) *Linear {
	g := &Linear{Classes: classes, Dim: dim, W: make([]float32, classes*dim), B: make([]float32, classes)}
	for n, x := range d.x {
		for k, i := range x.idx {
			g.W[int(i)*classes+d.y[n]] += d.w[n] * x.val[k]
		}
	}
	ss := make([]float64, classes)
	for i, w := range g.W {
		ss[i%classes] += float64(w) * float64(w)
	}
	for i := range g.W {
		if s := ss[i%classes]; s > 0 {
			g.W[i] *= float32(1 / (math.Sqrt(s) * o.Temperature))
		}
	}
	return g
}

// fitLogReg trains multinomial logistic regression with weighted cross
// entropy (with label smoothing) and L2 by mini-batch Adam. Inputs are sparse, so the forward and
// backward passes cost O(non-zeros × classes) per example, and the Adam
// step touches only the weights of features seen in the batch (lazy Adam;
// the L2 decay of a weight also waits until its feature is seen).
func fitLogReg(ctx context.Context, d *dataset, classes, dim int, o TrainOptions) (*Linear, error) {
	if o.Epochs <= 0 {
		batches := (len(d.x) + o.BatchSize - 1) / o.BatchSize
		o.Epochs = min(200, max(20, (2000+batches-1)/batches))
	}
	nw := classes * dim
	params := make([]float32, nw+classes) // weights, then biases
	grad := make([]float32, len(params))
	m1 := make([]float32, len(params))
	m2 := make([]float32, len(params))
	const beta1, beta2, eps = 0.9, 0.999, 1e-8

	order := make([]int, len(d.x))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0xada))
	logits := make([]float64, classes)
	gs := make([]float32, classes)
	stamp := make([]int32, dim) // batch number + 1 that last touched a feature
	touched := make([]int32, 0, 4096)
	steps := o.Epochs * ((len(order) + o.BatchSize - 1) / o.BatchSize)
	step := 0
	l2 := float32(o.L2)
	adam := func(i int, g, lr, c1, c2 float32) {
		m1[i] = beta1*m1[i] + (1-beta1)*g
		m2[i] = beta2*m2[i] + (1-beta2)*g*g
		params[i] -= lr * (m1[i] * c1) / (float32(math.Sqrt(float64(m2[i]*c2))) + eps)
	}
	smooth := float32(max(0, o.LabelSmoothing) / float64(classes))
	for range o.Epochs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for start := 0; start < len(order); start += o.BatchSize {
			batch := order[start:min(start+o.BatchSize, len(order))]
			step++
			touched = touched[:0]
			var wsum float32
			for _, n := range batch {
				x, y, w := d.x[n], d.y[n], d.w[n]
				wsum += w
				for c := range classes {
					logits[c] = float64(params[nw+c])
				}
				for k, i := range x.idx {
					if stamp[i] != int32(step) {
						stamp[i] = int32(step)
						touched = append(touched, i)
					}
					v := x.val[k]
					row := params[int(i)*classes : int(i+1)*classes]
					for c, wc := range row {
						logits[c] += float64(wc * v)
					}
				}
				maxL := math.Inf(-1)
				for _, l := range logits {
					maxL = max(maxL, l)
				}
				var z float64
				for c := range logits {
					logits[c] = math.Exp(logits[c] - maxL)
					z += logits[c]
				}
				for c := range classes {
					g := float32(logits[c]/z) - smooth
					if c == y {
						g -= 1 - float32(classes)*smooth
					}
					gs[c] = g * w
					grad[nw+c] += gs[c]
				}
				for k, i := range x.idx {
					v := x.val[k]
					grow := grad[int(i)*classes : int(i+1)*classes]
					for c, g := range gs {
						grow[c] += g * v
					}
				}
			}
			lr := float32(o.LearningRate * (1 - float64(step-1)/float64(steps)))
			c1 := float32(1 / (1 - math.Pow(beta1, float64(step))))
			c2 := float32(1 / (1 - math.Pow(beta2, float64(step))))
			inv := 1 / wsum
			for _, f := range touched {
				for i := int(f) * classes; i < int(f+1)*classes; i++ {
					adam(i, grad[i]*inv+l2*params[i], lr, c1, c2)
					grad[i] = 0
				}
			}
			for i := nw; i < len(params); i++ {
				adam(i, grad[i]*inv, lr, c1, c2)
				grad[i] = 0
			}
		}
	}
	return &Linear{Classes: classes, Dim: dim, W: params[:nw:nw], B: params[nw:]}, nil
}
