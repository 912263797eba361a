package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/moegate/moegate/engine/tensor"
)

// ErrContextFull is returned (wrapped) by Forward when the new tokens do not
// fit in the sequence's KV cache.
var ErrContextFull = errors.New("model: context full")

// maxBatch bounds the number of tokens processed together, and so the size
// of a sequence's scratch buffers; longer prompts are processed in chunks.
const maxBatch = 64

// Sequence is the state of one token sequence: its KV cache, its scratch
// buffers and its expert counts. A Sequence must not be used by two
// goroutines at once; distinct Sequences of one Model may run concurrently.
type Sequence struct {
	m      *Model
	cap    int
	n      int
	k, v   [][]float32 // per layer: cap rows of KVHeads*HeadDim
	counts [][]int     // [layer][expert]

	batch     int       // capacity of the scratch buffers, in tokens
	x, xn     []float32 // residual stream and its normalised copy, B x Hidden
	q, kb, vb []float32 // B x Heads*HeadDim, B x KVHeads*HeadDim (x2)
	att       []float32 // attention output before wo, B x Heads*HeadDim
	out       []float32 // attention or feed-forward output, B x Hidden
	g, u      []float32 // feed-forward hidden, B x max FFN
	rl        []float32 // router probabilities, B x Experts
	sel       []int     // selected experts, B x ExpertsUsed
	selW      []float32 // their weights
	tok       []int     // tokens routed to the current expert
	tokW      []float32 // and their weights
	ein, eout []float32 // gathered expert input / output, B x Hidden
	shg       []float32 // shared-expert gate per token
	cos, sin  []float32 // RoPE tables, B x RopeDim/2
	logits    []float32

	attnLayer int              // layer of the running attendRange
	attendFn  func(lo, hi int) // s.attendRange, bound once

	mv       []mvJob          // fused matrix-vector products (decoding)
	mvGroups int              // row groups queued in mv
	mvSums   []float32        // the queued jobs' block sums
	mvAct    []byte           // the queued jobs' quantized activations
	mmAct    []byte           // quantized activations of batched products
	mvFn     func(lo, hi int) // s.mvRange, bound once
}

// mvJob is one matrix-vector product of a fused set: dst = w·x.
type mvJob struct {
	w      *tensor.Matrix
	dst, x []float32
	sums   []float32 // tensor.BlockSums of x, if w's kernel uses them
	xq     []byte    // x quantized for w (tensor.QuantizeAct), nil: float path
	first  int       // index of its first row group in the set
}

// mvRows is the number of rows of a fused matrix-vector task.
const mvRows = 16

// queueMatVec adds dst = w·x to the set run by runMatVecs.
func (s *Sequence) queueMatVec(w *tensor.Matrix, dst, x []float32) {
	x = x[:w.Cols]
	if at, ok := tensor.ActType(w.Type); ok && !s.m.exactFloat {
		s.mv = append(s.mv, mvJob{w: w, dst: dst[:w.Rows], x: x, xq: s.quantized(at, w.Type, x), first: s.mvGroups})
		s.mvGroups += (w.Rows + mvRows - 1) / mvRows
		return
	}
	var sums []float32
	if n := tensor.SumsLen(w.Type, w.Cols); n > 0 {
		// Earlier jobs keep their slices if append moves s.mvSums.
		at := len(s.mvSums)
		s.mvSums = append(s.mvSums, make([]float32, n)...)
		sums = s.mvSums[at : at+n]
		tensor.BlockSums(sums, x)
	}
	s.mv = append(s.mv, mvJob{w: w, dst: dst[:w.Rows], x: x, sums: sums, first: s.mvGroups})
	s.mvGroups += (w.Rows + mvRows - 1) / mvRows
}

