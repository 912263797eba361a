package model

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/tensor"
)

// Pooling is how an encoder turns its per-token outputs into one vector.
// The values are llama.cpp's enum llama_pooling_type, as stored in
// <arch>.pooling_type.
type Pooling int

const (
	PoolingNone Pooling = 0 // per-token outputs; Encode refuses it
	PoolingMean Pooling = 1 // average of every token's output ([CLS] and [SEP] included)
	PoolingCLS  Pooling = 2 // the first token's output
	PoolingLast Pooling = 3 // the last token's output
)

func (p Pooling) String() string {
	switch p {
	case PoolingNone:
		return "none"
	case PoolingMean:
		return "mean"
	case PoolingCLS:
		return "cls"
	case PoolingLast:
		return "last"
	}
	return fmt.Sprintf("pooling(%d)", int(p))
}

// ParsePooling reads a pooling name ("mean", "cls", "last").
func ParsePooling(s string) (Pooling, error) {
	for _, p := range []Pooling{PoolingMean, PoolingCLS, PoolingLast} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("model: unknown pooling %q (want mean, cls or last)", s)
}

// EncoderConfig holds the hyper-parameters of a BERT-family encoder.
type EncoderConfig struct {
	Arch       string
	Layers     int
	Hidden     int
	FFN        int
	Heads      int
	HeadDim    int
	Vocab      int
	Context    int // rows of position_embd: the longest input
	TokenTypes int // rows of token_types (0 when the file has none)
	NormEps    float32
	Pooling    Pooling // from <arch>.pooling_type; mean when the file says none
}

// Encoder is a loaded BERT encoder (llama.cpp's LLM_ARCH_BERT): learned
// absolute positions, post-layer-norm blocks, GELU feed-forward,
// bidirectional attention. Its weights point into the GGUF file's mapping.
// It is safe for concurrent use.
type Encoder struct {
	Config EncoderConfig

	embd       *tensor.Matrix // Vocab x Hidden
	posType    []float32      // Context x Hidden: position_embd + token_types row 0
	embNormW   []float32
	embNormB   []float32
	layers     []encLayer
	pool       *tensor.Pool
	ownsPool   bool
	exactFloat bool
	scratch    sync.Pool // of *encScratch
	attnBufs   sync.Pool // of *tensor.AttnBuf
}

type encLayer struct {
	wq, wk, wv, wo     *tensor.Matrix
	bq, bk, bv, bo     []float32
	wqkv               *tensor.Matrix // wq, wk, wv stacked for GEMM, or nil
	bqkv               []float32
	attnNormW, attnNrB []float32
	up, down           *tensor.Matrix
	bUp, bDown         []float32
	outNormW, outNormB []float32
}

// IsEncoder reports whether f holds an architecture LoadEncoder reads.
func IsEncoder(f *gguf.File) bool {
	a, _ := f.Str("general.architecture")
	return a == "bert"
}

