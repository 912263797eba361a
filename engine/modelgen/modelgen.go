// Package modelgen writes tiny GGUF models with random weights: valid input
// for the local engine's loader, tokenizer and tests, and the gateway's
// built-in demo model. The same Spec always gives the same bytes.
package modelgen

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/tensor"
)

// Spec describes a model to generate. Zero fields take the defaults noted.
type Spec struct {
	Name string      // general.name; default "moegate-tiny-<arch>"
	Arch string      // llama, qwen2, qwen3 (dense), qwen2moe, qwen3moe, olmoe, or bert (encoder)
	Type tensor.Type // type of the large matrices; norms, biases and routers stay F32

	Layers  int
	Hidden  int
	Heads   int
	KVHeads int // default Heads
	HeadDim int // default Hidden/Heads
	FFN     int // dense feed-forward length (llama without experts)

	Experts     int // 0: dense (llama only)
	ExpertsUsed int // default 2 (at most Experts)
	ExpertFFN   int // default FFN, else 2*Hidden
	SharedFFN   int // qwen2moe shared expert; default ExpertFFN

	Vocab   int // target vocabulary size; the tokenizer may end up smaller
	Context int // default 2048

	RopeBase  float32 // default 10000
	RopeScale float32 // linear RoPE scaling factor; 0 or 1 = none

	// PerExpertLayout writes a llama MoE's experts as the old separate
	// blk.N.ffn_gate.E.weight tensors instead of merged 3-D ones. The
	// engine still reads such files; llama.cpp no longer does (its llama
	// loader requires ffn_*_exps), so only tests of that reader use it.
	PerExpertLayout bool
	TiedOutput      bool   // omit output.weight (the engine reuses token_embd)
	QKVBias         bool   // attention biases for llama (qwen2 and qwen2moe always have them)
	Tokenizer       string // "gpt2" (default) or "llama"; bert always has WordPiece ("bert")
	// Pooling is <arch>.pooling_type, in llama.cpp's values: 1 mean, 2
	// cls, 3 last. bert defaults to mean; a decoder with a pooling type is
	// an embedding model (0: none written).
	Pooling int
	Seed    uint64
}

// DemoSpec is the gateway's default demo model: a small qwen3moe-style MoE
// (4 layers, hidden 256, 8 experts, top-2, Q8_0) that loads in milliseconds.
// Its weights are random, so its text is gibberish; it exists to exercise the
// whole pipeline without downloading a model.
func DemoSpec() Spec {
	return Spec{
		Name:        "moegate-demo-moe",
		Arch:        "qwen3moe",
		Type:        tensor.Q8_0,
		Layers:      4,
		Hidden:      256,
		Heads:       4,
		KVHeads:     2,
		HeadDim:     64,
		Experts:     8,
		ExpertsUsed: 2,
		ExpertFFN:   256,
		Vocab:       1024,
		Context:     2048,
		Tokenizer:   "gpt2",
		Seed:        20240601,
	}
}

// AllSpec is the spec `gateway modelgen --all DIR --seed SEED` writes as
// <arch>-<type>.gguf (llama as a MoE): 2 layers, hidden 256 (so the
// 256-element K-quant blocks fit), 4 heads, 4 experts of width 256, top-2,
// a 512-token vocabulary. Golden data recorded from llama.cpp on those
// files names them by these flags.
func AllSpec(arch string, t tensor.Type, seed uint64) Spec {
	s := Spec{
		Arch: arch, Type: t, Layers: 2, Hidden: 256, Heads: 4, KVHeads: 2,
		Experts: 4, ExpertsUsed: 2, ExpertFFN: 256, Vocab: 512, Seed: seed,
	}
	switch arch {
	case "qwen2", "qwen3":
		s.Experts, s.ExpertsUsed, s.FFN = 0, 0, 512
	case "olmoe":
		s.KVHeads = 4
	case "bert":
		s = Spec{Arch: arch, Type: t, Layers: 2, Hidden: 256, Heads: 4, FFN: 512, Vocab: 512, Context: 512, Seed: seed}
	}
	return s
}

// Write builds the model of spec and writes it to path.
func Write(path string, spec Spec) error {
	w, err := Build(spec)
	if err != nil {
		return err
	}
	return w.WriteFile(path)
}