// quantized returns x quantized for weights of type t (activation format
// at), reusing the previous job's when it has the same input and format:
// q, k and v, or an expert's gate and up, share one quantization.
func (s *Sequence) quantized(at, t tensor.Type, x []float32) []byte {
	if n := len(s.mv); n > 0 {
		prev := &s.mv[n-1]
		if pat, _ := tensor.ActType(prev.w.Type); prev.xq != nil && pat == at &&
			len(prev.x) == len(x) && &prev.x[0] == &x[0] {
			return prev.xq
		}
	}
	// Earlier jobs keep their slices if append moves s.mvAct.
	at0 := len(s.mvAct)
	n := tensor.ActBytes(t, len(x))
	s.mvAct = append(s.mvAct, make([]byte, n)...)
	return tensor.QuantizeAct(t, s.mvAct[at0:at0+n], x)
}

// runMatVecs computes the queued products in one parallel loop. When
// decoding one token the matrices are small, and one loop over all of them
// (q, k and v; every selected expert's gate and up) costs one pool
// round-trip instead of one per matrix. Rows are computed by DotRows, as
// in MatVec, so the results are the same.
func (m *Model) runMatVecs(s *Sequence) {
	m.pool.For(s.mvGroups, s.mvFn)
	s.mv, s.mvGroups, s.mvSums, s.mvAct = s.mv[:0], 0, s.mvSums[:0], s.mvAct[:0]
}

func (s *Sequence) mvRange(lo, hi int) {
	j := 0
	for g := lo; g < hi; g++ {
		for j+1 < len(s.mv) && s.mv[j+1].first <= g {
			j++
		}
		job := &s.mv[j]
		r0 := (g - job.first) * mvRows
		if job.xq != nil {
			job.w.DotRowsAct(job.dst, job.xq, r0, min(r0+mvRows, job.w.Rows))
			continue
		}
		job.w.DotRows(job.dst, job.x, job.sums, r0, min(r0+mvRows, job.w.Rows))
	}
}

// NewSequence returns an empty sequence able to hold maxTokens tokens;
// maxTokens <= 0 or beyond the model's context means the model's context.
func (m *Model) NewSequence(maxTokens int) *Sequence {
	c := m.Config
	if maxTokens <= 0 || maxTokens > c.Context {
		maxTokens = c.Context
	}
	s := &Sequence{m: m, cap: maxTokens}
	s.attendFn = s.attendRange
	s.mvFn = s.mvRange
	s.k = make([][]float32, c.Layers)
	s.v = make([][]float32, c.Layers)
	s.counts = make([][]int, c.Layers)
	for i := range c.Layers {
		s.counts[i] = make([]int, c.Experts)
	}
	return s
}

// Len is the number of tokens in the cache.
func (s *Sequence) Len() int { return s.n }

// Cap is the number of tokens the sequence can hold.
func (s *Sequence) Cap() int { return s.cap }

// Reset empties the cache and the expert counts.
func (s *Sequence) Reset() {
	s.n = 0
	for _, c := range s.counts {
		clear(c)
	}
}

// Truncate drops cached tokens beyond the first n (to reuse a common prefix).
func (s *Sequence) Truncate(n int) {
	if n < s.n {
		s.n = max(n, 0)
	}
}

// ExpertCounts returns, per layer and expert, the number of tokens routed to
// the expert since the last Reset.
func (s *Sequence) ExpertCounts() [][]int {
	out := make([][]int, len(s.counts))
	for i, c := range s.counts {
		out[i] = append([]int(nil), c...)
	}
	return out
}

// ExpertLoad returns, per layer and expert, the number of tokens routed to
// the expert by all sequences since Load.
func (m *Model) ExpertLoad() [][]uint64 {
	E := m.Config.Experts
	out := make([][]uint64, m.Config.Layers)
	for l := range out {
		out[l] = make([]uint64, E)
		for e := range E {
			out[l][e] = m.load[l*E+e].Load()
		}
	}
	return out
}

