package model

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
	"github.com/moegate/moegate/internal/cputime"
)

// benchSpec is the benchmark model: 4 layers, hidden 512, 8 experts, top-2.
func benchSpec(typ tensor.Type) modelgen.Spec {
	return modelgen.Spec{
		Arch: "qwen3moe", Type: typ, Layers: 4, Hidden: 512, Heads: 8, KVHeads: 4,
		Experts: 8, ExpertsUsed: 2, ExpertFFN: 512, Vocab: 1024, Context: 2048,
		Tokenizer: "gpt2", Seed: 1,
	}
}

// forEachBenchModel runs fn on the benchmark model in each weight type,
// with quantized activations (the default, act=q8) and float ones
// (exact_float, act=f32), on 1 and 2 threads.
func forEachBenchModel(b *testing.B, fn func(b *testing.B, m *Model)) {
	b.Helper()
	for _, typ := range []tensor.Type{tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			f := writeModel(b, benchSpec(typ))
			for _, exact := range []bool{false, true} {
				act := "q8"
				if exact {
					act = "f32"
				}
				for _, threads := range []int{1, 2} {
					b.Run(fmt.Sprintf("act=%s/threads=%d", act, threads), func(b *testing.B) {
						fn(b, loadModelOpts(b, f, threads, exact))
					})
				}
			}
		})
	}
}

// BenchmarkGenerate measures single-token decoding at 16..256 tokens of
// context.
func BenchmarkGenerate(b *testing.B) {
	forEachBenchModel(b, func(b *testing.B, m *Model) {
		s := m.NewSequence(512)
		p := prompt(16, m.Config.Vocab)
		if _, err := m.Forward(s, p, false); err != nil {
			b.Fatal(err)
		}
		tok := []int32{1}
		b.ReportAllocs()
		cpu := startCPU(m)
		b.ResetTimer()
		for b.Loop() {
			if s.Len() >= 256 {
				s.Truncate(16)
			}
			lg, err := m.Forward(s, tok, false)
			if err != nil {
				b.Fatal(err)
			}
			tok[0] = argmax(lg)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		cpu.report(b, b.N)
	})
}

// BenchmarkPromptProcessing measures a 128-token prompt processed in batches.
func BenchmarkPromptProcessing(b *testing.B) {
	const n = 128
	forEachBenchModel(b, func(b *testing.B, m *Model) {
		s := m.NewSequence(n)
		p := prompt(n, m.Config.Vocab)
		b.ReportAllocs()
		cpu := startCPU(m)
		b.ResetTimer()
		for b.Loop() {
			s.Reset()
			if _, err := m.Forward(s, p, false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
		cpu.report(b, n*b.N)
	})
}

// cpuClock measures a one-thread benchmark by the CPU time of its OS
// thread, which waiting for a busy machine's cores does not inflate, and
// a threaded one by the process's CPU time (all its threads: what the
// work and the waits between its parallel loops cost).
type cpuClock struct {
	on, proc bool
	start    time.Duration
}

func startCPU(m *Model) cpuClock {
	if m.pool.Threads() != 1 {
		if t := processCPU(); t > 0 {
			return cpuClock{on: true, proc: true, start: t}
		}
		return cpuClock{}
	}
	runtime.LockOSThread()
	return cpuClock{on: true, start: cputime.Thread()}
}

// report adds "cpu-tokens/s": tokens per second of the thread's CPU time,
// or for several threads "cpu-ms/token" of the process's.
func (c cpuClock) report(b *testing.B, tokens int) {
	if !c.on {
		return
	}
	if c.proc {
		if d := processCPU() - c.start; d > 0 && tokens > 0 {
			b.ReportMetric(d.Seconds()*1e3/float64(tokens), "cpu-ms/token")
		}
		return
	}
	defer runtime.UnlockOSThread()
	if d := cputime.Thread() - c.start; d > 0 {
		b.ReportMetric(float64(tokens)/d.Seconds(), "cpu-tokens/s")
	}
}
