package model

import (
	"fmt"
	"math"
	"testing"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
)

func bertSpec(typ tensor.Type, pooling int) modelgen.Spec {
	return modelgen.Spec{Arch: "bert", Type: typ, Layers: 2, Hidden: 64, Heads: 4, FFN: 128,
		Vocab: 300, Context: 64, Pooling: pooling, Seed: 7}
}

func loadEncoder(tb testing.TB, f *gguf.File, threads int, exact bool) *Encoder {
	tb.Helper()
	pool := tensor.NewPool(threads)
	tb.Cleanup(pool.Close)
	e, err := LoadEncoder(f, Options{Pool: pool, ExactFloat: exact})
	if err != nil {
		tb.Fatalf("LoadEncoder: %v", err)
	}
	return e
}

// refEncoder is a float64 BERT forward pass written from the definition,
// straight from the file's (dequantized) tensors.
type refEncoder struct {
	f *gguf.File
	c EncoderConfig
}

func (r refEncoder) w(t *testing.T, name string) []float64 {
	t.Helper()
	ti, ok := r.f.Tensor(name)
	if !ok {
		t.Fatalf("missing %s", name)
	}
	out := make([]float32, ti.Elements())
	if err := tensor.Dequantize(ti.Type, r.f.TensorData(ti), out); err != nil {
		t.Fatal(err)
	}
	return f64(out)
}

// linear returns W·x + b for W stored as rows of len(x).
func linear(w, b, x []float64) []float64 {
	n := len(w) / len(x)
	y := make([]float64, n)
	for i := range y {
		s := b[i]
		for j, v := range x {
			s += w[i*len(x)+j] * v
		}
		y[i] = s
	}
	return y
}

func refLayerNorm(x, w, b []float64, eps float64) []float64 {
	var mean, v float64
	for _, a := range x {
		mean += a
	}
	mean /= float64(len(x))
	for _, a := range x {
		v += (a - mean) * (a - mean)
	}
	v /= float64(len(x))
	y := make([]float64, len(x))
	for i, a := range x {
		y[i] = (a-mean)/math.Sqrt(v+eps)*w[i] + b[i]
	}
	return y
}

func (r refEncoder) encode(t *testing.T, toks []int32, pooling Pooling) []float64 {
	c := r.c
	H, n := c.Hidden, len(toks)
	eps := float64(c.NormEps)
	emb, typ, pos := r.w(t, "token_embd.weight"), r.w(t, "token_types.weight"), r.w(t, "position_embd.weight")
	x := make([][]float64, n)
	for p, id := range toks {
		row := make([]float64, H)
		for j := range row {
			row[j] = emb[int(id)*H+j] + typ[j] + pos[p*H+j]
		}
		x[p] = refLayerNorm(row, r.w(t, "token_embd_norm.weight"), r.w(t, "token_embd_norm.bias"), eps)
	}
	for il := range c.Layers {
		pre := fmt.Sprintf("blk.%d.", il)
		W := func(s string) []float64 { return r.w(t, pre+s) }
		q, k, v := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for p := range n {
			q[p] = linear(W("attn_q.weight"), W("attn_q.bias"), x[p])
			k[p] = linear(W("attn_k.weight"), W("attn_k.bias"), x[p])
			v[p] = linear(W("attn_v.weight"), W("attn_v.bias"), x[p])
		}
		HD := c.HeadDim
		for p := range n {
			att := make([]float64, H)
			for h := range c.Heads {
				sc := make([]float64, n)
				maxS := math.Inf(-1)
				for j := range n {
					for d := range HD {
						sc[j] += q[p][h*HD+d] * k[j][h*HD+d]
					}
					sc[j] /= math.Sqrt(float64(HD))
					maxS = max(maxS, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - maxS)
					sum += sc[j]
				}
				for j := range n {
					for d := range HD {
						att[h*HD+d] += sc[j] / sum * v[j][h*HD+d]
					}
				}
			}
			o := linear(W("attn_output.weight"), W("attn_output.bias"), att)
			for j := range o {
				o[j] += x[p][j]
			}
			x[p] = refLayerNorm(o, W("attn_output_norm.weight"), W("attn_output_norm.bias"), eps)
			u := linear(W("ffn_up.weight"), W("ffn_up.bias"), x[p])
			for j, a := range u {
				u[j] = 0.5 * a * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(a+0.044715*a*a*a)))
			}
			d := linear(W("ffn_down.weight"), W("ffn_down.bias"), u)
			for j := range d {
				d[j] += x[p][j]
			}
			x[p] = refLayerNorm(d, W("layer_output_norm.weight"), W("layer_output_norm.bias"), eps)
		}
	}
	out := make([]float64, H)
	switch pooling {
	case PoolingCLS:
		copy(out, x[0])
	case PoolingLast:
		copy(out, x[n-1])
	case PoolingMean:
		for _, row := range x {
			for j, a := range row {
				out[j] += a / float64(n)
			}
		}
	}
	return out
}