// growCache makes room for n tokens in the KV cache. The cache grows by
// doubling, so a sequence sized for a long context only pays for what it
// uses, and decoding allocates only O(log n) times.
func (s *Sequence) growCache(n int) {
	kvDim := s.m.Config.KVHeads * s.m.Config.HeadDim
	if len(s.k) == 0 || len(s.k[0]) >= n*kvDim {
		return
	}
	size := min(s.cap, max(n, 2*len(s.k[0])/kvDim, 256)) * kvDim
	for i := range s.k {
		s.k[i] = append(make([]float32, 0, size), s.k[i][:s.n*kvDim]...)[:size]
		s.v[i] = append(make([]float32, 0, size), s.v[i][:s.n*kvDim]...)[:size]
	}
}

// ensure sizes the scratch buffers for b tokens.
func (s *Sequence) ensure(b int) {
	if b <= s.batch {
		return
	}
	c := s.m.Config
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	ff := max(c.FFN, c.ExpertFFN, c.SharedFFN)
	s.batch = b
	s.x = make([]float32, b*c.Hidden)
	s.xn = make([]float32, b*max(c.Hidden, qDim))
	s.q = make([]float32, b*qDim)
	s.kb = make([]float32, b*kvDim)
	s.vb = make([]float32, b*kvDim)
	s.att = make([]float32, b*qDim)
	s.out = make([]float32, b*c.Hidden)
	// Decoding one token computes all selected experts (and the shared
	// one) side by side.
	fused := c.ExpertsUsed*c.ExpertFFN + c.SharedFFN
	s.g = make([]float32, max(b*ff, fused))
	s.u = make([]float32, max(b*ff, fused))
	s.rl = make([]float32, b*c.Experts)
	s.sel = make([]int, b*c.ExpertsUsed)
	s.selW = make([]float32, b*c.ExpertsUsed)
	s.tok = make([]int, b)
	s.tokW = make([]float32, b)
	s.ein = make([]float32, b*c.Hidden)
	s.eout = make([]float32, max(b, c.ExpertsUsed+1)*c.Hidden)
	s.shg = make([]float32, b)
	s.cos = make([]float32, b*c.RopeDim/2)
	s.sin = make([]float32, b*c.RopeDim/2)
}

// Forward runs tokens through the model at positions s.Len(), s.Len()+1, …,
// appending their keys and values to s's cache. It returns the logits of the
// last token (Vocab floats) or, with logitsAll, of every token (len(tokens) x
// Vocab). The returned slice belongs to s and is overwritten by the next call.
func (m *Model) Forward(s *Sequence, tokens []int32, logitsAll bool) ([]float32, error) {
	if s.m != m {
		return nil, errors.New("model: sequence belongs to another model")
	}
	if len(tokens) == 0 {
		return nil, errors.New("model: Forward with no tokens")
	}
	if s.n+len(tokens) > s.cap {
		return nil, fmt.Errorf("%w: %d cached + %d new tokens exceed capacity %d", ErrContextFull, s.n, len(tokens), s.cap)
	}
	V := m.Config.Vocab
	for i, t := range tokens {
		if t < 0 || int(t) >= V {
			return nil, fmt.Errorf("model: token %d at index %d out of range [0,%d)", t, i, V)
		}
	}
	nOut := 1
	if logitsAll {
		nOut = len(tokens)
	}
	if cap(s.logits) < nOut*V {
		s.logits = make([]float32, nOut*V)
	}
	logits := s.logits[:nOut*V]
	for start := 0; start < len(tokens); start += maxBatch {
		chunk := tokens[start:min(len(tokens), start+maxBatch)]
		if err := m.forwardChunk(s, chunk); err != nil {
			return nil, err
		}
		switch {
		case logitsAll:
			m.project(s, 0, len(chunk), logits[start*V:])
		case start+len(chunk) == len(tokens):
			m.project(s, len(chunk)-1, 1, logits)
		}
	}
	return logits, nil
}

// project writes the logits of chunk tokens [t0, t0+n) into dst.
func (m *Model) project(s *Sequence, t0, n int, dst []float32) {
	H, V := m.Config.Hidden, m.Config.Vocab
	xn := s.xn[:n*H]
	for t := range n {
		rmsNorm(xn[t*H:(t+1)*H], s.x[(t0+t)*H:(t0+t+1)*H], m.outNorm, m.Config.NormEps)
	}
	m.matmul(s, m.output, dst[:n*V], xn, n)
}

