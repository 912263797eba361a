package gguf_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/tensor"
)

func Example() {
	dir, err := os.MkdirTemp("", "gguf-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")

	w := gguf.NewWriter(3)
	w.AddKV("general.architecture", gguf.String("llama"))
	w.AddKV("llama.embedding_length", gguf.Uint32(64))
	w.AddKV("tokenizer.ggml.tokens", gguf.Strings([]string{"<s>", "</s>", "hello"}))
	weights := make([]float32, 64*2)
	for i := range weights {
		weights[i] = float32(i%7) - 3
	}
	// ne0 (columns) first: a 2x64 matrix, quantized to Q8_0.
	if err := w.AddTensorF32("output.weight", tensor.Q8_0, []uint64{64, 2}, weights); err != nil {
		log.Fatal(err)
	}
	if err := w.WriteFile(path); err != nil {
		log.Fatal(err)
	}

	f, err := gguf.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	arch, _ := f.Str("general.architecture")
	dim, _ := f.Uint("llama.embedding_length")
	tokens, _ := f.Metadata["tokenizer.ggml.tokens"].Strings()
	m, err := f.Matrix("output.weight")
	if err != nil {
		log.Fatal(err)
	}
	x := make([]float32, m.Cols)
	x[3] = 1 // picks column 3
	out := make([]float32, m.Rows)
	m.MatVec(nil, out, x)
	fmt.Printf("%s %d %q %v %dx%d %.2f\n", arch, dim, tokens, m.Type, m.Rows, m.Cols, out)
	// Output: llama 64 ["<s>" "</s>" "hello"] Q8_0 2x64 [0.00 0.99]
}
