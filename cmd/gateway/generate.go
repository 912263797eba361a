package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/moegate/moegate/engine"
	"github.com/moegate/moegate/engine/modelgen"
)

func cmdGenerate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	modelPath := fs.String("model", "", "GGUF model file, or \"demo\" to write and use the built-in demo model (random weights) in a temporary directory")
	prompt := fs.String("prompt", "", "the prompt text")
	maxTokens := fs.Int("max-tokens", 128, "most tokens to generate")
	temperature := fs.Float64("temperature", 0, "sampling temperature; 0 = greedy")
	topK := fs.Int("top-k", 40, "sample from the K most likely tokens (with temperature > 0); 0 = all")
	topP := fs.Float64("top-p", 0.95, "nucleus sampling probability (with temperature > 0); 1 = off")
	seed := fs.Uint64("seed", 0, "random seed for sampling; 0 = random")
	threads := fs.Int("threads", 0, "kernel threads; 0 = all CPUs")
	asChat := fs.Bool("chat", false, "treat the prompt as a user message and apply the model's chat template")
	exactFloat := fs.Bool("exact-float", false, "multiply quantized weights with float activations instead of quantizing activations as llama.cpp does")
	verbose := fs.Bool("v", false, "log model loading details to stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway generate --model FILE --prompt TEXT [flags]

Generates text with the local MoE engine and prints it to stdout as it is
produced; load progress goes to stderr. --model demo writes the small demo
model (random weights, gibberish output) to a temporary directory first.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelPath == "" || *prompt == "" {
		fs.Usage()
		return fmt.Errorf("--model and --prompt are required")
	}
	e, cleanup, err := openLocal(ctx, *modelPath, *threads, *exactFloat, *verbose)
	if err != nil {
		return err
	}
	defer cleanup()

	p := engine.Params{
		MaxTokens: *maxTokens, Temperature: float32(*temperature),
		TopK: *topK, TopP: float32(*topP), Seed: *seed,
	}
	out := func(s string) error { _, err := io.WriteString(os.Stdout, s); return err }
	var res engine.Result
	if *asChat {
		res, err = e.Chat(ctx, []engine.Message{{Role: "user", Content: *prompt}}, p, out)
	} else {
		res, err = e.Generate(ctx, *prompt, p, out)
	}
	fmt.Println()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "[%d prompt tokens, %d generated, finish: %s]\n", res.PromptTokens, res.CompletionTokens, res.FinishReason)
	return nil
}

// openLocal opens a model for the local commands; path "demo" writes the
// demo model to a temporary directory, removed by the returned cleanup.
func openLocal(ctx context.Context, path string, threads int, exactFloat, verbose bool) (*engine.Engine, func(), error) {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cleanup := func() {}
	if path == "demo" {
		dir, err := os.MkdirTemp("", "moegate-demo-")
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		path = filepath.Join(dir, "demo.gguf")
		fmt.Fprintf(os.Stderr, "writing demo model (random weights) to %s\n", path)
		if err := modelgen.Write(path, modelgen.DemoSpec()); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	fmt.Fprintf(os.Stderr, "loading %s\n", path)
	e, err := engine.Open(ctx, path, engine.Options{Threads: threads, Parallel: 1, Logger: log, ExactFloat: exactFloat})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	info := e.Info()
	fmt.Fprintf(os.Stderr, "loaded %s: %s, %d layers, %d experts (top-%d), context %d, %d threads\n",
		displayName(info), info.Arch, info.Layers, info.Experts, info.ExpertsUsed, info.Context, info.Threads)
	return e, func() { e.Close(); cleanup() }, nil
}

func displayName(info engine.Info) string {
	if info.Name != "" {
		return info.Name
	}
	return filepath.Base(info.Path)
}
