package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/moegate/moegate/internal/cputime"
)

// BenchResult reports the engine's speed on one sequence.
type BenchResult struct {
	PPTokensPerS float64 // prompt processing: the prompt as one batch
	TGTokensPerS float64 // text generation: one token at a time
	// CPU seconds of the whole process (every thread) during each phase,
	// 0 where the system cannot tell: speed per CPU second, which a busy
	// machine deflates less than the wall clock and which, unlike the
	// process's total CPU time, leaves loading out.
	PPCPUSeconds, TGCPUSeconds float64
	Threads                    int
	PromptTokens               int
	GenTokens                  int
	ExpertLoad                 [][]int // per layer and expert, tokens routed during the run
}

// Bench processes a synthetic prompt of promptTokens tokens in one batch,
// then generates genTokens tokens greedily one by one (ignoring
// end-of-generation tokens), and reports both speeds.
func Bench(ctx context.Context, e *Engine, promptTokens, genTokens int) (BenchResult, error) {
	r := BenchResult{Threads: e.info.Threads, PromptTokens: promptTokens, GenTokens: genTokens}
	if promptTokens < 1 || genTokens < 0 {
		return r, fmt.Errorf("local: bench needs at least one prompt token (got %d) and no negative generation (got %d)", promptTokens, genTokens)
	}
	if promptTokens+genTokens > e.info.Context {
		return r, fmt.Errorf("%w: bench of %d prompt + %d generated tokens > context %d", ErrPromptTooLong, promptTokens, genTokens, e.info.Context)
	}
	seq, err := e.acquire(ctx)
	if err != nil {
		return r, err
	}
	defer e.release(seq)

	vocab := e.tok.Len()
	prompt := make([]int32, promptTokens)
	for i := range prompt {
		prompt[i] = int32((i*7919 + 13) % vocab) // spread over the vocabulary, deterministic
	}
	start, cpu := time.Now(), cputime.Process()
	logits, err := e.model.Forward(seq, prompt, false)
	if err != nil {
		return r, fmt.Errorf("local: bench prompt: %w", err)
	}
	r.PPTokensPerS = float64(promptTokens) / time.Since(start).Seconds()
	r.PPCPUSeconds = (cputime.Process() - cpu).Seconds()

	start, cpu = time.Now(), cputime.Process()
	for range genTokens {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		best := 0
		for i, l := range logits[:vocab] {
			if l > logits[best] {
				best = i
			}
		}
		if logits, err = e.model.Forward(seq, []int32{int32(best)}, false); err != nil {
			return r, fmt.Errorf("local: bench generation: %w", err)
		}
	}
	if genTokens > 0 {
		r.TGTokensPerS = float64(genTokens) / time.Since(start).Seconds()
		r.TGCPUSeconds = (cputime.Process() - cpu).Seconds()
	}
	r.ExpertLoad = seq.ExpertCounts()
	return r, nil
}
