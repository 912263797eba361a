package modelgen

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/tensor"
)

// llamaCppHparams are the metadata llama.cpp's loader reads to size tensors.
type llamaCppHparams struct {
	embd, ff, ffExp, ffShexp, layers, head, headKV, headDim, expert, vocab, ctx int
}

func readHparams(t *testing.T, f *gguf.File) (string, llamaCppHparams) {
	t.Helper()
	arch, _ := f.Str("general.architecture")
	get := func(key string, def int) int {
		if v, ok := f.Uint(arch + "." + key); ok {
			return int(v)
		}
		return def
	}
	h := llamaCppHparams{
		embd: get("embedding_length", 0), ff: get("feed_forward_length", 0), layers: get("block_count", 0),
		head: get("attention.head_count", 0), expert: get("expert_count", 0), ctx: get("context_length", 0),
	}
	h.headKV = get("attention.head_count_kv", h.head)
	h.headDim = get("attention.key_length", h.embd/h.head)
	h.ffExp = get("expert_feed_forward_length", h.ff)
	h.ffShexp = get("expert_shared_feed_forward_length", h.ff)
	toks, _ := f.Metadata["tokenizer.ggml.tokens"].Strings()
	h.vocab = len(toks)
	return arch, h
}

// llamaCppTensors lists the tensors llama.cpp (build 11669, Debian's
// 0.7.0) creates for arch, with their dims (ne0 first), as its
// load_arch_tensors in src/models/<arch>.cpp does; optional ones it loads
// with TENSOR_NOT_REQUIRED. A file with a tensor outside both sets is
// refused ("wrong number of tensors"), one with a missing or misshapen
// required tensor too ("check_tensor_dims").
func llamaCppTensors(arch string, h llamaCppHparams) (required, optional map[string][]int) {
	required, optional = map[string][]int{}, map[string][]int{}
	E, V, HD := h.embd, h.vocab, h.headDim
	q, kv := HD*h.head, HD*h.headKV
	required["token_embd.weight"] = []int{E, V}
	if arch == "bert" {
		required["token_types.weight"] = []int{E, 2}
		required["position_embd.weight"] = []int{E, h.ctx}
		required["token_embd_norm.weight"] = []int{E}
		required["token_embd_norm.bias"] = []int{E}
		for i := range h.layers {
			p := fmt.Sprintf("blk.%d.", i)
			for _, m := range []string{"attn_q", "attn_k", "attn_v", "attn_output"} {
				required[p+m+".weight"] = []int{E, E}
				required[p+m+".bias"] = []int{E}
			}
			for _, n := range []string{"attn_output_norm", "layer_output_norm"} {
				required[p+n+".weight"] = []int{E}
				required[p+n+".bias"] = []int{E}
			}
			required[p+"ffn_up.weight"] = []int{E, h.ff}
			required[p+"ffn_up.bias"] = []int{h.ff}
			required[p+"ffn_down.weight"] = []int{h.ff, E}
			required[p+"ffn_down.bias"] = []int{E}
		}
		return required, optional
	}
	required["output_norm.weight"] = []int{E}
	switch arch {
	case "llama", "qwen2", "qwen3", "qwen3moe": // tied to token_embd when absent
		optional["output.weight"] = []int{E, V}
	default:
		required["output.weight"] = []int{E, V}
	}
	if arch == "qwen2" || arch == "qwen2moe" || arch == "olmoe" {
		q = E // wq {n_embd, n_embd}, wo {n_embd, n_embd}
	}
	if arch == "olmoe" {
		kv = HD * h.headKV
	}
	for i := range h.layers {
		p := fmt.Sprintf("blk.%d.", i)
		required[p+"attn_norm.weight"] = []int{E}
		required[p+"attn_q.weight"] = []int{E, q}
		required[p+"attn_k.weight"] = []int{E, kv}
		required[p+"attn_v.weight"] = []int{E, kv}
		required[p+"attn_output.weight"] = []int{q, E}
		bias := optional
		if arch == "qwen2" || arch == "qwen2moe" {
			bias = required
		}
		if arch != "olmoe" { // olmoe's graph has no attention biases
			bias[p+"attn_q.bias"] = []int{q}
			bias[p+"attn_k.bias"] = []int{kv}
			bias[p+"attn_v.bias"] = []int{kv}
		}
		switch arch {
		case "qwen3", "qwen3moe":
			required[p+"attn_q_norm.weight"] = []int{HD}
			required[p+"attn_k_norm.weight"] = []int{HD}
		case "olmoe":
			// Both {n_embd}; the graph norms Kcur ({n_embd_gqa}) with it,
			// so only n_head_kv == n_head runs.
			required[p+"attn_q_norm.weight"] = []int{E}
			required[p+"attn_k_norm.weight"] = []int{E}
		}
		required[p+"ffn_norm.weight"] = []int{E}
		if h.expert == 0 {
			required[p+"ffn_gate.weight"] = []int{E, h.ff}
			required[p+"ffn_down.weight"] = []int{h.ff, E}
			required[p+"ffn_up.weight"] = []int{E, h.ff}
			continue
		}
		F, X := h.ff, h.expert
		if arch != "llama" && arch != "olmoe" {
			F = h.ffExp
		}
		required[p+"ffn_gate_inp.weight"] = []int{E, X}
		required[p+"ffn_gate_exps.weight"] = []int{E, F, X}
		required[p+"ffn_down_exps.weight"] = []int{F, E, X}
		required[p+"ffn_up_exps.weight"] = []int{E, F, X}
		if arch == "qwen2moe" {
			S := h.ffShexp
			required[p+"ffn_gate_inp_shexp.weight"] = []int{E}
			required[p+"ffn_gate_shexp.weight"] = []int{E, S}
			required[p+"ffn_up_shexp.weight"] = []int{E, S}
			required[p+"ffn_down_shexp.weight"] = []int{S, E}
		}
	}
	return required, optional
}

