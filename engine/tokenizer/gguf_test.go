package tokenizer

import (
	"reflect"
	"testing"

	"github.com/moegate/moegate/engine/gguf"
)

func TestFromGGUF(t *testing.T) {
	bpe := bpeVocab("qwen2", []string{"h e", "l l"}, "<|im_end|>")
	spm := spmVocab(map[string]float32{"▁": -1, "▁hi": -2})
	cases := []struct {
		name string
		md   map[string]gguf.Value
		want Vocab
	}{
		{"gpt2", map[string]gguf.Value{
			"tokenizer.ggml.model":        gguf.String("gpt2"),
			"tokenizer.ggml.pre":          gguf.String("qwen2"),
			"tokenizer.ggml.tokens":       gguf.Strings(bpe.Tokens),
			"tokenizer.ggml.token_type":   gguf.Int32s(bpe.Types),
			"tokenizer.ggml.merges":       gguf.Strings(bpe.Merges),
			"tokenizer.ggml.eos_token_id": gguf.Uint32(uint32(len(bpe.Tokens) - 1)),
		}, func() Vocab { v := bpe; v.EOS = int32(len(bpe.Tokens) - 1); return v }()},
		{"llama", map[string]gguf.Value{
			"tokenizer.ggml.model":            gguf.String("llama"),
			"tokenizer.ggml.tokens":           gguf.Strings(spm.Tokens),
			"tokenizer.ggml.scores":           gguf.Float32s(spm.Scores),
			"tokenizer.ggml.token_type":       gguf.Int32s(spm.Types),
			"tokenizer.ggml.add_bos_token":    gguf.Bool(true),
			"tokenizer.ggml.bos_token_id":     gguf.Uint32(1),
			"tokenizer.ggml.eos_token_id":     gguf.Uint32(2),
			"tokenizer.ggml.unknown_token_id": gguf.Uint32(0),
		}, spm},
	}
	for _, c := range cases {
		v, err := VocabFromGGUF(c.md)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(v, c.want) {
			t.Errorf("%s: got %+v\nwant %+v", c.name, v, c.want)
		}
		if _, err := FromGGUF(c.md); err != nil {
			t.Errorf("%s: FromGGUF: %v", c.name, err)
		}
	}
	if _, err := FromGGUF(map[string]gguf.Value{}); err == nil {
		t.Error("empty metadata: no error")
	}
}
