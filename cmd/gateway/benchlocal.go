package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moegate/moegate/engine"
)

func cmdBenchLocal(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench local", flag.ContinueOnError)
	modelPath := fs.String("model", "", "GGUF model file, or \"demo\" to write and use the built-in demo model in a temporary directory")
	promptTokens := fs.Int("prompt-tokens", 128, "prompt length processed as one batch (pp)")
	genTokens := fs.Int("gen-tokens", 32, "tokens generated one at a time (tg)")
	threads := fs.Int("threads", 0, "kernel threads; 0 = all CPUs")
	reps := fs.Int("repetitions", 1, "measured runs after one warm-up run (which faults the weights in); speeds are their mean, as llama-bench -r")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	exactFloat := fs.Bool("exact-float", false, "multiply quantized weights with float activations instead of quantizing activations as llama.cpp does")
	verbose := fs.Bool("v", false, "log model loading details to stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway bench local --model FILE [flags]

Measures the local MoE engine: prompt processing (pp) and text generation
(tg) in tokens per second, and how the tokens were spread over the experts
of each layer. --model demo writes the small demo model to a temporary
directory first.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelPath == "" {
		fs.Usage()
		return fmt.Errorf("--model is required")
	}
	e, cleanup, err := openLocal(ctx, *modelPath, *threads, *exactFloat, *verbose)
	if err != nil {
		return err
	}
	defer cleanup()
	if *reps < 1 {
		return fmt.Errorf("--repetitions %d: want at least 1", *reps)
	}
	r, err := benchRepeated(ctx, e, *promptTokens, *genTokens, *reps)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(struct {
			Model        string  `json:"model"`
			Arch         string  `json:"arch"`
			PPTokensPerS float64 `json:"pp_tokens_per_s"`
			TGTokensPerS float64 `json:"tg_tokens_per_s"`
			PPCPUSeconds float64 `json:"pp_cpu_s"` // all measured runs together
			TGCPUSeconds float64 `json:"tg_cpu_s"`
			Threads      int     `json:"threads"`
			PromptTokens int     `json:"prompt_tokens"`
			GenTokens    int     `json:"gen_tokens"`
			ExactFloat   bool    `json:"exact_float"`
			ExpertLoad   [][]int `json:"expert_load"`
		}{displayName(e.Info()), e.Info().Arch, r.PPTokensPerS, r.TGTokensPerS, r.PPCPUSeconds, r.TGCPUSeconds, r.Threads, r.PromptTokens, r.GenTokens, e.Info().ExactFloat, r.ExpertLoad})
	}
	act := "integer kernels with quantized activations (every quantized type)"
	if e.Info().ExactFloat {
		act = "float activations (exact-float)"
	}
	fmt.Printf("model %s (%s), %d threads, %s\n", displayName(e.Info()), e.Info().Arch, r.Threads, act)
	fmt.Printf("pp %6d tokens  %10.1f tokens/s\n", r.PromptTokens, r.PPTokensPerS)
	fmt.Printf("tg %6d tokens  %10.1f tokens/s\n", r.GenTokens, r.TGTokensPerS)
	if *reps > 1 {
		fmt.Printf("(mean of %d runs after a warm-up run)\n", *reps)
	}
	writeExpertLoad(os.Stdout, r.ExpertLoad)
	return nil
}

// benchRepeated runs engine.Bench once to warm up (page the weights in,
// size the scratch buffers), then reps times, and returns the last run with
// the mean speeds; for reps == 1 it skips the warm-up, as before.
func benchRepeated(ctx context.Context, e *engine.Engine, pp, tg, reps int) (engine.BenchResult, error) {
	if reps == 1 {
		return engine.Bench(ctx, e, pp, tg)
	}
	if _, err := engine.Bench(ctx, e, pp, tg); err != nil {
		return engine.BenchResult{}, err
	}
	var r engine.BenchResult
	var ppSum, tgSum, ppCPU, tgCPU float64
	for range reps {
		var err error
		if r, err = engine.Bench(ctx, e, pp, tg); err != nil {
			return r, err
		}
		ppSum, tgSum = ppSum+r.PPTokensPerS, tgSum+r.TGTokensPerS
		ppCPU, tgCPU = ppCPU+r.PPCPUSeconds, tgCPU+r.TGCPUSeconds
	}
	r.PPTokensPerS, r.TGTokensPerS = ppSum/float64(reps), tgSum/float64(reps)
	r.PPCPUSeconds, r.TGCPUSeconds = ppCPU, tgCPU
	return r, nil
}

// writeExpertLoad prints, per layer, each expert's share of the routed
// tokens as a bar.
func writeExpertLoad(w io.Writer, load [][]int) {
	if len(load) == 0 || len(load[0]) == 0 {
		fmt.Fprintln(w, "\nno experts (dense model)")
		return
	}
	const width = 30
	fmt.Fprintln(w, "\nexpert load (tokens routed per layer and expert):")
	for l, counts := range load {
		peak, total := 0, 0
		for _, c := range counts {
			peak, total = max(peak, c), total+c
		}
		fmt.Fprintf(w, "layer %d (%d routed)\n", l, total)
		for e, c := range counts {
			bar := 0
			if peak > 0 {
				bar = (c*width + peak - 1) / peak
			}
			pct := 0.0
			if total > 0 {
				pct = 100 * float64(c) / float64(total)
			}
			fmt.Fprintf(w, "  e%-3d %6d %5.1f%% %s\n", e, c, pct, strings.Repeat("#", bar))
		}
	}
}