// normalize fills in defaults and checks the spec.
func (s Spec) normalize() (Spec, error) {
	switch s.Arch {
	case "bert":
		if s.Experts != 0 || s.KVHeads != 0 && s.KVHeads != s.Heads {
			return s, fmt.Errorf("modelgen: bert is dense with as many kv heads as heads")
		}
		if s.Pooling == 0 {
			s.Pooling = 1
		}
		s.Tokenizer = "bert"
		if s.Context == 0 {
			s.Context = 512
		}
	case "llama":
	case "qwen2", "qwen3":
		if s.Experts != 0 {
			return s, fmt.Errorf("modelgen: %s is dense: Experts must be 0", s.Arch)
		}
	case "qwen2moe", "qwen3moe", "olmoe":
		if s.Experts == 0 {
			return s, fmt.Errorf("modelgen: %s needs Experts > 0", s.Arch)
		}
	default:
		return s, fmt.Errorf("modelgen: unsupported arch %q", s.Arch)
	}
	if s.Pooling < 0 || s.Pooling > 3 {
		return s, fmt.Errorf("modelgen: pooling type %d (want 1 mean, 2 cls or 3 last)", s.Pooling)
	}
	if s.Layers <= 0 || s.Hidden <= 0 || s.Heads <= 0 {
		return s, fmt.Errorf("modelgen: need Layers, Hidden and Heads > 0")
	}
	if s.KVHeads == 0 {
		s.KVHeads = s.Heads
	}
	if s.Heads%s.KVHeads != 0 {
		return s, fmt.Errorf("modelgen: %d heads not a multiple of %d kv heads", s.Heads, s.KVHeads)
	}
	if s.HeadDim == 0 {
		if s.Hidden%s.Heads != 0 {
			return s, fmt.Errorf("modelgen: hidden %d not a multiple of %d heads", s.Hidden, s.Heads)
		}
		s.HeadDim = s.Hidden / s.Heads
	}
	// llama.cpp sizes these architectures' q and output projections by
	// the embedding width, and olmoe norms the whole key vector with a
	// weight of that width (src/models/{qwen2,qwen2moe,olmoe}.cpp): a file
	// with other shapes is refused or aborts there.
	switch s.Arch {
	case "qwen2", "qwen2moe", "olmoe":
		if s.Heads*s.HeadDim != s.Hidden {
			return s, fmt.Errorf("modelgen: %s needs heads*head_dim = hidden (%d*%d != %d), as llama.cpp loads it", s.Arch, s.Heads, s.HeadDim, s.Hidden)
		}
	}
	if s.TiedOutput && (s.Arch == "qwen2moe" || s.Arch == "olmoe") {
		return s, fmt.Errorf("modelgen: llama.cpp's %s requires output.weight: no TiedOutput", s.Arch)
	}
	if s.Arch == "olmoe" && s.QKVBias {
		return s, fmt.Errorf("modelgen: olmoe has no attention biases")
	}
	if s.Arch == "olmoe" && s.KVHeads != s.Heads {
		return s, fmt.Errorf("modelgen: olmoe needs as many kv heads as heads (llama.cpp norms keys at the full width), got %d of %d", s.KVHeads, s.Heads)
	}
	if s.HeadDim%2 != 0 {
		return s, fmt.Errorf("modelgen: odd head dim %d", s.HeadDim)
	}
	if s.Experts > 0 {
		if s.ExpertsUsed == 0 {
			s.ExpertsUsed = min(2, s.Experts)
		}
		if s.ExpertsUsed > s.Experts {
			return s, fmt.Errorf("modelgen: %d experts used of %d", s.ExpertsUsed, s.Experts)
		}
		if s.ExpertFFN == 0 {
			s.ExpertFFN = s.FFN
		}
		if s.ExpertFFN == 0 {
			s.ExpertFFN = 2 * s.Hidden
		}
		if s.Arch == "qwen2moe" && s.SharedFFN == 0 {
			s.SharedFFN = s.ExpertFFN
		}
	} else if s.FFN == 0 {
		s.FFN = 4 * s.Hidden
	}
	if s.Arch != "qwen2moe" {
		s.SharedFFN = 0
	}
	if s.PerExpertLayout && (s.Arch != "llama" || s.Experts == 0) {
		return s, fmt.Errorf("modelgen: PerExpertLayout is for llama MoE models only")
	}
	if s.Context == 0 {
		s.Context = 2048
	}
	if s.RopeBase == 0 {
		s.RopeBase = 10000
	}
	if s.Tokenizer == "" {
		s.Tokenizer = "gpt2"
	}
	if s.Vocab == 0 {
		s.Vocab = 512
	}
	if s.Name == "" {
		s.Name = "moegate-tiny-" + s.Arch
	}
	return s, nil
}

