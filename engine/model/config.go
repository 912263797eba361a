package model

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/moegate/moegate/engine/gguf"
)

// Config holds the hyper-parameters of a model, read from GGUF metadata and
// checked against the tensor shapes.
type Config struct {
	Arch    string
	Layers  int
	Hidden  int // embedding length
	FFN     int // dense feed-forward length (0 for pure MoE models)
	Heads   int
	KVHeads int
	HeadDim int
	Vocab   int
	Context int // trained context length

	Experts     int // 0 for a dense model
	ExpertsUsed int // top-k
	ExpertFFN   int // feed-forward length of one routed expert
	SharedFFN   int // feed-forward length of the shared expert (qwen2moe), else 0

	NormEps   float32
	RopeBase  float32
	RopeDim   int     // number of leading dimensions of each head that are rotated
	RopeNeoX  bool    // rotate pairs (i, i+RopeDim/2) instead of (2i, 2i+1)
	RopeScale float32 // linear scaling factor: positions are divided by it (1 = none)

	// NormTopK renormalises the selected experts' weights to sum to 1.
	NormTopK bool
	// QKNorm says whether and how q and k are RMS-normalised before RoPE.
	QKNorm QKNorm
	// SharedExpert is true when each layer has a sigmoid-gated shared expert.
	SharedExpert bool
}

// QKNorm is the kind of RMSNorm applied to queries and keys.
type QKNorm int

const (
	QKNormNone QKNorm = iota
	QKNormHead        // per head, weight of size HeadDim (qwen3moe)
	QKNormFull        // over the whole q (k) vector, weight of size Heads*HeadDim (KVHeads*HeadDim) (olmoe)
)

// arch describes what differs between the supported architectures. Every
// choice follows llama.cpp:
//   - neox: llama_model_rope_type in src/llama-model.cpp lists QWEN2MOE,
//     QWEN3MOE and OLMOE under LLAMA_ROPE_TYPE_NEOX ("pairs of head values are
//     offset by n_rot/2"); LLAMA is LLAMA_ROPE_TYPE_NORM (adjacent pairs).
//   - normTopK: the norm_w argument each model's graph passes to
//     build_moe_ffn: llama (Mixtral) true, qwen2moe false, qwen3moe true,
//     olmoe false (src/models/{llama,qwen2moe,qwen3moe,olmoe}.cpp).
//   - qkNorm: qwen3moe creates attn_q_norm/attn_k_norm of {n_embd_head_k} and
//     normalises the 3-D (per head) Qcur/Kcur; olmoe creates them of {n_embd}
//     and normalises Qcur/Kcur before the reshape to heads, i.e. over the
//     whole vector.
//   - shared: qwen2moe adds ffn_*_shexp scaled by sigmoid(ffn_gate_inp_shexp·x).
type arch struct {
	neox     bool
	normTopK bool
	qkNorm   QKNorm
	shared   bool
	moe      bool // experts are mandatory
	dense    bool // experts are not allowed
}

func lookupArch(name string) (arch, bool) {
	switch name {
	case "llama":
		return arch{neox: false, normTopK: true}, true
	case "qwen2moe":
		return arch{neox: true, normTopK: false, shared: true, moe: true}, true
	case "qwen3moe":
		return arch{neox: true, normTopK: true, qkNorm: QKNormHead, moe: true}, true
	case "olmoe":
		return arch{neox: true, normTopK: false, qkNorm: QKNormFull, moe: true}, true
	case "qwen2": // dense; q/k/v biases when the file has them
		return arch{neox: true, dense: true}, true
	case "qwen3": // dense
		return arch{neox: true, qkNorm: QKNormHead, dense: true}, true
	}
	return arch{}, false
}