// LoadEncoder builds an Encoder from an open GGUF file, checking every
// tensor's shape against the metadata. Names and semantics are llama.cpp's
// (llm_build_bert): x = token_embd[t] + token_types[0] + position_embd[p],
// layer-normed; each layer: x = norm(x + attn(x)), x = norm(x + ffn(x)),
// with ffn = down(gelu(up x + b)) + b.
func LoadEncoder(f *gguf.File, opts Options) (*Encoder, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name, _ := f.Str("general.architecture")
	if name != "bert" {
		return nil, fmt.Errorf("model: architecture %q is not an encoder (supported: bert)", name)
	}
	var c EncoderConfig
	c.Arch = name
	key := func(k string) string { return name + "." + k }
	var missing []string
	req := func(k string) int {
		v, ok := f.Uint(key(k))
		if !ok {
			missing = append(missing, key(k))
		}
		return int(v)
	}
	c.Layers = req("block_count")
	c.Hidden = req("embedding_length")
	c.FFN = req("feed_forward_length")
	c.Heads = req("attention.head_count")
	if len(missing) > 0 {
		return nil, fmt.Errorf("model: missing metadata %v", missing)
	}
	if c.Layers <= 0 || c.Hidden <= 0 || c.Heads <= 0 || c.FFN <= 0 || c.Hidden%c.Heads != 0 {
		return nil, fmt.Errorf("model: bad encoder hyper-parameters: %d layers, hidden %d, ffn %d, %d heads", c.Layers, c.Hidden, c.FFN, c.Heads)
	}
	c.HeadDim = c.Hidden / c.Heads
	// BERT's layer norms use 1e-12 (HuggingFace's layer_norm_eps default).
	c.NormEps = 1e-12
	if v, ok := f.Float(key("attention.layer_norm_epsilon")); ok {
		c.NormEps = float32(v)
	}
	c.Pooling = PoolingMean
	if v, ok := f.Uint(key("pooling_type")); ok && v != 0 {
		c.Pooling = Pooling(v)
		if c.Pooling != PoolingMean && c.Pooling != PoolingCLS && c.Pooling != PoolingLast {
			return nil, fmt.Errorf("model: %s = %d unsupported (want 1 mean, 2 cls or 3 last)", key("pooling_type"), v)
		}
	}
	if causal, ok := f.Metadata[key("attention.causal")]; ok {
		if b, ok := causal.Bool(); ok && b {
			return nil, fmt.Errorf("model: %s is true: causal encoders are not supported", key("attention.causal"))
		}
	}

	ti, ok := f.Tensor("token_embd.weight")
	if !ok || len(ti.Dims) != 2 {
		return nil, fmt.Errorf("model: missing or malformed tensor token_embd.weight")
	}
	c.Vocab = int(ti.Dims[1])
	pi, ok := f.Tensor("position_embd.weight")
	if !ok || len(pi.Dims) != 2 {
		return nil, fmt.Errorf("model: missing or malformed tensor position_embd.weight")
	}
	c.Context = int(pi.Dims[1])
	if v, ok := f.Uint(key("context_length")); ok && int(v) < c.Context {
		c.Context = int(v)
	}
	H := c.Hidden
	l := loader{f: f}
	e := &Encoder{exactFloat: opts.ExactFloat}
	e.embd = l.mat("token_embd.weight", c.Vocab, H)
	pos := l.mat("position_embd.weight", int(pi.Dims[1]), H)
	if tt, ok := f.Tensor("token_types.weight"); ok && len(tt.Dims) == 2 {
		c.TokenTypes = int(tt.Dims[1])
		types := l.mat("token_types.weight", c.TokenTypes, H)
		e.posType = make([]float32, c.Context*H)
		if types != nil {
			// Every input is one segment: token type 0.
			if err := types.RowF32(0, e.posType[:H]); err != nil {
				l.fail(fmt.Errorf("model: token_types.weight: %w", err))
			}
			for p := 1; p < c.Context; p++ {
				copy(e.posType[p*H:(p+1)*H], e.posType[:H])
			}
		}
	} else {
		e.posType = make([]float32, c.Context*H)
	}
	if pos != nil && l.err == nil {
		row := make([]float32, H)
		for p := range c.Context {
			if err := pos.RowF32(p, row); err != nil {
				l.fail(fmt.Errorf("model: position_embd.weight: %w", err))
				break
			}
			add(e.posType[p*H:(p+1)*H], row)
		}
	}
	e.embNormW = l.vec("token_embd_norm.weight", H)
	e.embNormB = l.vec("token_embd_norm.bias", H)
	if l.err != nil {
		return nil, l.err
	}
	e.layers = make([]encLayer, c.Layers)
	for i := range e.layers {
		p := fmt.Sprintf("blk.%d.", i)
		ly := &e.layers[i]
		ly.wq, ly.bq = l.mat(p+"attn_q.weight", H, H), l.vec(p+"attn_q.bias", H)
		ly.wk, ly.bk = l.mat(p+"attn_k.weight", H, H), l.vec(p+"attn_k.bias", H)
		ly.wv, ly.bv = l.mat(p+"attn_v.weight", H, H), l.vec(p+"attn_v.bias", H)
		ly.wo, ly.bo = l.mat(p+"attn_output.weight", H, H), l.vec(p+"attn_output.bias", H)
		ly.attnNormW, ly.attnNrB = l.vec(p+"attn_output_norm.weight", H), l.vec(p+"attn_output_norm.bias", H)
		ly.up, ly.bUp = l.mat(p+"ffn_up.weight", c.FFN, H), l.vec(p+"ffn_up.bias", c.FFN)
		ly.down, ly.bDown = l.mat(p+"ffn_down.weight", H, c.FFN), l.vec(p+"ffn_down.bias", H)
		ly.outNormW, ly.outNormB = l.vec(p+"layer_output_norm.weight", H), l.vec(p+"layer_output_norm.bias", H)
		if l.err != nil {
			return nil, l.err
		}
		// Every product of an encoder is a batch: repack the weights
		// for the matrix-matrix kernels, keeping one resident copy, the
		// query, key and value projections as one matrix (one pass over
		// the input). Q8_0's multiplies quantized activations, so
		// --exact-float keeps the float-activation MatMul for it.
		if ly.wq.Type != tensor.Q8_0 || !e.exactFloat {
			qkv, err := tensor.StackRows(ly.wq, ly.wk, ly.wv)
			if err != nil {
				return nil, fmt.Errorf("model: layer %d: %w", i, err)
			}
			if qkv.PackGEMM() {
				ly.wqkv = qkv
				ly.bqkv = make([]float32, 3*H)
				copy(ly.bqkv, ly.bq)
				copy(ly.bqkv[H:], ly.bk)
				copy(ly.bqkv[2*H:], ly.bv)
				for _, m := range []*tensor.Matrix{ly.wq, ly.wk, ly.wv} {
					f.PageOut(m.Data)
				}
			}
		}
		for _, m := range []*tensor.Matrix{ly.wo, ly.up, ly.down} {
			if (m.Type != tensor.Q8_0 || !e.exactFloat) && m.PackGEMM() {
				f.PageOut(m.Data)
			}
		}
	}
	e.Config = c
	e.pool = opts.Pool
	if e.pool == nil {
		e.pool = tensor.NewPool(runtime.GOMAXPROCS(0))
		e.ownsPool = true
	}
	e.scratch.New = func() any { return new(encScratch) }
	e.attnBufs.New = func() any { return new(tensor.AttnBuf) }
	log.Info("model: loaded encoder", "arch", c.Arch, "layers", c.Layers, "hidden", c.Hidden,
		"ffn", c.FFN, "heads", c.Heads, "vocab", c.Vocab, "context", c.Context, "pooling", c.Pooling.String(),
		"type", e.layers[0].wq.Type.String())
	return e, nil
}