// unit returns x/|x| in float64 and cosine compares two vectors.
func unit(x []float64) []float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v / math.Sqrt(s)
	}
	return out
}

func cosine(a []float32, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * b[i]
		aa += float64(a[i]) * float64(a[i])
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}

func TestEncoderMatchesReference(t *testing.T) {
	seqs := [][]int32{{2, 40, 77, 123, 5, 3}, {2, 9, 3}, {2, 250, 251, 17, 18, 19, 20, 21, 22, 23, 24, 3}, {2, 3}}
	for _, tc := range []struct {
		typ     tensor.Type
		exact   bool
		maxDiff float64 // on the L2-normalised vectors
		minCos  float64
	}{
		{tensor.F32, false, 1e-4, 0.9999},
		{tensor.F16, false, 1e-4, 0.9999},
		{tensor.Q8_0, true, 1e-4, 0.9999},
		// Quantized activations round each product's input to 8 bits.
		{tensor.Q8_0, false, 2e-2, 0.999},
		{tensor.Q4_0, false, 3e-2, 0.998},
	} {
		for _, pooling := range []Pooling{PoolingMean, PoolingCLS, PoolingLast} {
			t.Run(fmt.Sprintf("%v/exact=%v/%v", tc.typ, tc.exact, pooling), func(t *testing.T) {
				f := writeModel(t, bertSpec(tc.typ, int(pooling)))
				e := loadEncoder(t, f, 2, tc.exact)
				if e.Config.Pooling != pooling {
					t.Fatalf("pooling from the file = %v, want %v", e.Config.Pooling, pooling)
				}
				got, err := e.Encode(seqs, e.Config.Pooling)
				if err != nil {
					t.Fatal(err)
				}
				ref := refEncoder{f: f, c: e.Config}
				for i, toks := range seqs {
					want := unit(ref.encode(t, toks, pooling))
					g := unit(f64(got[i]))
					var diff float64
					for j := range g {
						diff = max(diff, math.Abs(g[j]-want[j]))
					}
					cos := cosine(got[i], want)
					if diff > tc.maxDiff || cos < tc.minCos {
						t.Errorf("sequence %d: max diff %.3g (limit %g), cosine %.7f (min %g)", i, diff, tc.maxDiff, cos, tc.minCos)
					}
					t.Logf("sequence %d: max diff %.3g, cosine %.8f", i, diff, cos)
				}
			})
		}
	}
}

// TestEncoderBatching checks that a sequence's vector does not depend on
// the sequences encoded with it, nor on the thread count.
func TestEncoderBatching(t *testing.T) {
	seqs := [][]int32{{2, 40, 77, 123, 5, 3}, {2, 9, 3}, {2, 250, 251, 17, 18, 19, 20, 21, 22, 23, 24, 3}}
	for _, typ := range []tensor.Type{tensor.F32, tensor.Q8_0} {
		f := writeModel(t, bertSpec(typ, 1))
		for _, threads := range []int{1, 3} {
			e := loadEncoder(t, f, threads, false)
			all, err := e.Encode(seqs, PoolingMean)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range seqs {
				one, err := e.Encode([][]int32{s}, PoolingMean)
				if err != nil {
					t.Fatal(err)
				}
				for j := range one[0] {
					if d := math.Abs(float64(one[0][j] - all[i][j])); d > 1e-6 {
						t.Fatalf("%v threads=%d: sequence %d element %d: alone %g, batched %g", typ, threads, i, j, one[0][j], all[i][j])
					}
				}
			}
		}
	}
}