// matmul computes dst = w·x for n vectors. A single vector goes through
// the sequence's fused loop, whose function is bound once, so decoding does
// not allocate.
func (m *Model) matmul(s *Sequence, w *tensor.Matrix, dst, x []float32, n int) {
	if n == 1 {
		s.queueMatVec(w, dst, x)
		m.runMatVecs(s)
		return
	}
	if _, ok := tensor.ActType(w.Type); ok && !m.exactFloat {
		s.mmAct = w.MatMulAct(m.pool, dst, x, n, s.mmAct)
		return
	}
	w.MatMul(m.pool, dst, x, n)
}

func (m *Model) forwardChunk(s *Sequence, toks []int32) error {
	c := &m.Config
	B, H := len(toks), c.Hidden
	s.ensure(B)
	s.growCache(s.n + B)
	for t, id := range toks {
		if err := tensor.Dequantize(m.embd.Type, m.embd.Row(int(id)), s.x[t*H:(t+1)*H]); err != nil {
			return fmt.Errorf("model: token_embd.weight: %w", err)
		}
	}
	half := c.RopeDim / 2
	for t := range B {
		p := float64(s.n+t) / float64(c.RopeScale)
		for i, f := range m.invFreq {
			sin, cos := math.Sincos(p * f)
			s.cos[t*half+i], s.sin[t*half+i] = float32(cos), float32(sin)
		}
	}
	for il := range m.layers {
		m.attention(s, il, B)
		add(s.x[:B*H], s.out[:B*H])
		ly := &m.layers[il]
		for t := range B {
			rmsNorm(s.xn[t*H:(t+1)*H], s.x[t*H:(t+1)*H], ly.ffnNorm, c.NormEps)
		}
		if c.Experts == 0 {
			m.ffn(s, ly.gate, ly.up, ly.down, s.xn[:B*H], s.out[:B*H], B)
		} else {
			m.moe(s, il, B)
		}
		add(s.x[:B*H], s.out[:B*H])
	}
	s.n += B
	return nil
}

// attention runs the attention block of layer il for the B tokens of the
// chunk, leaving its output (after wo) in s.out.
func (m *Model) attention(s *Sequence, il, B int) {
	c := &m.Config
	ly := &m.layers[il]
	H, HD := c.Hidden, c.HeadDim
	qDim, kvDim := c.Heads*HD, c.KVHeads*HD
	xn := s.xn[:B*H]
	for t := range B {
		rmsNorm(xn[t*H:(t+1)*H], s.x[t*H:(t+1)*H], ly.attnNorm, c.NormEps)
	}
	q, k, v := s.q[:B*qDim], s.kb[:B*kvDim], s.vb[:B*kvDim]
	if B == 1 {
		s.queueMatVec(ly.wq, q, xn)
		s.queueMatVec(ly.wk, k, xn)
		s.queueMatVec(ly.wv, v, xn)
		m.runMatVecs(s)
	} else {
		m.matmul(s, ly.wq, q, xn, B)
		m.matmul(s, ly.wk, k, xn, B)
		m.matmul(s, ly.wv, v, xn, B)
	}
	addBias(q, ly.bq)
	addBias(k, ly.bk)
	addBias(v, ly.bv)
	switch c.QKNorm {
	case QKNormHead:
		for i := 0; i < len(q); i += HD {
			rmsNorm(q[i:i+HD], q[i:i+HD], ly.qNorm, c.NormEps)
		}
		for i := 0; i < len(k); i += HD {
			rmsNorm(k[i:i+HD], k[i:i+HD], ly.kNorm, c.NormEps)
		}
	case QKNormFull:
		for t := range B {
			rmsNorm(q[t*qDim:(t+1)*qDim], q[t*qDim:(t+1)*qDim], ly.qNorm, c.NormEps)
			rmsNorm(k[t*kvDim:(t+1)*kvDim], k[t*kvDim:(t+1)*kvDim], ly.kNorm, c.NormEps)
		}
	}
	half := c.RopeDim / 2
	for t := range B {
		cos, sin := s.cos[t*half:(t+1)*half], s.sin[t*half:(t+1)*half]
		for h := range c.Heads {
			rope(q[t*qDim+h*HD:t*qDim+(h+1)*HD], cos, sin, c.RopeNeoX)
		}
		for h := range c.KVHeads {
			rope(k[t*kvDim+h*HD:t*kvDim+(h+1)*HD], cos, sin, c.RopeNeoX)
		}
	}
	kc, vc := s.k[il], s.v[il]
	copy(kc[s.n*kvDim:], k)
	copy(vc[s.n*kvDim:], v)

	att := s.att[:B*qDim]
	s.attnLayer = il
	m.pool.For(B*c.Heads, s.attendFn)
	m.matmul(s, ly.wo, s.out[:B*H], att, B)
	addBias(s.out[:B*H], ly.bo)
}

