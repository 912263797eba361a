package model

import (
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/tensor"
	"github.com/moegate/moegate/internal/units"
)

// Options configure Load.
type Options struct {
	// Pool runs the kernels; nil means a pool of GOMAXPROCS threads owned
	// (and closed by Close) by the model.
	Pool   *tensor.Pool
	Logger *slog.Logger // nil discards

	// ExactFloat multiplies quantized weights with float activations.
	// Otherwise activations are quantized once per product, as llama.cpp's
	// CPU backend does (Q8_0 for Q4_0/Q5_0/Q8_0 weights, Q8_1 for
	// Q4_1/Q5_1, Q8_K for Q4_K/Q5_K/Q6_K), and the kernels multiply
	// integers: faster, and rounded as llama.cpp rounds, so greedy output
	// follows llama.cpp's on quantized files.
	ExactFloat bool
}

// Model is a loaded transformer. Its weights are read-only after Load and
// point into the GGUF file's mapping, so the file must stay open while the
// model is used. A Model is safe for concurrent use by several Sequences.
type Model struct {
	Config Config

	embd       *tensor.Matrix // Vocab x Hidden
	outNorm    []float32
	output     *tensor.Matrix // Vocab x Hidden (may be embd when tied)
	layers     []layer
	invFreq    []float64 // RoPE inverse frequencies, RopeDim/2
	pool       *tensor.Pool
	ownsPool   bool
	exactFloat bool
	log        *slog.Logger

	load []atomic.Uint64 // [layer*Experts+expert], cumulative routed tokens
}

type layer struct {
	attnNorm       []float32
	wq, wk, wv, wo *tensor.Matrix
	bq, bk, bv, bo []float32 // optional biases
	qNorm, kNorm   []float32 // optional QK-norm weights

	ffnNorm []float32

	// dense feed-forward
	gate, up, down *tensor.Matrix

	// routed experts
	router                  *tensor.Matrix // Experts x Hidden
	expGate, expUp, expDown []*tensor.Matrix
	shGateInp               []float32 // Hidden: shared-expert gate
	shGate, shUp, shDown    *tensor.Matrix
}