// Close releases the encoder's own thread pool, if it created one.
func (e *Encoder) Close() {
	if e.ownsPool {
		e.pool.Close()
		e.ownsPool = false
	}
}

// encScratch holds the buffers of one Encode call: T tokens of all the
// call's sequences, packed one after the other.
type encScratch struct {
	x, q, k, v, att, out, g []float32
	qkv                     []float32 // T×3H: q, k, v of a token side by side
	act                     []byte
	gemm                    tensor.GEMMBuf
	// the sequences' first tokens, then T
	starts []int
}

func (s *encScratch) ensure(T int, c *EncoderConfig) {
	H := c.Hidden
	grow := func(b []float32, n int) []float32 {
		if cap(b) < n {
			return make([]float32, n)
		}
		return b[:n]
	}
	s.x = grow(s.x, T*H)
	s.q = grow(s.q, T*H)
	s.k = grow(s.k, T*H)
	s.v = grow(s.v, T*H)
	s.att = grow(s.att, T*H)
	s.out = grow(s.out, T*H)
	s.g = grow(s.g, T*c.FFN)
	s.qkv = grow(s.qkv, 3*T*H)
}

// ErrTooLong is returned (wrapped) by Encode for a sequence longer than the
// encoder's position table.
var ErrTooLong = errors.New("model: input longer than the encoder's context")