// attendRange computes attention outputs for the (token, head) items
// [lo, hi) of the current chunk of layer s.attnLayer. It is bound once per
// sequence (s.attendFn) so that the decoding loop does not allocate a closure
// per layer.
func (s *Sequence) attendRange(lo, hi int) {
	c := &s.m.Config
	HD := c.HeadDim
	qDim, kvDim := c.Heads*HD, c.KVHeads*HD
	group := c.Heads / c.KVHeads
	scale := float32(1 / math.Sqrt(float64(HD)))
	kc, vc := s.k[s.attnLayer], s.v[s.attnLayer]
	for it := lo; it < hi; it++ {
		t, h := it/c.Heads, it%c.Heads
		o := t*qDim + h*HD
		// Causal mask: token t sees the cache up to its own position.
		attend(s.att[o:o+HD], s.q[o:o+HD], kc, vc, (h/group)*HD, kvDim, s.n+t+1, scale)
	}
}

// ffn computes down(silu(gate·x) * up·x) for n tokens of x into dst.
func (m *Model) ffn(s *Sequence, gate, up, down *tensor.Matrix, x, dst []float32, n int) {
	F := gate.Rows
	g, u := s.g[:n*F], s.u[:n*F]
	if n == 1 {
		s.queueMatVec(gate, g, x)
		s.queueMatVec(up, u, x)
		m.runMatVecs(s)
	} else {
		m.matmul(s, gate, g, x, n)
		m.matmul(s, up, u, x, n)
	}
	m.swiglu(g, u)
	m.matmul(s, down, dst, g, n)
}

// swigluChunk is the number of elements of a parallel swiglu task.
const swigluChunk = 4096

// swiglu is the package function, in parallel when g is long (a batch):
// its exponentials are otherwise a serial tenth of prompt processing.
func (m *Model) swiglu(g, u []float32) {
	if len(g) < 2*swigluChunk || m.pool.Threads() == 1 {
		swiglu(g, u)
		return
	}
	m.pool.For((len(g)+swigluChunk-1)/swigluChunk, func(lo, hi int) {
		a, b := lo*swigluChunk, min(hi*swigluChunk, len(g))
		swiglu(g[a:b], u[a:b])
	})
}

