package tokenizer

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moegate/moegate/engine/gguf"
)

// TestRealVocabularies runs every case of every real vocabulary in
// testdata/llama-vocab against the ids llama.cpp produced for it.
func TestRealVocabularies(t *testing.T) {
	files, err := filepath.Glob("testdata/llama-vocab/*.gguf.gz")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vocabularies in testdata/llama-vocab (%v)", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".gguf.gz")
		t.Run(strings.TrimPrefix(name, "ggml-vocab-"), func(t *testing.T) {
			tok := loadVocab(t, path)
			base := strings.TrimSuffix(path, ".gz")
			inputs, want := readVocabCases(t, base+".inp", base+".out")
			pass := 0
			for i, in := range inputs {
				got := tok.Encode(in, false, false)
				if slices.Equal(got, want[i]) {
					pass++
					continue
				}
				t.Errorf("case %d %q:\n got %v\nwant %v", i, in, got, want[i])
			}
			t.Logf("%s: %d of %d cases pass", name, pass, len(inputs))
		})
	}
}

func loadVocab(t *testing.T, path string) *Tokenizer {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	gf, err := gguf.Parse(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromGGUF(gf.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readVocabCases(t *testing.T, inp, out string) ([]string, [][]int32) {
	t.Helper()
	in, err := os.ReadFile(inp)
	if err != nil {
		t.Fatal(err)
	}
	o, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	inputs := strings.Split(string(in), "\n__ggml_vocab_test__\n")
	if inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	lines := strings.Split(strings.TrimSuffix(string(o), "\n"), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("%d inputs, %d expected outputs", len(inputs), len(lines))
	}
	want := make([][]int32, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			id, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				t.Fatalf("%s line %d: %v", out, i+1, err)
			}
			want[i] = append(want[i], int32(id))
		}
	}
	return inputs, want
}

// TestPhi3StripsSpaceAfterSpecials checks llama.cpp's phi-3 rule: special
// tokens (but <s>, <unk> and <|endoftext|>) swallow the white space after
// them; other SentencePiece models keep it.
func TestPhi3StripsSpaceAfterSpecials(t *testing.T) {
	const text = "<|user|>\n  Hi</s>  there<s> x"
	phi3 := loadVocab(t, "testdata/llama-vocab/ggml-vocab-phi-3.gguf.gz")
	id := func(tok *Tokenizer, s string) int32 {
		t.Helper()
		id, ok := tok.TokenID(s)
		if !ok {
			t.Fatalf("no token %q", s)
		}
		return id
	}
	var want []int32
	want = append(want, id(phi3, "<|user|>"))
	want = append(want, phi3.Encode("Hi", false, false)...)
	want = append(want, id(phi3, "</s>"))
	want = append(want, phi3.Encode("there", false, false)...)
	want = append(want, id(phi3, "<s>"))
	want = append(want, phi3.Encode(" x", false, false)...)
	if got := phi3.Encode(text, false, true); !slices.Equal(got, want) {
		t.Errorf("phi-3:\n got %v\nwant %v", got, want)
	}

	spm := loadVocab(t, "testdata/llama-vocab/ggml-vocab-llama-spm.gguf.gz")
	want = append([]int32{id(spm, "</s>")}, spm.Encode("  there", false, false)...)
	if got := spm.Encode("</s>  there", false, true); !slices.Equal(got, want) {
		t.Errorf("llama-spm keeps the spaces:\n got %v\nwant %v", got, want)
	}
}

// TestBERTSpecials checks [CLS] ... [SEP] around a BERT prompt and the
// decoding of word pieces.
func TestBERTSpecials(t *testing.T) {
	tok := loadVocab(t, "testdata/llama-vocab/ggml-vocab-bert-bge.gguf.gz")
	ids := tok.Encode("Hello, World! Führer", true, false)
	want := []int32{101, 7592, 1010, 2088, 999, 11865, 17875, 102}
	if !slices.Equal(ids, want) {
		t.Fatalf("got %v, want %v", ids, want)
	}
	if got := tok.Decode(ids[1 : len(ids)-1]); got != "hello, world! fuhrer" {
		t.Errorf("decode %q", got)
	}
	if got := tok.Encode("🚀", false, false); !slices.Equal(got, []int32{100}) {
		t.Errorf("unknown word: %v, want [100]", got)
	}
}

// TestEveryPreTokenizerName builds every pre-tokenizer name llama.cpp
// accepts for byte-level BPE, and checks that splitting loses no text.
func TestEveryPreTokenizerName(t *testing.T) {
	const text = "Hello World's   HTTPServer 12345 ünïcödé 中文字 <sentinel:3> IMGIMGABZ\r\n\tend  !?… x"
	for name := range preNames {
		p, err := newPreTokenizer(name)
		if err != nil {
			t.Errorf("%q: %v", name, err)
			continue
		}
		if got := strings.Join(p.split(text), ""); got != text {
			t.Errorf("%q: pieces join to %q", name, got)
		}
	}
	for name := range unsupportedPre {
		if _, err := newPreTokenizer(name); err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%q: %v, want a not-supported error", name, err)
		}
	}
}