// readConfig reads the hyper-parameters from f's metadata. Shapes are
// checked later against the tensors.
func readConfig(f *gguf.File, log *slog.Logger) (Config, error) {
	var c Config
	name, ok := f.Str("general.architecture")
	if !ok {
		return c, fmt.Errorf("model: missing metadata general.architecture")
	}
	a, ok := lookupArch(name)
	if !ok {
		return c, fmt.Errorf("model: unsupported architecture %q (supported: llama, qwen2, qwen3, qwen2moe, qwen3moe, olmoe)", name)
	}
	c.Arch = name
	key := func(k string) string { return name + "." + k }
	var errs []string
	req := func(k string) int {
		v, ok := f.Uint(key(k))
		if !ok {
			errs = append(errs, key(k))
			return 0
		}
		return int(v)
	}
	opt := func(k string, def int) int {
		if v, ok := f.Uint(key(k)); ok {
			return int(v)
		}
		return def
	}
	c.Layers = req("block_count")
	c.Hidden = req("embedding_length")
	c.Heads = req("attention.head_count")
	if len(errs) > 0 {
		return c, fmt.Errorf("model: missing metadata %s", strings.Join(errs, ", "))
	}
	c.Context = opt("context_length", 2048)
	if c.Context <= 0 {
		return c, fmt.Errorf("model: context_length %d", c.Context)
	}
	c.FFN = opt("feed_forward_length", 0)
	c.KVHeads = opt("attention.head_count_kv", c.Heads)
	if c.Heads <= 0 || c.Hidden <= 0 || c.Layers <= 0 {
		return c, fmt.Errorf("model: bad hyper-parameters: %d layers, hidden %d, %d heads", c.Layers, c.Hidden, c.Heads)
	}
	c.HeadDim = opt("attention.key_length", c.Hidden/c.Heads)
	if v := opt("attention.value_length", c.HeadDim); v != c.HeadDim {
		return c, fmt.Errorf("model: %s (%d) differs from key_length (%d): unsupported", key("attention.value_length"), v, c.HeadDim)
	}
	if c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 {
		return c, fmt.Errorf("model: %d heads not a multiple of %d kv heads", c.Heads, c.KVHeads)
	}
	c.Experts = opt("expert_count", 0)
	c.ExpertsUsed = opt("expert_used_count", 0)
	if c.Experts > 0 {
		if c.ExpertsUsed <= 0 || c.ExpertsUsed > c.Experts {
			return c, fmt.Errorf("model: expert_used_count %d out of range 1..%d", c.ExpertsUsed, c.Experts)
		}
		// llama (Mixtral) and olmoe size their experts by
		// feed_forward_length; qwen2moe and qwen3moe read
		// expert_feed_forward_length and fall back to n_ff / n_expert_used
		// (load_arch_hparams/load_arch_tensors in llama.cpp).
		def := c.FFN
		if name == "qwen2moe" || name == "qwen3moe" {
			def = c.FFN / c.ExpertsUsed
		}
		c.ExpertFFN = opt("expert_feed_forward_length", def)
	} else if a.moe {
		return c, fmt.Errorf("model: architecture %s needs %s > 0", name, key("expert_count"))
	}
	if a.dense && c.Experts > 0 {
		return c, fmt.Errorf("model: architecture %s is dense but has %s = %d", name, key("expert_count"), c.Experts)
	}
	if a.shared {
		c.SharedFFN = opt("expert_shared_feed_forward_length", c.FFN)
	}
	c.NormEps = 1e-5
	if v, ok := f.Float(key("attention.layer_norm_rms_epsilon")); ok {
		c.NormEps = float32(v)
	} else {
		log.Warn("model: no rms epsilon in metadata, using default", "eps", c.NormEps)
	}
	c.RopeBase = 10000
	if v, ok := f.Float(key("rope.freq_base")); ok {
		c.RopeBase = float32(v)
	}
	c.RopeDim = opt("rope.dimension_count", c.HeadDim)
	if c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0 {
		return c, fmt.Errorf("model: rope dimension %d invalid for head dim %d", c.RopeDim, c.HeadDim)
	}
	c.RopeNeoX = a.neox
	c.RopeScale = 1
	typ, _ := f.Str(key("rope.scaling.type"))
	factor, hasFactor := f.Float(key("rope.scaling.factor"))
	if old, ok := f.Float(key("rope.scale_linear")); ok && typ == "" {
		typ, factor, hasFactor = "linear", old, true
	}
	switch typ {
	case "", "none":
	case "linear":
		if hasFactor && factor > 0 {
			c.RopeScale = float32(factor)
		}
	default:
		log.Warn("model: rope scaling type not supported, ignored", "type", typ)
	}
	c.NormTopK = a.normTopK
	c.QKNorm = a.qkNorm
	c.SharedExpert = a.shared
	// Without vocab_size the vocabulary is token_embd's row count (which may
	// exceed the tokenizer's token list: converters pad it).
	c.Vocab = opt("vocab_size", 0)
	return c, nil
}
