package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRoundTrip checks that any valid UTF-8 text survives Encode and
// Decode (without special-token parsing) for every pre-tokenizer and for
// SentencePiece, and that streaming decoding agrees with Decode.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range roundTripTexts {
		f.Add(s)
	}
	f.Add("<|im_start|>user\n<s>x</s>")
	f.Add("\u00a0\u2028 \u3000x  \r\n")
	var tks []*Tokenizer
	for _, pre := range []string{"gpt2", "default", "llama3", "qwen2", "deepseek-llm", "deepseek-coder", "deepseek-v3"} {
		tk, err := New(bpeVocab(pre, []string{"h e", "l l", "Ġ t", "Ġt h"}, "<|im_start|>"))
		if err != nil {
			f.Fatal(err)
		}
		tks = append(tks, tk)
	}
	spm, err := New(spmVocab(map[string]float32{"▁": -1, "▁t": -2, "he": -3, "▁the": -4}))
	if err != nil {
		f.Fatal(err)
	}
	tks = append(tks, spm)
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		for _, tk := range tks {
			ids := tk.Encode(s, false, false)
			if got := tk.Decode(ids); got != s {
				t.Fatalf("%s: Decode(Encode(%q)) = %q", tk.Model(), s, got)
			}
			d := tk.NewStreamDecoder()
			var b strings.Builder
			for _, id := range ids {
				b.WriteString(d.Add(id))
			}
			b.WriteString(d.Flush())
			want := s
			if tk.Model() == "llama" && s != "" {
				want = " " + s
			}
			if b.String() != want {
				t.Fatalf("%s: stream %q, want %q", tk.Model(), b.String(), want)
			}
		}
	})
}