// Build returns a writer holding the model of spec, ready to be written.
func Build(spec Spec) (*gguf.Writer, error) {
	s, err := spec.normalize()
	if err != nil {
		return nil, err
	}
	if s.Arch == "bert" {
		return buildBERT(s)
	}
	var voc *vocabulary
	switch s.Tokenizer {
	case "gpt2":
		voc, err = gpt2Vocab(s.Vocab)
	case "llama":
		voc, err = llamaVocab(s.Vocab)
	default:
		err = fmt.Errorf("modelgen: unknown tokenizer %q (want gpt2 or llama)", s.Tokenizer)
	}
	if err != nil {
		return nil, err
	}
	V := len(voc.tokens)

	w := gguf.NewWriter(3)
	a := s.Arch
	kv := func(k string, v gguf.Value) { w.AddKV(k, v) }
	u32 := func(k string, v int) { kv(a+"."+k, gguf.Uint32(uint32(v))) }
	kv("general.architecture", gguf.String(a))
	kv("general.name", gguf.String(s.Name))
	u32("block_count", s.Layers)
	u32("context_length", s.Context)
	u32("embedding_length", s.Hidden)
	switch {
	case s.Experts == 0:
		u32("feed_forward_length", s.FFN)
	case a == "llama":
		// Mixtral conversions put the expert size in feed_forward_length.
		u32("feed_forward_length", s.ExpertFFN)
	default:
		u32("feed_forward_length", max(s.FFN, s.ExpertFFN))
		u32("expert_feed_forward_length", s.ExpertFFN)
	}
	u32("attention.head_count", s.Heads)
	u32("attention.head_count_kv", s.KVHeads)
	u32("attention.key_length", s.HeadDim)
	u32("attention.value_length", s.HeadDim)
	kv(a+".attention.layer_norm_rms_epsilon", gguf.Float32(1e-6))
	kv(a+".rope.freq_base", gguf.Float32(s.RopeBase))
	u32("rope.dimension_count", s.HeadDim)
	if s.RopeScale != 0 && s.RopeScale != 1 {
		kv(a+".rope.scaling.type", gguf.String("linear"))
		kv(a+".rope.scaling.factor", gguf.Float32(s.RopeScale))
	}
	if s.Experts > 0 {
		u32("expert_count", s.Experts)
		u32("expert_used_count", s.ExpertsUsed)
	}
	if s.SharedFFN > 0 {
		u32("expert_shared_feed_forward_length", s.SharedFFN)
	}
	u32("vocab_size", V)
	if s.Pooling > 0 { // a decoder embedding model (Qwen3-Embedding style)
		u32("pooling_type", s.Pooling)
	}
	writeTokenizer(w, s.Tokenizer, voc)

	g := gen{w: w, r: rand.New(rand.NewPCG(s.Seed, s.Seed^0x6d6f6567617465))}
	H, HD := s.Hidden, s.HeadDim
	qDim, kvDim := s.Heads*HD, s.KVHeads*HD
	inv := func(n int) float64 { return 1 / math.Sqrt(float64(n)) }
	g.tensor("token_embd.weight", s.Type, 0.5, 0, H, V)
	g.tensor("output_norm.weight", tensor.F32, 0.1, 1, H)
	if !s.TiedOutput {
		g.tensor("output.weight", s.Type, inv(H), 0, H, V)
	}
	for i := range s.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		g.tensor(p+"attn_norm.weight", tensor.F32, 0.1, 1, H)
		g.tensor(p+"attn_q.weight", s.Type, inv(H), 0, H, qDim)
		g.tensor(p+"attn_k.weight", s.Type, inv(H), 0, H, kvDim)
		g.tensor(p+"attn_v.weight", s.Type, inv(H), 0, H, kvDim)
		g.tensor(p+"attn_output.weight", s.Type, inv(qDim), 0, qDim, H)
		if a == "qwen2moe" || a == "qwen2" || s.QKVBias {
			g.tensor(p+"attn_q.bias", tensor.F32, 0.1, 0, qDim)
			g.tensor(p+"attn_k.bias", tensor.F32, 0.1, 0, kvDim)
			g.tensor(p+"attn_v.bias", tensor.F32, 0.1, 0, kvDim)
		}
		switch a {
		case "qwen3moe", "qwen3": // per-head norm weights
			g.tensor(p+"attn_q_norm.weight", tensor.F32, 0.1, 1, HD)
			g.tensor(p+"attn_k_norm.weight", tensor.F32, 0.1, 1, HD)
		case "olmoe": // whole-vector norm weights (kvDim = qDim, see normalize)
			g.tensor(p+"attn_q_norm.weight", tensor.F32, 0.1, 1, qDim)
			g.tensor(p+"attn_k_norm.weight", tensor.F32, 0.1, 1, kvDim)
		}
		g.tensor(p+"ffn_norm.weight", tensor.F32, 0.1, 1, H)
		if s.Experts == 0 {
			g.tensor(p+"ffn_gate.weight", s.Type, inv(H), 0, H, s.FFN)
			g.tensor(p+"ffn_up.weight", s.Type, inv(H), 0, H, s.FFN)
			g.tensor(p+"ffn_down.weight", s.Type, inv(s.FFN), 0, s.FFN, H)
			continue
		}
		E, F := s.Experts, s.ExpertFFN
		// A wide router makes the top-k choice clear-cut, so tests of the
		// routing are not at the mercy of rounding.
		g.tensor(p+"ffn_gate_inp.weight", tensor.F32, 2*inv(H), 0, H, E)
		if s.PerExpertLayout {
			for e := range E {
				g.tensor(fmt.Sprintf("%sffn_gate.%d.weight", p, e), s.Type, inv(H), 0, H, F)
				g.tensor(fmt.Sprintf("%sffn_down.%d.weight", p, e), s.Type, inv(F), 0, F, H)
				g.tensor(fmt.Sprintf("%sffn_up.%d.weight", p, e), s.Type, inv(H), 0, H, F)
			}
		} else {
			g.tensor(p+"ffn_gate_exps.weight", s.Type, inv(H), 0, H, F, E)
			g.tensor(p+"ffn_down_exps.weight", s.Type, inv(F), 0, F, H, E)
			g.tensor(p+"ffn_up_exps.weight", s.Type, inv(H), 0, H, F, E)
		}
		if s.SharedFFN > 0 {
			g.tensor(p+"ffn_gate_inp_shexp.weight", tensor.F32, 2*inv(H), 0, H)
			g.tensor(p+"ffn_gate_shexp.weight", s.Type, inv(H), 0, H, s.SharedFFN)
			g.tensor(p+"ffn_up_shexp.weight", s.Type, inv(H), 0, H, s.SharedFFN)
			g.tensor(p+"ffn_down_shexp.weight", s.Type, inv(s.SharedFFN), 0, s.SharedFFN, H)
		}
	}
	if g.err != nil {
		return nil, g.err
	}
	return w, nil
}

