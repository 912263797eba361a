package model

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
)

// largeSpec is a model much larger than the CPU caches (about 0.5 GB in
// Q8_0, 0.2 GB of it active per token), so decoding streams its weights from
// memory and is bound by memory bandwidth rather than by the caches.
func largeSpec(typ tensor.Type) modelgen.Spec {
	return modelgen.Spec{
		Arch: "qwen3moe", Type: typ, Layers: 8, Hidden: 2048, Heads: 16, KVHeads: 4,
		Experts: 8, ExpertsUsed: 2, ExpertFFN: 1024, Vocab: 1024, Context: 2048,
		Tokenizer: "gpt2", Seed: 3,
	}
}

// cachedModel writes spec once to a file under os.TempDir() named for the
// spec (writing a large model takes a while) and opens it.
func cachedModel(b *testing.B, spec modelgen.Spec) *gguf.File {
	b.Helper()
	h := fnv.New64a()
	fmt.Fprintf(h, "%+v", spec)
	path := filepath.Join(os.TempDir(), fmt.Sprintf("moegate-bench-%v-%x.gguf", spec.Type, h.Sum64()))
	if _, err := os.Stat(path); err != nil {
		b.Logf("writing %s", path)
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		if err := modelgen.Write(tmp, spec); err != nil {
			os.Remove(tmp)
			b.Fatalf("modelgen.Write: %v", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	f, err := gguf.Open(path)
	if err != nil {
		b.Fatalf("gguf.Open: %v", err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

// activeBytes is the number of bytes of weights one decoded token reads:
// its embedding row, every layer's norms, attention and router matrices and
// its ExpertsUsed experts (all experts of a layer have the same size), and
// the output norm and matrix. The KV cache is not counted.
func activeBytes(m *Model) int64 {
	mat := func(w *tensor.Matrix) int64 {
		if w == nil {
			return 0
		}
		return int64(len(w.Data))
	}
	vec := func(vs ...[]float32) int64 {
		var n int64
		for _, v := range vs {
			n += 4 * int64(len(v))
		}
		return n
	}
	n := int64(m.embd.RowBytes()) + vec(m.outNorm) + mat(m.output)
	K := int64(m.Config.ExpertsUsed)
	for i := range m.layers {
		ly := &m.layers[i]
		n += vec(ly.attnNorm, ly.bq, ly.bk, ly.bv, ly.bo, ly.qNorm, ly.kNorm, ly.ffnNorm, ly.shGateInp)
		n += mat(ly.wq) + mat(ly.wk) + mat(ly.wv) + mat(ly.wo)
		n += mat(ly.gate) + mat(ly.up) + mat(ly.down) + mat(ly.router)
		n += mat(ly.shGate) + mat(ly.shUp) + mat(ly.shDown)
		if len(ly.expGate) > 0 {
			n += K * (mat(ly.expGate[0]) + mat(ly.expUp[0]) + mat(ly.expDown[0]))
		}
	}
	return n
}

// BenchmarkGenerateLarge measures decoding on largeSpec at 16..64 tokens of
// context and reports the weight bytes read per token and the rate they are
// read at; compare with BenchmarkMemoryBandwidth in package tensor. Run by
// hand: go test -run X -bench GenerateLarge ./engine/model
func BenchmarkGenerateLarge(b *testing.B) {
	for _, typ := range []tensor.Type{tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			f := cachedModel(b, largeSpec(typ))
			for _, exact := range []bool{false, true} {
				act := "q8"
				if exact {
					act = "f32"
				}
				for _, threads := range []int{1, 2} {
					b.Run(fmt.Sprintf("act=%s/threads=%d", act, threads), func(b *testing.B) {
						m := loadModelOpts(b, f, threads, exact)
						s := m.NewSequence(128)
						if _, err := m.Forward(s, prompt(16, m.Config.Vocab), false); err != nil {
							b.Fatal(err)
						}
						tok := []int32{1}
						b.ReportAllocs()
						cpu := startCPU(m)
						b.ResetTimer()
						for b.Loop() {
							if s.Len() >= 64 {
								s.Truncate(16)
							}
							lg, err := m.Forward(s, tok, false)
							if err != nil {
								b.Fatal(err)
							}
							tok[0] = argmax(lg)
						}
						tps := float64(b.N) / b.Elapsed().Seconds()
						ab := activeBytes(m)
						b.ReportMetric(tps, "tokens/s")
						b.ReportMetric(float64(ab)/1e6, "MB/token")
						b.ReportMetric(tps*float64(ab)/1e9, "GB/s")
						cpu.report(b, b.N)
					})
				}
			}
		})
	}
}