// Load builds a Model from an open GGUF file, validating every tensor's
// shape against the metadata.
func Load(f *gguf.File, opts Options) (*Model, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	cfg, err := readConfig(f, log)
	if err != nil {
		return nil, err
	}
	m := &Model{log: log}
	l := loader{f: f, pack: !opts.ExactFloat}

	ti, ok := f.Tensor("token_embd.weight")
	if !ok {
		return nil, fmt.Errorf("model: missing tensor token_embd.weight")
	}
	if len(ti.Dims) != 2 {
		return nil, fmt.Errorf("model: tensor token_embd.weight: %d dims, want 2", len(ti.Dims))
	}
	if cfg.Vocab == 0 {
		cfg.Vocab = int(ti.Dims[1])
	}
	H, V := cfg.Hidden, cfg.Vocab
	m.embd = l.matNoPack("token_embd.weight", V, H) // its rows are read one by one
	m.outNorm = l.vec("output_norm.weight", H)
	if _, ok := f.Tensor("output.weight"); ok {
		m.output = l.mat("output.weight", V, H)
	} else {
		m.output = m.embd // tied embeddings
		if l.pack && m.output != nil {
			// Its rows stay resident (every token reads one) unless PackIn
			// moved them (Q6_K).
			if data := m.output.Data; m.output.PackIn(&l.arena) && unsafe.SliceData(m.output.Data) != unsafe.SliceData(data) {
				l.f.PageOut(data)
			}
		}
	}
	if l.err != nil {
		return nil, l.err
	}

	qDim, kvDim := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	m.layers = make([]layer, cfg.Layers)
	for i := range m.layers {
		p := fmt.Sprintf("blk.%d.", i)
		ly := &m.layers[i]
		ly.attnNorm = l.vec(p+"attn_norm.weight", H)
		ly.wq = l.mat(p+"attn_q.weight", qDim, H)
		ly.wk = l.mat(p+"attn_k.weight", kvDim, H)
		ly.wv = l.mat(p+"attn_v.weight", kvDim, H)
		ly.wo = l.mat(p+"attn_output.weight", H, qDim)
		ly.bq = l.optVec(p+"attn_q.bias", qDim)
		ly.bk = l.optVec(p+"attn_k.bias", kvDim)
		ly.bv = l.optVec(p+"attn_v.bias", kvDim)
		ly.bo = l.optVec(p+"attn_output.bias", H)
		switch cfg.QKNorm {
		case QKNormHead:
			ly.qNorm = l.vec(p+"attn_q_norm.weight", cfg.HeadDim)
			ly.kNorm = l.vec(p+"attn_k_norm.weight", cfg.HeadDim)
		case QKNormFull:
			ly.qNorm = l.vec(p+"attn_q_norm.weight", qDim)
			// llama.cpp's loader wants the key norm at the full width even
			// with fewer KV heads; the norm applies to the KV width, so
			// its first kvDim weights are the ones used.
			if ti, ok := f.Tensor(p + "attn_k_norm.weight"); ok && kvDim < qDim && ti.Elements() == uint64(qDim) {
				ly.kNorm = l.vec(p+"attn_k_norm.weight", qDim)[:kvDim]
			} else {
				ly.kNorm = l.vec(p+"attn_k_norm.weight", kvDim)
			}
		}
		ly.ffnNorm = l.vec(p+"ffn_norm.weight", H)
		if cfg.Experts == 0 {
			if cfg.FFN <= 0 {
				l.fail(fmt.Errorf("model: dense model needs %s.feed_forward_length", cfg.Arch))
				break
			}
			ly.gate = l.mat(p+"ffn_gate.weight", cfg.FFN, H)
			ly.up = l.mat(p+"ffn_up.weight", cfg.FFN, H)
			ly.down = l.mat(p+"ffn_down.weight", H, cfg.FFN)
		} else {
			E, F := cfg.Experts, cfg.ExpertFFN
			ly.router = l.mat(p+"ffn_gate_inp.weight", E, H)
			if _, ok := f.Tensor(p + "ffn_gate_exps.weight"); ok {
				ly.expGate = l.mats3(p+"ffn_gate_exps.weight", F, H, E)
				ly.expUp = l.mats3(p+"ffn_up_exps.weight", F, H, E)
				ly.expDown = l.mats3(p+"ffn_down_exps.weight", H, F, E)
			} else {
				// Older Mixtral conversions store one 2-D tensor per expert.
				ly.expGate = make([]*tensor.Matrix, E)
				ly.expUp = make([]*tensor.Matrix, E)
				ly.expDown = make([]*tensor.Matrix, E)
				for e := range E {
					ly.expGate[e] = l.mat(fmt.Sprintf("%sffn_gate.%d.weight", p, e), F, H)
					ly.expUp[e] = l.mat(fmt.Sprintf("%sffn_up.%d.weight", p, e), F, H)
					ly.expDown[e] = l.mat(fmt.Sprintf("%sffn_down.%d.weight", p, e), H, F)
				}
			}
			if cfg.SharedExpert {
				ly.shGateInp = l.vec(p+"ffn_gate_inp_shexp.weight", H)
				ly.shGate = l.mat(p+"ffn_gate_shexp.weight", cfg.SharedFFN, H)
				ly.shUp = l.mat(p+"ffn_up_shexp.weight", cfg.SharedFFN, H)
				ly.shDown = l.mat(p+"ffn_down_shexp.weight", H, cfg.SharedFFN)
			}
		}
		if l.err != nil {
			return nil, l.err
		}
		log.Debug("model: loaded layer", "layer", i, "of", cfg.Layers)
	}

	m.Config = cfg
	m.invFreq = make([]float64, cfg.RopeDim/2)
	for i := range m.invFreq {
		m.invFreq[i] = math.Pow(float64(cfg.RopeBase), -2*float64(i)/float64(cfg.RopeDim))
	}
	m.load = make([]atomic.Uint64, cfg.Layers*cfg.Experts)
	m.pool = opts.Pool
	m.exactFloat = opts.ExactFloat
	if m.pool == nil {
		m.pool = tensor.NewPool(runtime.GOMAXPROCS(0))
		m.ownsPool = true
	}
	log.Info("model: loaded", "arch", cfg.Arch, "layers", cfg.Layers, "hidden", cfg.Hidden,
		"experts", cfg.Experts, "top_k", cfg.ExpertsUsed, "vocab", cfg.Vocab,
		"type", m.layers[0].wq.Type.String(), "exact_float", m.exactFloat, "load_ms", units.MS(time.Since(start)))
	return m, nil
}

