package modelgen

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/tensor"
)

// BERT special tokens, at the start of the vocabulary.
const (
	bertPad  = 0
	bertUnk  = 1
	bertCLS  = 2
	bertSEP  = 3
	bertMask = 4
)

// bertVocab builds a WordPiece vocabulary as llama.cpp's converter stores
// it ("▁" before a word's first piece, continuation pieces bare): the
// special tokens, every printable ASCII character both as a word start and
// as a continuation (so that any ASCII text is covered), a few common
// suffixes, then the corpus's words, most frequent first, up to size.
func bertVocab(size int) (*vocabulary, error) {
	v := &vocabulary{pad: bertPad, unk: bertUnk, bos: bertCLS, eos: bertSEP}
	v.tokens = []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	v.types = []int32{typeControl, typeUnknown, typeControl, typeControl, typeControl}
	add := func(s string) {
		if !slices.Contains(v.tokens, s) {
			v.tokens = append(v.tokens, s)
			v.types = append(v.types, typeNormal)
		}
	}
	for c := byte('!'); c <= '~'; c++ {
		if c >= 'A' && c <= 'Z' { // the normaliser lower-cases
			continue
		}
		add(wordStart + string(c))
		add(string(c))
	}
	for _, s := range []string{"s", "ing", "ed", "er", "ly", "ion", "es"} {
		add(s)
	}
	if size < len(v.tokens) {
		return nil, fmt.Errorf("modelgen: bert vocab %d smaller than %d", size, len(v.tokens))
	}
	count := map[string]int{}
	for _, w := range strings.FieldsFunc(strings.ToLower(corpus), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len(w) > 1 {
			count[w]++
		}
	}
	words := make([]string, 0, len(count))
	for w := range count {
		words = append(words, w)
	}
	slices.SortFunc(words, func(a, b string) int {
		return cmp.Or(count[b]-count[a], strings.Compare(a, b))
	})
	for _, w := range words {
		if len(v.tokens) >= size {
			break
		}
		add(wordStart + w)
	}
	return v, nil
}

const wordStart = "\u2581"

// buildBERT writes a BERT encoder with llama.cpp's LLM_ARCH_BERT names.
func buildBERT(s Spec) (*gguf.Writer, error) {
	voc, err := bertVocab(s.Vocab)
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
	u32("feed_forward_length", s.FFN)
	u32("attention.head_count", s.Heads)
	kv(a+".attention.layer_norm_epsilon", gguf.Float32(1e-12))
	kv(a+".attention.causal", gguf.Bool(false))
	u32("pooling_type", s.Pooling)
	kv("tokenizer.ggml.model", gguf.String("bert"))
	kv("tokenizer.ggml.tokens", gguf.Strings(voc.tokens))
	kv("tokenizer.ggml.token_type", gguf.Int32s(voc.types))
	kv("tokenizer.ggml.token_type_count", gguf.Uint32(2))
	kv("tokenizer.ggml.unknown_token_id", gguf.Uint32(bertUnk))
	// llama.cpp adds the BOS token as BERT's [CLS] and does not read
	// cls_token_id: without bos_token_id it would use its WordPiece
	// default, 101, a word of this vocabulary.
	kv("tokenizer.ggml.bos_token_id", gguf.Uint32(bertCLS))
	kv("tokenizer.ggml.cls_token_id", gguf.Uint32(bertCLS))
	kv("tokenizer.ggml.seperator_token_id", gguf.Uint32(bertSEP)) // sic, llama.cpp's key
	kv("tokenizer.ggml.padding_token_id", gguf.Uint32(bertPad))
	kv("tokenizer.ggml.mask_token_id", gguf.Uint32(bertMask))
	kv("tokenizer.ggml.add_bos_token", gguf.Bool(true))
	kv("tokenizer.ggml.add_sep_token", gguf.Bool(true))

	g := gen{w: w, r: rand.New(rand.NewPCG(s.Seed, s.Seed^0x6d6f6567617465))}
	H, F := s.Hidden, s.FFN
	inv := func(n int) float64 { return 1 / math.Sqrt(float64(n)) }
	g.tensor("token_embd.weight", s.Type, 0.5, 0, H, V)
	g.tensor("token_types.weight", tensor.F32, 0.1, 0, H, 2)
	g.tensor("position_embd.weight", tensor.F32, 0.1, 0, H, s.Context)
	g.tensor("token_embd_norm.weight", tensor.F32, 0.1, 1, H)
	g.tensor("token_embd_norm.bias", tensor.F32, 0.1, 0, H)
	for i := range s.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		for _, m := range []string{"attn_q", "attn_k", "attn_v"} {
			g.tensor(p+m+".weight", s.Type, inv(H), 0, H, H)
			g.tensor(p+m+".bias", tensor.F32, 0.1, 0, H)
		}
		g.tensor(p+"attn_output.weight", s.Type, inv(H), 0, H, H)
		g.tensor(p+"attn_output.bias", tensor.F32, 0.1, 0, H)
		g.tensor(p+"attn_output_norm.weight", tensor.F32, 0.1, 1, H)
		g.tensor(p+"attn_output_norm.bias", tensor.F32, 0.1, 0, H)
		g.tensor(p+"ffn_up.weight", s.Type, inv(H), 0, H, F)
		g.tensor(p+"ffn_up.bias", tensor.F32, 0.1, 0, F)
		g.tensor(p+"ffn_down.weight", s.Type, inv(F), 0, F, H)
		g.tensor(p+"ffn_down.bias", tensor.F32, 0.1, 0, H)
		g.tensor(p+"layer_output_norm.weight", tensor.F32, 0.1, 1, H)
		g.tensor(p+"layer_output_norm.bias", tensor.F32, 0.1, 0, H)
	}
	if g.err != nil {
		return nil, g.err
	}
	return w, nil
}

// EmbedSpec is a small BERT embedding model with the shape of
// all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, feed-forward 1536,
// mean pooling): the size the engine's embedding benchmark runs, and a
// stand-in for a real sentence encoder in tests. Its weights are random.
func EmbedSpec(typ tensor.Type) Spec {
	return Spec{
		Name: "moegate-embed-bert", Arch: "bert", Type: typ,
		Layers: 6, Hidden: 384, Heads: 12, FFN: 1536,
		Vocab: 2048, Context: 512, Pooling: 1, Seed: 20240601,
	}
}
