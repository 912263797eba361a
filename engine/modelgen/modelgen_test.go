package modelgen

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/tensor"
)

func build(t *testing.T, s Spec) []byte {
	t.Helper()
	w, err := Build(s)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func open(t *testing.T, s Spec) *gguf.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := Write(path, s); err != nil {
		t.Fatalf("Write: %v", err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func tiny(arch string) Spec {
	s := Spec{Arch: arch, Type: tensor.Q8_0, Layers: 1, Hidden: 64, Heads: 2, Vocab: 400, Seed: 1}
	if arch != "llama" {
		s.Experts = 4
	}
	return s
}

func TestDeterministic(t *testing.T) {
	for _, arch := range []string{"llama", "qwen2moe", "qwen3moe", "olmoe"} {
		a, b := build(t, tiny(arch)), build(t, tiny(arch))
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: same spec gave different bytes", arch)
		}
		other := tiny(arch)
		other.Seed = 2
		if bytes.Equal(a, build(t, other)) {
			t.Fatalf("%s: different seeds gave the same bytes", arch)
		}
	}
}

func strs(t *testing.T, f *gguf.File, key string) []string {
	t.Helper()
	v, ok := f.Metadata[key]
	if !ok {
		t.Fatalf("missing %s", key)
	}
	s, ok := v.Strings()
	if !ok {
		t.Fatalf("%s is not a string array", key)
	}
	return s
}

func ints(t *testing.T, f *gguf.File, key string) []int32 {
	t.Helper()
	v, ok := f.Metadata[key]
	if !ok {
		t.Fatalf("missing %s", key)
	}
	s, ok := v.Int32s()
	if !ok {
		t.Fatalf("%s is not an int32 array", key)
	}
	return s
}

func uintKey(t *testing.T, f *gguf.File, key string) int {
	t.Helper()
	v, ok := f.Uint(key)
	if !ok {
		t.Fatalf("missing %s", key)
	}
	return int(v)
}

func TestGPT2Tokenizer(t *testing.T) {
	spec := DemoSpec()
	f := open(t, spec)
	if m, _ := f.Str("tokenizer.ggml.model"); m != "gpt2" {
		t.Fatalf("model %q", m)
	}
	if p, _ := f.Str("tokenizer.ggml.pre"); p != "qwen2" {
		t.Fatalf("pre %q", p)
	}
	toks := strs(t, f, "tokenizer.ggml.tokens")
	types := ints(t, f, "tokenizer.ggml.token_type")
	merges := strs(t, f, "tokenizer.ggml.merges")
	if len(types) != len(toks) {
		t.Fatalf("%d types for %d tokens", len(types), len(toks))
	}
	// Most of the requested vocabulary is learned from the corpus.
	if len(toks) > spec.Vocab || len(toks) < spec.Vocab*3/4 {
		t.Fatalf("%d tokens for a requested vocab of %d", len(toks), spec.Vocab)
	}
	index := map[string]int{}
	for i, s := range toks {
		if _, dup := index[s]; dup {
			t.Fatalf("duplicate token %q", s)
		}
		index[s] = i
	}
	// GPT-2 byte mapping: printable ASCII maps to itself, space to 'Ġ'.
	if toks['A'] != "A" || toks[' '] != "Ġ" || toks['\n'] != "Ċ" {
		t.Fatalf("byte tokens: %q %q %q", toks['A'], toks[' '], toks['\n'])
	}
	for i, m := range merges {
		a, b, ok := strings.Cut(m, " ")
		if !ok {
			t.Fatalf("merge %q has no space", m)
		}
		for _, s := range []string{a, b, a + b} {
			if _, ok := index[s]; !ok {
				t.Fatalf("merge %d %q: %q not a token", i, m, s)
			}
		}
		// A merge only uses tokens that exist before it.
		if index[a] >= 256+i || index[b] >= 256+i {
			t.Fatalf("merge %d %q uses a later token", i, m)
		}
	}
	if index["Ġthe"] == 0 || index["Ġexpert"] == 0 {
		t.Error("common corpus words did not become tokens")
	}
	eos := uintKey(t, f, "tokenizer.ggml.eos_token_id")
	bos := uintKey(t, f, "tokenizer.ggml.bos_token_id")
	if toks[eos] != "<|im_end|>" || toks[bos] != "<|endoftext|>" {
		t.Fatalf("eos %q bos %q", toks[eos], toks[bos])
	}
	for _, s := range []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} {
		if types[index[s]] != typeControl {
			t.Errorf("%s has type %d", s, types[index[s]])
		}
	}
	if tpl, _ := f.Str("tokenizer.chat_template"); !strings.Contains(tpl, "<|im_start|>") {
		t.Errorf("chat template %q", tpl)
	}
	if n := uintKey(t, f, "qwen3moe.vocab_size"); n != len(toks) {
		t.Errorf("vocab_size %d, %d tokens", n, len(toks))
	}
	if ti, ok := f.Tensor("token_embd.weight"); !ok || int(ti.Dims[1]) != len(toks) {
		t.Errorf("token_embd does not have one row per token")
	}
}

func TestLlamaTokenizer(t *testing.T) {
	spec := tiny("llama")
	spec.Tokenizer, spec.Vocab = "llama", 600
	f := open(t, spec)
	toks := strs(t, f, "tokenizer.ggml.tokens")
	types := ints(t, f, "tokenizer.ggml.token_type")
	sv, ok := f.Metadata["tokenizer.ggml.scores"]
	if !ok {
		t.Fatal("no scores")
	}
	scores, _ := sv.Float32s()
	if len(toks) != len(types) || len(toks) != len(scores) || len(toks) > spec.Vocab {
		t.Fatalf("%d tokens, %d types, %d scores", len(toks), len(types), len(scores))
	}
	if !slices.Equal(toks[:3], []string{"<unk>", "<s>", "</s>"}) || toks[3] != "<0x00>" || toks[3+255] != "<0xFF>" {
		t.Fatalf("special/byte tokens: %q", toks[:4])
	}
	for i := 3; i < 3+256; i++ {
		if types[i] != typeByte {
			t.Fatalf("token %q type %d", toks[i], types[i])
		}
	}
	if !slices.Contains(toks, "▁the") {
		t.Error("no ▁the piece")
	}
	if slices.Contains(toks, " the") {
		t.Error("piece with a raw space")
	}
	if uintKey(t, f, "tokenizer.ggml.bos_token_id") != 1 || uintKey(t, f, "tokenizer.ggml.eos_token_id") != 2 {
		t.Error("bos/eos ids")
	}
	if tpl, _ := f.Str("tokenizer.chat_template"); !strings.Contains(tpl, "[INST]") {
		t.Errorf("chat template %q", tpl)
	}
	if _, ok := f.Metadata["tokenizer.ggml.merges"]; ok {
		t.Error("llama tokenizer has merges")
	}
}

func TestLayouts(t *testing.T) {
	merged := tiny("llama")
	merged.Experts = 4
	per := merged
	per.PerExpertLayout = true
	fm, fp := open(t, merged), open(t, per)
	if ti, ok := fm.Tensor("blk.0.ffn_up_exps.weight"); !ok || len(ti.Dims) != 3 || ti.Dims[2] != 4 {
		t.Error("merged layout lacks 3-D ffn_up_exps")
	}
	if _, ok := fp.Tensor("blk.0.ffn_up.3.weight"); !ok {
		t.Error("per-expert layout lacks ffn_up.3")
	}
	if _, ok := fp.Tensor("blk.0.ffn_up_exps.weight"); ok {
		t.Error("per-expert layout has merged tensors")
	}
	q2 := open(t, tiny("qwen2moe"))
	for _, name := range []string{"blk.0.attn_q.bias", "blk.0.ffn_gate_inp_shexp.weight", "blk.0.ffn_down_shexp.weight"} {
		if _, ok := q2.Tensor(name); !ok {
			t.Errorf("qwen2moe lacks %s", name)
		}
	}
	if ti, _ := q2.Tensor("blk.0.ffn_gate_inp.weight"); ti.Type != tensor.F32 {
		t.Errorf("router type %v, want F32", ti.Type)
	}
	if ti, _ := q2.Tensor("blk.0.attn_q.weight"); ti.Type != tensor.Q8_0 {
		t.Errorf("attn_q type %v, want Q8_0", ti.Type)
	}
	q3 := open(t, tiny("qwen3moe"))
	if ti, _ := q3.Tensor("blk.0.attn_q_norm.weight"); ti.Dims[0] != 32 {
		t.Errorf("qwen3moe q norm dims %v, want per head", ti.Dims)
	}
	ol := open(t, tiny("olmoe"))
	if ti, _ := ol.Tensor("blk.0.attn_q_norm.weight"); ti.Dims[0] != 64 {
		t.Errorf("olmoe q norm dims %v, want whole vector", ti.Dims)
	}
}

func TestBadSpecs(t *testing.T) {
	bad := map[string]func(s *Spec){
		"arch":           func(s *Spec) { s.Arch = "gpt9" },
		"moe-no-experts": func(s *Spec) { s.Arch, s.Experts = "qwen3moe", 0 },
		"heads":          func(s *Spec) { s.Heads = 3 },
		"kv-heads":       func(s *Spec) { s.KVHeads = 3; s.Heads = 4 },
		"used":           func(s *Spec) { s.Experts, s.ExpertsUsed = 2, 3 },
		"per-expert":     func(s *Spec) { s.Arch, s.Experts, s.PerExpertLayout = "olmoe", 4, true },
		"tokenizer":      func(s *Spec) { s.Tokenizer = "wordpiece" },
		"olmoe-gqa":      func(s *Spec) { s.Arch, s.Experts, s.Heads, s.KVHeads = "olmoe", 4, 4, 2 },
		"olmoe-bias":     func(s *Spec) { s.Arch, s.Experts, s.QKVBias = "olmoe", 4, true },
		"qwen2moe-hd":    func(s *Spec) { s.Arch, s.Experts, s.HeadDim = "qwen2moe", 4, 16 },
		"vocab":          func(s *Spec) { s.Vocab = 100 },
		"q4k-blocks":     func(s *Spec) { s.Type = tensor.Q4_K }, // 64 columns is not a multiple of 256
	}
	for name, edit := range bad {
		s := tiny("llama")
		edit(&s)
		if _, err := Build(s); err == nil {
			t.Errorf("%s: Build accepted %+v", name, s)
		}
	}
}

func BenchmarkBuildDemo(b *testing.B) {
	for b.Loop() {
		if _, err := Build(DemoSpec()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGPT2Vocab(b *testing.B) {
	for b.Loop() {
		if _, err := gpt2Vocab(1024); err != nil {
			b.Fatal(err)
		}
	}
}
