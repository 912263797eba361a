package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
)

// modelgenArchs are the architectures modelgen writes.
var modelgenArchs = []string{"llama", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "olmoe", "bert"}

func cmdModelgen(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("modelgen", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	out := fs.String("out", "", "GGUF file to write")
	all := fs.String("all", "", "write one small model of every architecture and weight type into this directory instead")
	demo := fs.Bool("demo", false, "write the gateway's demo model (the other shape flags are ignored)")
	arch := fs.String("arch", "qwen3moe", "architecture: "+strings.Join(modelgenArchs, ", "))
	typ := fs.String("type", "Q8_0", "type of the large matrices: "+typeNames())
	layers := fs.Int("layers", 2, "transformer layers")
	hidden := fs.Int("hidden", 256, "embedding width")
	heads := fs.Int("heads", 4, "attention heads")
	kvHeads := fs.Int("kv-heads", 2, "key/value heads (0 = heads; olmoe always has as many as heads)")
	headDim := fs.Int("head-dim", 0, "head dimension (0 = hidden/heads)")
	ffn := fs.Int("ffn", 0, "dense feed-forward width (llama without experts; 0 = 4*hidden)")
	experts := fs.Int("experts", 4, "experts per layer (0: dense; llama may be either, qwen2 and qwen3 are dense)")
	used := fs.Int("experts-used", 2, "experts per token")
	expertFFN := fs.Int("expert-ffn", 0, "expert feed-forward width (0 = 2*hidden)")
	vocab := fs.Int("vocab", 512, "target vocabulary size (the tokenizer may end up smaller)")
	ctxLen := fs.Int("context", 2048, "context length")
	tok := fs.String("tokenizer", "gpt2", "tokenizer: gpt2 (byte-level BPE) or llama (SentencePiece)")
	perExpert := fs.Bool("per-expert", false, "llama MoE: the old one-tensor-per-expert layout (blk.N.ffn_gate.E.weight), which the engine reads but current llama.cpp does not")
	tied := fs.Bool("tied-output", false, "omit output.weight (the token embeddings are reused)")
	qkvBias := fs.Bool("qkv-bias", false, "attention biases (llama; qwen2moe always has them)")
	seed := fs.Uint64("seed", 1, "random seed; the same flags always give the same bytes")
	name := fs.String("name", "", "general.name (default moegate-tiny-<arch>)")
	pooling := fs.String("pooling", "mean", "bert: pooling_type written in the file: mean, cls or last")
	embedModel := fs.Bool("embed", false, "write the engine's benchmark embedding model (bert, 6 layers, hidden 384, as all-MiniLM-L6-v2) in --type; the other shape flags are ignored")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway modelgen --out FILE [flags]
       gateway modelgen --all DIR

Writes small GGUF models with random weights: valid input for the engine
(gateway generate, bench local, a local expert's model; --arch bert writes
an embedding model for embed.kind engine) and for tests. Their
text is gibberish; they exercise loading, tokenizing, routing and the
kernels of every weight type without downloading a model. The same flags
always write the same bytes.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if *all != "" {
		if *out != "" || *demo {
			return fmt.Errorf("--all writes many files: use it without --out and --demo")
		}
		return writeAllModels(*all, *seed)
	}
	if *out == "" {
		return fmt.Errorf("--out FILE or --all DIR is required (see --help)")
	}
	if *demo {
		return writeModel(*out, modelgen.DemoSpec())
	}
	t, err := tensor.ParseType(*typ)
	if err != nil {
		return fmt.Errorf("--type: %w (want one of %s)", err, typeNames())
	}
	if *embedModel {
		return writeModel(*out, modelgen.EmbedSpec(t))
	}
	if *arch == "bert" {
		// An encoder: dense, no separate kv heads, a WordPiece vocabulary.
		p, ok := map[string]int{"mean": 1, "cls": 2, "last": 3}[*pooling]
		if !ok {
			return fmt.Errorf("--pooling %q: want mean, cls or last", *pooling)
		}
		return writeModel(*out, modelgen.Spec{
			Name: *name, Arch: "bert", Type: t, Layers: *layers, Hidden: *hidden, Heads: *heads, FFN: *ffn,
			Vocab: *vocab, Context: min(*ctxLen, 512), Pooling: p, Seed: *seed,
		})
	}
	kv := *kvHeads
	if *arch == "olmoe" && !flagSet(fs, "kv-heads") {
		kv = 0 // llama.cpp's olmoe has no grouped-query attention
	}
	return writeModel(*out, modelgen.Spec{
		Name: *name, Arch: *arch, Type: t,
		Layers: *layers, Hidden: *hidden, Heads: *heads, KVHeads: kv, HeadDim: *headDim, FFN: *ffn,
		Experts: *experts, ExpertsUsed: *used, ExpertFFN: *expertFFN,
		Vocab: *vocab, Context: *ctxLen, Tokenizer: *tok,
		PerExpertLayout: *perExpert, TiedOutput: *tied, QKVBias: *qkvBias, Seed: *seed,
	})
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func typeNames() string {
	var names []string
	for _, t := range tensor.SupportedTypes() {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

func writeModel(path string, spec modelgen.Spec) error {
	if err := modelgen.Write(path, spec); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", path)
	return nil
}

// writeAllModels writes <arch>-<type>.gguf for every architecture and
// weight type (llama as a MoE), plus a dense llama, into dir: every one
// loads in llama.cpp (the legacy per-expert layout, which it no longer
// reads, is left out). The hidden width is 256 so that the 256-element
// K-quant blocks fit.
func writeAllModels(dir string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, arch := range modelgenArchs {
		for _, t := range tensor.SupportedTypes() {
			spec := modelgen.AllSpec(arch, t, seed)
			if err := writeModel(filepath.Join(dir, fmt.Sprintf("%s-%s.gguf", arch, t)), spec); err != nil {
				return err
			}
		}
	}
	dense := modelgen.Spec{Arch: "llama", Type: tensor.Q8_0, Layers: 2, Hidden: 256, Heads: 4, KVHeads: 2, FFN: 512,
		Vocab: 512, Tokenizer: "llama", Seed: seed}
	return writeModel(filepath.Join(dir, "llama-dense-Q8_0.gguf"), dense)
}