func TestEncoderRejects(t *testing.T) {
	f := writeModel(t, bertSpec(tensor.F32, 1))
	e := loadEncoder(t, f, 1, false)
	long := make([]int32, e.Config.Context+1)
	for _, tc := range []struct {
		name string
		seqs [][]int32
		p    Pooling
	}{
		{"empty sequence", [][]int32{{}}, PoolingMean},
		{"token out of range", [][]int32{{2, int32(e.Config.Vocab), 3}}, PoolingMean},
		{"negative token", [][]int32{{-1}}, PoolingMean},
		{"too long", [][]int32{long}, PoolingMean},
		{"no pooling", [][]int32{{2, 3}}, PoolingNone},
	} {
		if _, err := e.Encode(tc.seqs, tc.p); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	// A decoder file is not an encoder.
	dec := writeModel(t, small("llama", tensor.F32))
	if _, err := LoadEncoder(dec, Options{}); err == nil {
		t.Error("LoadEncoder accepted a llama file")
	}
}

// TestDecoderEmbed checks a decoder's pooled hidden states: the output
// matrix times the last-token vector gives Forward's logits (themselves
// checked against the float64 reference), a causal model's mean equals the
// average of its prefixes' last-token vectors, and CLS is the first
// token's. 70 tokens span two forward chunks.
func TestDecoderEmbed(t *testing.T) {
	for _, arch := range []string{"qwen3", "llama"} {
		t.Run(arch, func(t *testing.T) {
			spec := small(arch, tensor.F32)
			spec.Experts, spec.ExpertsUsed, spec.FFN = 0, 0, 96
			f := writeModel(t, spec)
			m := loadModel(t, f, 2)
			toks := prompt(70, m.Config.Vocab)
			s := m.NewSequence(0)
			last, err := m.Embed(s, toks, PoolingLast)
			if err != nil {
				t.Fatal(err)
			}
			logits, err := m.Forward(m.NewSequence(0), toks, false)
			if err != nil {
				t.Fatal(err)
			}
			H := m.Config.Hidden
			row := make([]float32, H)
			for v := range m.Config.Vocab {
				if err := m.output.RowF32(v, row); err != nil {
					t.Fatal(err)
				}
				var z float64
				for j := range row {
					z += float64(row[j]) * float64(last[j])
				}
				if math.Abs(z-float64(logits[v])) > 1e-4*max(1, math.Abs(z)) {
					t.Fatalf("logit %d from the vector %g, Forward %g", v, z, logits[v])
				}
			}
			mean, err := m.Embed(s, toks, PoolingMean)
			if err != nil {
				t.Fatal(err)
			}
			first, err := m.Embed(s, toks, PoolingCLS)
			if err != nil {
				t.Fatal(err)
			}
			avg := make([]float64, H)
			for p := range toks {
				v, err := m.Embed(s, toks[:p+1], PoolingLast)
				if err != nil {
					t.Fatal(err)
				}
				if p == 0 && !slicesEqualTol(v, first, 1e-6) {
					t.Fatal("CLS pooling differs from the first token's vector")
				}
				for j := range v {
					avg[j] += float64(v[j]) / float64(len(toks))
				}
			}
			for j := range avg {
				if math.Abs(avg[j]-float64(mean[j])) > 1e-4 {
					t.Fatalf("mean[%d] = %g, average of prefixes %g", j, mean[j], avg[j])
				}
			}
			if _, err := m.Embed(s, nil, PoolingMean); err == nil {
				t.Error("no tokens accepted")
			}
		})
	}
}

func slicesEqualTol(a, b []float32, tol float64) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol {
			return false
		}
	}
	return len(a) == len(b)
}