// Encode runs the token sequences through the encoder together (their
// matrix products share one pass over the weights; attention stays within
// each sequence) and returns one pooled vector of Hidden floats per
// sequence, not normalised. A sequence's vector does not depend on the
// other sequences of the call, but for rounding: products of four vectors
// at once sum in another order than products of one.
func (e *Encoder) Encode(seqs [][]int32, pooling Pooling) ([][]float32, error) {
	c := &e.Config
	if pooling != PoolingMean && pooling != PoolingCLS && pooling != PoolingLast {
		return nil, fmt.Errorf("model: Encode with pooling %v", pooling)
	}
	T := 0
	for i, toks := range seqs {
		if len(toks) == 0 {
			return nil, fmt.Errorf("model: sequence %d is empty", i)
		}
		if len(toks) > c.Context {
			return nil, fmt.Errorf("%w: sequence %d has %d tokens, context %d", ErrTooLong, i, len(toks), c.Context)
		}
		for j, t := range toks {
			if t < 0 || int(t) >= c.Vocab {
				return nil, fmt.Errorf("model: sequence %d: token %d at index %d out of range [0,%d)", i, t, j, c.Vocab)
			}
		}
		T += len(toks)
	}
	out := make([][]float32, len(seqs))
	if T == 0 {
		return out, nil
	}
	s := e.scratch.Get().(*encScratch)
	defer e.scratch.Put(s)
	s.ensure(T, c)
	H := c.Hidden
	s.starts = s.starts[:0]
	t := 0
	for _, toks := range seqs {
		s.starts = append(s.starts, t)
		for p, id := range toks {
			row := s.x[t*H : (t+1)*H]
			if err := tensor.Dequantize(e.embd.Type, e.embd.Row(int(id)), row); err != nil {
				return nil, fmt.Errorf("model: token_embd.weight: %w", err)
			}
			add(row, e.posType[p*H:(p+1)*H])
			tensor.LayerNorm(row, row, e.embNormW, e.embNormB, c.NormEps)
			t++
		}
	}
	s.starts = append(s.starts, T)
	for il := range e.layers {
		e.layer(s, &e.layers[il], T)
	}
	for i, toks := range seqs {
		v := make([]float32, H)
		x := s.x[s.starts[i]*H : s.starts[i+1]*H]
		switch pooling {
		case PoolingCLS:
			copy(v, x[:H])
		case PoolingLast:
			copy(v, x[(len(toks)-1)*H:])
		case PoolingMean:
			// Summed in float64 so that long inputs lose nothing.
			acc := make([]float64, H)
			for r := 0; r < len(x); r += H {
				for j, f := range x[r : r+H] {
					acc[j] += float64(f)
				}
			}
			for j := range v {
				v[j] = float32(acc[j] / float64(len(toks)))
			}
		}
		out[i] = v
	}
	return out, nil
}

// layer runs one encoder block over the T packed tokens in s.x.
func (e *Encoder) layer(s *encScratch, ly *encLayer, T int) {
	c := &e.Config
	H := c.Hidden
	x := s.x[:T*H]
	// q, k and v of token t at q[t*stride:], k[t*stride:], v[t*stride:].
	q, k, v, stride := s.q[:T*H], s.k[:T*H], s.v[:T*H], H
	if ly.wqkv != nil {
		qkv := s.qkv[:3*T*H]
		e.matmul(s, ly.wqkv, qkv, x, ly.bqkv, T, false)
		q, k, v, stride = qkv, qkv[H:], qkv[2*H:], 3*H
	} else {
		e.matmul(s, ly.wq, q, x, ly.bq, T, false)
		e.matmul(s, ly.wk, k, x, ly.bk, T, false)
		e.matmul(s, ly.wv, v, x, ly.bv, T, false)
	}
	scale := float32(1 / math.Sqrt(float64(c.HeadDim)))
	HD := c.HeadDim
	nseq := len(s.starts) - 1
	// One item per (sequence, head).
	e.pool.For(nseq*c.Heads, func(lo, hi int) {
		buf := e.attnBufs.Get().(*tensor.AttnBuf)
		defer e.attnBufs.Put(buf)
		for it := lo; it < hi; it++ {
			sq, h := it/c.Heads, it%c.Heads
			a, b := s.starts[sq], s.starts[sq+1]
			o := a*stride + h*HD
			tensor.AttendSeq(s.att[a*H+h*HD:], q[o:], k[o:], v[o:], b-a, HD, stride, H, scale, buf)
		}
	})
	// x += attention output projection, then normed; the same around
	// the feed-forward.
	e.matmul(s, ly.wo, x, s.att[:T*H], ly.bo, T, true)
	e.norm(x, ly.attnNormW, ly.attnNrB, T)
	g := s.g[:T*c.FFN]
	e.matmul(s, ly.up, g, x, ly.bUp, T, false)
	e.pool.For(T, func(lo, hi int) { tensor.GELU(g[lo*c.FFN : hi*c.FFN]) })
	e.matmul(s, ly.down, x, g, ly.bDown, T, true)
	e.norm(x, ly.outNormW, ly.outNormB, T)
}