// gen draws tensors from one random stream, in a fixed order.
type gen struct {
	w   *gguf.Writer
	r   *rand.Rand
	err error
}

// tensor adds a tensor of the given dims (ne0 first) with values
// mean + N(0, std).
func (g *gen) tensor(name string, t tensor.Type, std, mean float64, dims ...int) {
	if g.err != nil {
		return
	}
	n := 1
	d := make([]uint64, len(dims))
	for i, v := range dims {
		n *= v
		d[i] = uint64(v)
	}
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(mean + std*g.r.NormFloat64())
	}
	if err := g.w.AddTensorF32(name, t, d, vals); err != nil {
		g.err = fmt.Errorf("modelgen: tensor %s: %w", name, err)
	}
}

func writeTokenizer(w *gguf.Writer, kind string, v *vocabulary) {
	kv := func(k string, val gguf.Value) { w.AddKV(k, val) }
	kv("tokenizer.ggml.model", gguf.String(kind))
	if kind == "gpt2" {
		kv("tokenizer.ggml.pre", gguf.String("qwen2"))
	}
	kv("tokenizer.ggml.tokens", gguf.Strings(v.tokens))
	kv("tokenizer.ggml.token_type", gguf.Int32s(v.types))
	if v.scores != nil {
		kv("tokenizer.ggml.scores", gguf.Float32s(v.scores))
	}
	if v.merges != nil {
		kv("tokenizer.ggml.merges", gguf.Strings(v.merges))
	}
	kv("tokenizer.ggml.bos_token_id", gguf.Uint32(uint32(v.bos)))
	kv("tokenizer.ggml.eos_token_id", gguf.Uint32(uint32(v.eos)))
	kv("tokenizer.ggml.padding_token_id", gguf.Uint32(uint32(v.pad)))
	if v.unk >= 0 {
		kv("tokenizer.ggml.unknown_token_id", gguf.Uint32(uint32(v.unk)))
	}
	if kind == "llama" {
		kv("tokenizer.ggml.add_bos_token", gguf.Bool(true))
		kv("tokenizer.ggml.add_space_prefix", gguf.Bool(true))
		kv("tokenizer.chat_template", gguf.String(llama2Template))
	} else {
		kv("tokenizer.ggml.add_bos_token", gguf.Bool(false))
		kv("tokenizer.chat_template", gguf.String(chatMLTemplate))
	}
}