// Close releases the model's own thread pool, if it created one.
func (m *Model) Close() {
	if m.ownsPool {
		m.pool.Close()
		m.ownsPool = false
	}
}

// loader records the first error so that Load reads as a list of tensors.
type loader struct {
	f   *gguf.File
	err error
	// pack: the matrices feed the quantized-activation kernels, so they
	// get the layout the fastest of them read (tensor.Matrix.PackIn), in
	// memory from arena.
	pack  bool
	arena tensor.Arena
}

func (l *loader) fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

func dimsString(d []uint64) string {
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = fmt.Sprint(v)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// check finds name and verifies its dims (ne0 first).
func (l *loader) check(name string, want ...uint64) *gguf.TensorInfo {
	if l.err != nil {
		return nil
	}
	ti, ok := l.f.Tensor(name)
	if !ok {
		l.fail(fmt.Errorf("model: missing tensor %s", name))
		return nil
	}
	dims := ti.Dims
	// 1-D tensors are sometimes stored as [n 1].
	for len(dims) > len(want) && dims[len(dims)-1] == 1 {
		dims = dims[:len(dims)-1]
	}
	if !slices.Equal(dims, want) {
		l.fail(fmt.Errorf("model: tensor %s has shape %s, want %s", name, dimsString(ti.Dims), dimsString(want)))
		return nil
	}
	return ti
}

func (l *loader) vec(name string, n int) []float32 {
	ti := l.check(name, uint64(n))
	if ti == nil {
		return nil
	}
	out := make([]float32, n)
	if err := tensor.Dequantize(ti.Type, l.f.TensorData(ti), out); err != nil {
		l.fail(fmt.Errorf("model: tensor %s: %w", name, err))
		return nil
	}
	return out
}

func (l *loader) optVec(name string, n int) []float32 {
	if _, ok := l.f.Tensor(name); !ok {
		return nil
	}
	return l.vec(name, n)
}

func (l *loader) mat(name string, rows, cols int) *tensor.Matrix {
	mt := l.matNoPack(name, rows, cols)
	if l.pack && mt != nil {
		l.packIn(mt)
	}
	return mt
}

// packIn packs mt into the loader's arena and releases the file's pages
// of what it no longer reads: one resident copy of the weights, as
// llama.cpp's repacking keeps.
func (l *loader) packIn(mt *tensor.Matrix) {
	if data := mt.Data; mt.PackIn(&l.arena) {
		l.f.PageOut(data)
	}
}

func (l *loader) matNoPack(name string, rows, cols int) *tensor.Matrix {
	if l.check(name, uint64(cols), uint64(rows)) == nil {
		return nil
	}
	mt, err := l.f.Matrix(name)
	if err != nil {
		l.fail(fmt.Errorf("model: tensor %s: %w", name, err))
		return nil
	}
	return mt
}

func (l *loader) mats3(name string, rows, cols, n int) []*tensor.Matrix {
	if l.check(name, uint64(cols), uint64(rows), uint64(n)) == nil {
		return nil
	}
	ms, err := l.f.Matrices3D(name)
	if err != nil {
		l.fail(fmt.Errorf("model: tensor %s: %w", name, err))
		return nil
	}
	if l.pack {
		for _, m := range ms {
			l.packIn(m)
		}
	}
	return ms
}