// norm layer-norms each of the T rows of x in place.
func (e *Encoder) norm(x, w, b []float32, T int) {
	H := e.Config.Hidden
	e.pool.For(T, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			r := x[t*H : (t+1)*H]
			tensor.LayerNorm(r, r, w, b, e.Config.NormEps)
		}
	})
}

// matmul sets dst = bias + w·x for the n vectors of x, or with
// accumulate, dst += bias + w·x.
func (e *Encoder) matmul(s *encScratch, w *tensor.Matrix, dst, x, bias []float32, n int, accumulate bool) {
	if w.HasGEMM() {
		w.MatMulGEMM(e.pool, dst, x, bias, n, accumulate, &s.gemm)
		return
	}
	out := dst
	if accumulate {
		out = s.out[:len(dst)]
	}
	if _, act := tensor.ActType(w.Type); act && !e.exactFloat {
		s.act = w.MatMulAct(e.pool, out, x, n, s.act)
	} else {
		w.MatMul(e.pool, out, x, n)
	}
	addBias(out, bias)
	if accumulate {
		add(dst, out)
	}
}

// Embed runs tokens through a decoder model from an empty cache (s is reset
// first) and pools the final-norm hidden states, as llama.cpp does for
// decoder embedding models (Qwen3-Embedding: last token; others: mean).
// The vector has Hidden floats and is not normalised.
func (m *Model) Embed(s *Sequence, tokens []int32, pooling Pooling) ([]float32, error) {
	if pooling != PoolingMean && pooling != PoolingLast && pooling != PoolingCLS {
		return nil, fmt.Errorf("model: Embed with pooling %v", pooling)
	}
	if len(tokens) == 0 {
		return nil, errors.New("model: Embed with no tokens")
	}
	if s.m != m {
		return nil, errors.New("model: sequence belongs to another model")
	}
	if len(tokens) > s.cap {
		return nil, fmt.Errorf("%w: %d tokens, context %d", ErrTooLong, len(tokens), s.cap)
	}
	V := m.Config.Vocab
	for i, t := range tokens {
		if t < 0 || int(t) >= V {
			return nil, fmt.Errorf("model: token %d at index %d out of range [0,%d)", t, i, V)
		}
	}
	s.Reset()
	H := m.Config.Hidden
	acc := make([]float64, H)
	out := make([]float32, H)
	for start := 0; start < len(tokens); start += maxBatch {
		chunk := tokens[start:min(len(tokens), start+maxBatch)]
		if err := m.forwardChunk(s, chunk); err != nil {
			return nil, err
		}
		for t := range chunk {
			p := start + t
			if pooling == PoolingCLS && p != 0 || pooling == PoolingLast && p != len(tokens)-1 {
				continue
			}
			h := s.xn[:H]
			rmsNorm(h, s.x[t*H:(t+1)*H], m.outNorm, m.Config.NormEps)
			if pooling != PoolingMean {
				copy(out, h)
				continue
			}
			for j, v := range h {
				acc[j] += float64(v)
			}
		}
	}
	if pooling == PoolingMean {
		for j := range out {
			out[j] = float32(acc[j] / float64(len(tokens)))
		}
	}
	return out, nil
}
