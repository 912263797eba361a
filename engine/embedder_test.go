package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
	"github.com/moegate/moegate/engine/tokenizer"
	"github.com/moegate/moegate/internal/cputime"
)

func writeBERT(tb testing.TB, spec modelgen.Spec) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "bert.gguf")
	if err := modelgen.Write(path, spec); err != nil {
		tb.Fatal(err)
	}
	return path
}

func tinyBERT(typ tensor.Type) modelgen.Spec {
	return modelgen.Spec{Arch: "bert", Type: typ, Layers: 2, Hidden: 64, Heads: 4, FFN: 128, Vocab: 400, Context: 32, Seed: 3}
}

func openEmbedder(tb testing.TB, path string, opts EmbedOptions) *Embedder {
	tb.Helper()
	if opts.Threads == 0 {
		opts.Threads = 2
	}
	e, err := OpenEmbedder(context.Background(), path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

var embedTexts = []string{
	"How do I transfer money to my savings account?",
	"Book a flight to Lisbon",
	"",
	"What is the fee for a credit card payment? " + strings.Repeat("very ", 40) + "long",
	"How do I transfer money to my savings account?",
}

func TestEmbedderTokenize(t *testing.T) {
	e := openEmbedder(t, writeBERT(t, tinyBERT(tensor.F32)), EmbedOptions{})
	cls, sep := e.tok.BOS(), int32(3)
	for _, text := range embedTexts {
		toks := e.Tokenize(text)
		if len(toks) < 2 || toks[0] != cls || toks[len(toks)-1] != sep || len(toks) > e.Info().Context {
			t.Errorf("%q: tokens %v: want [CLS] … [SEP] within %d", text, toks, e.Info().Context)
		}
		for _, id := range toks {
			if id == 1 { // [UNK]: the generated vocabulary covers ASCII
				t.Errorf("%q: unknown token in %v", text, toks)
			}
		}
	}
	if got := e.tok.Decode(e.Tokenize("Transfer money!")); !strings.Contains(got, "transfer money") {
		t.Errorf("decode = %q", got)
	}
}

func TestEmbedderEmbed(t *testing.T) {
	path := writeBERT(t, tinyBERT(tensor.F16))
	e := openEmbedder(t, path, EmbedOptions{})
	if e.Dim() != 64 {
		t.Fatalf("Dim = %d, want 64", e.Dim())
	}
	vecs, err := e.Embed(context.Background(), embedTexts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(embedTexts) {
		t.Fatalf("%d vectors for %d texts", len(vecs), len(embedTexts))
	}
	for i, v := range vecs {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		if len(v) != e.Dim() || math.Abs(s-1) > 1e-5 {
			t.Errorf("vector %d: length %d, norm² %g", i, len(v), s)
		}
	}
	if !equalVec(vecs[0], vecs[4], 1e-6) {
		t.Error("the same text gave two vectors")
	}
	if equalVec(vecs[0], vecs[1], 1e-3) {
		t.Error("different texts gave the same vector")
	}
	// One text per batch, and one at a time, give the same vectors.
	small := openEmbedder(t, path, EmbedOptions{BatchTokens: 1, Threads: 1})
	for i, text := range embedTexts {
		one, err := small.Embed(context.Background(), []string{text})
		if err != nil {
			t.Fatal(err)
		}
		if !equalVec(one[0], vecs[i], 1e-6) {
			t.Errorf("text %d: alone and batched differ", i)
		}
	}
	// The pooling override changes the vectors.
	cls := openEmbedder(t, path, EmbedOptions{Pooling: "cls"})
	if v, err := cls.Embed(context.Background(), embedTexts[:1]); err != nil || equalVec(v[0], vecs[0], 1e-3) {
		t.Errorf("cls pooling: %v, same vector as mean: %v", err, err == nil)
	}
	if empty, err := e.Embed(context.Background(), nil); err != nil || len(empty) != 0 {
		t.Errorf("Embed(nil) = %v, %v", empty, err)
	}
}

func equalVec(a, b []float32, tol float64) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol {
			return false
		}
	}
	return len(a) == len(b)
}

func TestEmbedderConcurrent(t *testing.T) {
	e := openEmbedder(t, writeBERT(t, tinyBERT(tensor.Q8_0)), EmbedOptions{Parallel: 3})
	want, err := e.Embed(context.Background(), embedTexts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			texts := embedTexts[g%len(embedTexts):]
			got, err := e.Embed(context.Background(), texts)
			if err != nil {
				errc <- err
				return
			}
			for i := range got {
				if !equalVec(got[i], want[g%len(embedTexts)+i], 1e-6) {
					errc <- fmt.Errorf("goroutine %d: text %d differs", g, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func TestEmbedderErrors(t *testing.T) {
	path := writeBERT(t, tinyBERT(tensor.F32))
	e := openEmbedder(t, path, EmbedOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, embedTexts); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
	if _, err := OpenEmbedder(context.Background(), path, EmbedOptions{Pooling: "max"}); err == nil {
		t.Error("unknown pooling accepted")
	}
	demo := filepath.Join(t.TempDir(), "demo.gguf")
	if err := modelgen.Write(demo, modelgen.DemoSpec()); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEmbedder(context.Background(), demo, EmbedOptions{}); err == nil || !strings.Contains(err.Error(), "not an embedding model") {
		t.Errorf("a decoder file: %v", err)
	}
	if _, err := OpenEmbedder(context.Background(), filepath.Join(t.TempDir(), "missing.gguf"), EmbedOptions{}); err == nil {
		t.Error("missing file accepted")
	}
}

// BenchmarkEmbed measures short sentences (8 to 12 words) per second on
// one thread with the MiniLM-L6-sized encoder of modelgen.EmbedSpec,
// 32 sentences per Embed call. cpu-sentences/s divides by the thread's CPU
// time, which a busy machine does not inflate. The generated vocabulary
// (440 tokens) splits these sentences into 17.9 tokens each; a real one
// (bge's and MiniLM's 30,522-token WordPiece, in the tokenizer's
// testdata) into 12.75: the bge-lengths cases encode token sequences of
// those lengths, as Embed would with a real model.
func BenchmarkEmbed(b *testing.B) {
	sentences := []string{
		"How do I transfer money to my savings account?",
		"Book me a flight to Lisbon next Friday morning please.",
		"What is the fee for paying with a credit card abroad?",
		"My card was declined at the store, what should I do?",
		"Can you tell me the weather in Paris tomorrow?",
		"Cancel my hotel booking for the second week of May.",
		"Why is my account balance lower than I expected today?",
		"Which expert answers questions about travel insurance?",
	}
	var texts []string
	for range 4 {
		texts = append(texts, sentences...)
	}
	bge := bgeTokenizer(b)
	for _, typ := range []tensor.Type{tensor.F32, tensor.F16, tensor.Q8_0} {
		e := openEmbedder(b, writeBERT(b, modelgen.EmbedSpec(typ)), EmbedOptions{Threads: 1})
		for _, real := range []bool{false, true} {
			name := typ.String()
			seqs := make([][]int32, len(texts))
			tokens := 0
			for i, s := range texts {
				seqs[i] = e.Tokenize(s)
				if real {
					// bge's length, this model's ids (the speed does not
					// depend on which).
					n := len(bge.Encode(s, true, false))
					seqs[i] = append(seqs[i][:0:0], seqs[i][0])
					for j := 1; j < n-1; j++ {
						seqs[i] = append(seqs[i], int32(5+(i*31+j*7)%(e.enc.Config.Vocab-5)))
					}
					seqs[i] = append(seqs[i], e.Tokenize(s)[len(e.Tokenize(s))-1])
				}
				tokens += len(seqs[i])
			}
			if real {
				name += "/bge-lengths"
			}
			b.Run(name, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				start := cputime.Thread()
				for b.Loop() {
					if real {
						if _, err := e.enc.Encode(seqs, e.pooling); err != nil {
							b.Fatal(err)
						}
						continue
					}
					if _, err := e.Embed(context.Background(), texts); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(texts))/b.Elapsed().Seconds(), "sentences/s")
				if d := cputime.Thread() - start; d > 0 {
					b.ReportMetric(float64(b.N*len(texts))/d.Seconds(), "cpu-sentences/s")
					b.ReportMetric(float64(b.N*tokens)/d.Seconds(), "cpu-tokens/s")
				}
				b.ReportMetric(float64(tokens)/float64(len(texts)), "tokens/sentence")
			})
		}
	}
}

// bgeTokenizer loads the bge WordPiece vocabulary of the tokenizer's tests
// (llama.cpp's ggml-vocab-bert-bge.gguf).
func bgeTokenizer(tb testing.TB) *tokenizer.Tokenizer {
	tb.Helper()
	f, err := os.Open("tokenizer/testdata/llama-vocab/ggml-vocab-bert-bge.gguf.gz")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	gf, err := gguf.Parse(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(gf.Metadata)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestEmbedderDecoder embeds with decoder models: a qwen3 file that
// declares last-token pooling, and the (MoE, chat) demo model with a
// pooling given.
func TestEmbedderDecoder(t *testing.T) {
	spec := modelgen.Spec{Arch: "qwen3", Type: tensor.Q8_0, Layers: 2, Hidden: 64, Heads: 4, KVHeads: 2, FFN: 128,
		Vocab: 400, Context: 256, Pooling: 3, Seed: 5}
	demo := filepath.Join(t.TempDir(), "demo.gguf")
	if err := modelgen.Write(demo, modelgen.DemoSpec()); err != nil {
		t.Fatal(err)
	}
	texts := []string{"How do I transfer money to my savings account?", "Book a flight", "How do I transfer money to my savings account?"}
	for _, tc := range []struct {
		name, path, pooling string
		dim                 int
	}{
		{"qwen3-last", writeBERT(t, spec), "", 64},
		{"demo-mean", demo, "mean", 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := openEmbedder(t, tc.path, EmbedOptions{Pooling: tc.pooling})
			if e.Dim() != tc.dim || e.Info().Pooling != map[string]string{"": "last"}[tc.pooling]+tc.pooling {
				t.Fatalf("info %+v", e.Info())
			}
			vecs, err := e.Embed(context.Background(), texts)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range vecs {
				var s float64
				for _, x := range v {
					s += float64(x) * float64(x)
				}
				if len(v) != tc.dim || math.Abs(s-1) > 1e-5 {
					t.Errorf("vector %d: length %d, norm² %g", i, len(v), s)
				}
			}
			if !equalVec(vecs[0], vecs[2], 1e-6) || equalVec(vecs[0], vecs[1], 1e-3) {
				t.Error("same texts differ or different texts agree")
			}
			one, err := e.Embed(context.Background(), texts[1:2])
			if err != nil || !equalVec(one[0], vecs[1], 1e-6) {
				t.Errorf("alone vs in a call: %v", err)
			}
		})
	}
}