// TestLlamaCppLoadsEveryFile checks the files modelgen writes, for every
// architecture and several shapes, against llama.cpp's loading rules:
// tensor names, dims and the head/width constraints of its graphs.
func TestLlamaCppLoadsEveryFile(t *testing.T) {
	var specs []Spec
	for _, arch := range []string{"llama", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "olmoe", "bert"} {
		s := AllSpec(arch, tensor.Q4_K, 1) // the shapes of gateway modelgen --all
		specs = append(specs, s)
		if arch != "bert" {
			wide := s // head dim apart from hidden/heads, biases, tied output
			wide.Type, wide.Hidden, wide.HeadDim = tensor.Q8_0, 64, 32
			wide.QKVBias, wide.TiedOutput = arch != "olmoe", arch != "qwen2moe" && arch != "olmoe"
			if arch == "qwen2" || arch == "qwen2moe" || arch == "olmoe" {
				wide.HeadDim = 16
			}
			specs = append(specs, wide)
		}
	}
	specs = append(specs, DemoSpec(), EmbedSpec(tensor.F32))
	for _, s := range specs {
		name := fmt.Sprintf("%s-%v-h%d-hd%d", s.Arch, s.Type, s.Hidden, s.HeadDim)
		t.Run(name, func(t *testing.T) {
			f := open(t, s)
			arch, h := readHparams(t, f)
			required, optional := llamaCppTensors(arch, h)
			got := map[string][]int{}
			for _, ti := range f.Tensors {
				dims := make([]int, len(ti.Dims))
				for i, d := range ti.Dims {
					dims[i] = int(d)
				}
				got[ti.Name] = dims
			}
			for _, n := range slices.Sorted(maps.Keys(required)) {
				if d, ok := got[n]; !ok {
					t.Errorf("missing %s", n)
				} else if !slices.Equal(d, required[n]) {
					t.Errorf("%s dims %v, llama.cpp wants %v", n, d, required[n])
				}
			}
			for _, n := range slices.Sorted(maps.Keys(got)) {
				want, ok := required[n]
				if !ok {
					want, ok = optional[n]
				}
				if !ok {
					t.Errorf("%s is not a tensor llama.cpp loads for %s", n, arch)
				} else if !slices.Equal(got[n], want) {
					t.Errorf("%s dims %v, llama.cpp wants %v", n, got[n], want)
				}
			}
			if arch == "bert" {
				// llama.cpp adds BOS as [CLS]; absent, it takes id 101.
				bos, ok := f.Uint("tokenizer.ggml.bos_token_id")
				cls, _ := f.Uint("tokenizer.ggml.cls_token_id")
				if !ok || bos != cls {
					t.Errorf("bert bos_token_id %d (present %v), want the [CLS] id %d", bos, ok, cls)
				}
			}
			if arch == "olmoe" && h.headKV != h.head {
				t.Errorf("olmoe with %d kv heads of %d: llama.cpp's graph aborts", h.headKV, h.head)
			}
		})
	}
}
