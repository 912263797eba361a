package tokenizer

import (
	"fmt"

	"github.com/moegate/moegate/engine/gguf"
)

// FromGGUF builds a Tokenizer from a model file's tokenizer.ggml.* metadata.
func FromGGUF(md map[string]gguf.Value) (*Tokenizer, error) {
	v, err := VocabFromGGUF(md)
	if err != nil {
		return nil, err
	}
	return New(v)
}

// VocabFromGGUF reads the vocabulary data from GGUF metadata.
func VocabFromGGUF(md map[string]gguf.Value) (Vocab, error) {
	str := func(key string) (string, bool) {
		val, ok := md[key]
		if !ok {
			return "", false
		}
		return val.String()
	}
	var v Vocab
	model, ok := str("tokenizer.ggml.model")
	if !ok {
		return v, fmt.Errorf("tokenizer: metadata has no tokenizer.ggml.model")
	}
	v.Model = model
	v.Pre, _ = str("tokenizer.ggml.pre")
	v.Name, _ = str("general.name")
	tokens, ok := md["tokenizer.ggml.tokens"].Strings()
	if !ok {
		return v, fmt.Errorf("tokenizer: metadata has no tokenizer.ggml.tokens string array")
	}
	v.Tokens = tokens
	if val, ok := md["tokenizer.ggml.scores"]; ok {
		if v.Scores, ok = val.Float32s(); !ok {
			return v, fmt.Errorf("tokenizer: tokenizer.ggml.scores is %v, want a float32 array", val.Type())
		}
	}
	if val, ok := md["tokenizer.ggml.token_type"]; ok {
		if v.Types, ok = val.Int32s(); !ok {
			return v, fmt.Errorf("tokenizer: tokenizer.ggml.token_type is %v, want an integer array", val.Type())
		}
	}
	if val, ok := md["tokenizer.ggml.merges"]; ok {
		if v.Merges, ok = val.Strings(); !ok {
			return v, fmt.Errorf("tokenizer: tokenizer.ggml.merges is %v, want a string array", val.Type())
		}
	}
	if model == "gpt2" && v.Merges == nil {
		return v, fmt.Errorf("tokenizer: gpt2 vocabulary without tokenizer.ggml.merges")
	}

	// Defaults as llama.cpp: SentencePiece has <unk>=0, <s>=1, </s>=2 and
	// wants BOS and a space prefix; BPE has none unless told.
	v.BOS, v.EOS, v.EOT, v.UNK, v.PAD, v.SEP = -1, -1, -1, -1, -1, -1
	switch model {
	case "llama":
		v.UNK, v.BOS, v.EOS = 0, 1, 2
		v.AddBOS, v.AddSpacePrefix = true, true
	case "bert":
		// [CLS] is BERT's BOS.
		v.PAD, v.UNK, v.BOS, v.SEP = 0, 100, 101, 102
		v.AddBOS, v.AddSEP = true, true
	}
	for key, dst := range map[string]*int32{
		"tokenizer.ggml.bos_token_id":     &v.BOS,
		"tokenizer.ggml.eos_token_id":     &v.EOS,
		"tokenizer.ggml.eot_token_id":     &v.EOT,
		"tokenizer.ggml.unknown_token_id": &v.UNK,
		"tokenizer.ggml.padding_token_id": &v.PAD,
		"tokenizer.ggml.cls_token_id":     &v.BOS,
		// sic: the GGUF key is spelled so.
		"tokenizer.ggml.seperator_token_id": &v.SEP,
	} {
		if val, ok := md[key]; ok {
			if id, ok := val.Uint64(); ok && id < uint64(len(tokens)) {
				*dst = int32(id)
			}
		}
	}
	for key, dst := range map[string]*bool{
		"tokenizer.ggml.add_bos_token":    &v.AddBOS,
		"tokenizer.ggml.add_space_prefix": &v.AddSpacePrefix,
		"tokenizer.ggml.add_sep_token":    &v.AddSEP,
	} {
		if val, ok := md[key]; ok {
			if b, ok := val.Bool(); ok {
				*dst = b
			}
		}
	}
	return v, nil
}