// moe is llama.cpp's build_moe_ffn with softmax gating: probabilities over
// all experts, the top ExpertsUsed kept (renormalised when NormTopK), each
// token's selected experts' SwiGLU outputs summed with those weights. Tokens
// of a batch are grouped per expert so that each expert's weights are read
// once per chunk. The output goes to s.out.
func (m *Model) moe(s *Sequence, il, B int) {
	c := &m.Config
	ly := &m.layers[il]
	H, E, K := c.Hidden, c.Experts, c.ExpertsUsed
	xn, out := s.xn[:B*H], s.out[:B*H]
	rl := s.rl[:B*E]
	m.matmul(s, ly.router, rl, xn, B)
	counts, load := s.counts[il], m.load[il*E:(il+1)*E]
	for t := range B {
		p := rl[t*E : (t+1)*E]
		softmax(p)
		sel, w := s.sel[t*K:(t+1)*K], s.selW[t*K:(t+1)*K]
		topK(p, sel, w)
		if c.NormTopK {
			var sum float32
			for _, v := range w {
				sum += v
			}
			scaleVec(w, 1/sum)
		}
		for _, e := range sel {
			counts[e]++
			load[e].Add(1)
		}
	}
	if B == 1 {
		m.moeOne(s, ly)
		return
	}
	clear(out)
	for e := range E {
		n := 0
		for i, se := range s.sel[:B*K] {
			if se == e {
				s.tok[n], s.tokW[n] = i/K, s.selW[i]
				n++
			}
		}
		if n == 0 {
			continue
		}
		ein, eout := s.ein[:n*H], s.eout[:n*H]
		for i, t := range s.tok[:n] {
			copy(ein[i*H:(i+1)*H], xn[t*H:(t+1)*H])
		}
		m.ffn(s, ly.expGate[e], ly.expUp[e], ly.expDown[e], ein, eout, n)
		for i, t := range s.tok[:n] {
			axpy(out[t*H:(t+1)*H], s.tokW[i], eout[i*H:(i+1)*H])
		}
	}
	if ly.shGate != nil {
		// qwen2moe: the shared expert, scaled by sigmoid(ffn_gate_inp_shexp·x).
		for t := range B {
			s.shg[t] = sigmoid(dot(ly.shGateInp, xn[t*H:(t+1)*H]))
		}
		eout := s.eout[:B*H]
		m.ffn(s, ly.shGate, ly.shUp, ly.shDown, xn, eout, B)
		for t := range B {
			axpy(out[t*H:(t+1)*H], s.shg[t], eout[t*H:(t+1)*H])
		}
	}
}

// moeOne is moe for a single token: the selected experts (and the shared
// one) run side by side, in two fused parallel loops.
func (m *Model) moeOne(s *Sequence, ly *layer) {
	c := &m.Config
	H, F, K, SF := c.Hidden, c.ExpertFFN, c.ExpertsUsed, c.SharedFFN
	xn, out := s.xn[:H], s.out[:H]
	sel, w := s.sel[:K], s.selW[:K]
	n := K*F + SF
	if ly.shGate == nil {
		n = K * F
	}
	g, u := s.g[:n], s.u[:n]
	for i, e := range sel {
		s.queueMatVec(ly.expGate[e], g[i*F:], xn)
		s.queueMatVec(ly.expUp[e], u[i*F:], xn)
	}
	if ly.shGate != nil {
		s.queueMatVec(ly.shGate, g[K*F:], xn)
		s.queueMatVec(ly.shUp, u[K*F:], xn)
	}
	m.runMatVecs(s)
	m.swiglu(g, u)
	for i, e := range sel {
		s.queueMatVec(ly.expDown[e], s.eout[i*H:], g[i*F:(i+1)*F])
	}
	if ly.shGate != nil {
		s.queueMatVec(ly.shDown, s.eout[K*H:], g[K*F:])
	}
	m.runMatVecs(s)
	clear(out)
	for i := range sel {
		axpy(out, w[i], s.eout[i*H:(i+1)*H])
	}
	if ly.shGate != nil {
		// qwen2moe: the shared expert, scaled by sigmoid(ffn_gate_inp_shexp·x).
		axpy(out, sigmoid(dot(ly.shGateInp, xn)), s.eout[K*H:(K+1)*H])
	}
}

// topK writes the indices of the len(sel) largest probabilities of p, in
// descending order (ties to the lower index), and the probabilities to w.
func topK(p []float32, sel []int, w []float32) {
	for k := range sel {
		best := -1
		for e, v := range p {
			if best >= 0 && v <= p[best] {
				continue
			}
			taken := false
			for _, s := range sel[:k] {
				if s == e {
					taken = true
					break
				}
			}
			if !taken {
				best = e
			}
		}
		sel[k], w[k] = best, p[best]
	}
}
