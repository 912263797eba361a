package model

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
)

// This file is a deliberately plain float64 forward pass, written separately
// from the engine (naive loops, no batching, no shared code), against which
// the engine is checked. Its architecture semantics are restated here from
// llama.cpp rather than taken from the engine.

// refSemantics are the per-architecture choices of llama.cpp.
type refSemantics struct {
	neox      bool   // LLAMA_ROPE_TYPE_NEOX vs NORM
	normTopK  bool   // build_moe_ffn norm_w
	qkNorm    string // "", "head", "full"
	sharedExp bool   // sigmoid-gated shared expert
}

func refSemanticsFor(arch string) refSemantics {
	switch arch {
	case "llama":
		return refSemantics{neox: false, normTopK: true}
	case "qwen2moe":
		return refSemantics{neox: true, normTopK: false, sharedExp: true}
	case "qwen3moe":
		return refSemantics{neox: true, normTopK: true, qkNorm: "head"}
	case "olmoe":
		return refSemantics{neox: true, normTopK: false, qkNorm: "full"}
	case "qwen2":
		return refSemantics{neox: true}
	case "qwen3":
		return refSemantics{neox: true, qkNorm: "head"}
	}
	panic("unknown arch " + arch)
}

// refMat is a dequantized weight matrix. With quantAct set, products
// quantize their input vector first as the engine does for the matrix's
// type (through float32, then tensor.QuantizeAct) and use the exactly
// decoded activations.
type refMat struct {
	rows     [][]float64 // [row][col]
	typ      tensor.Type
	quantAct bool
	// mins are the per-block offsets m of Q4_1/Q5_1 rows ([row][block]):
	// with Q8_1 activations their term is m times the activations' stored
	// sum s, as in llama.cpp, not the sum of the decoded activations.
	mins [][]float64
}

func (w refMat) mul(x []float64) []float64 {
	if _, ok := tensor.ActType(w.typ); ok && w.quantAct {
		x32 := make([]float32, len(x))
		for i, v := range x {
			x32[i] = float32(v)
		}
		xq := tensor.QuantizeAct(w.typ, make([]byte, tensor.ActBytes(w.typ, len(x))), x32)
		x = make([]float64, len(x))
		tensor.DequantizeAct(w.typ, xq, x)
		if w.mins != nil {
			const q8_1Size = 36
			out := make([]float64, len(w.rows))
			for r, row := range w.rows {
				var s float64
				for c, v := range row {
					s += (v - w.mins[r][c/32]) * x[c]
				}
				for b, m := range w.mins[r] {
					s += m * float64(tensor.F16ToF32(uint16(xq[b*q8_1Size+2])|uint16(xq[b*q8_1Size+3])<<8))
				}
				out[r] = s
			}
			return out
		}
	}
	out := make([]float64, len(w.rows))
	for r, row := range w.rows {
		var s float64
		for c, v := range row {
			s += v * x[c]
		}
		out[r] = s
	}
	return out
}

type refLayer struct {
	attnNorm, ffnNorm    []float64
	wq, wk, wv, wo       refMat
	bq, bk, bv           []float64
	qNorm, kNorm         []float64
	gate, up, down       refMat
	router               refMat
	eGate, eUp, eDown    []refMat
	shInp                []float64
	shGate, shUp, shDown refMat
}

type refModel struct {
	sem                        refSemantics
	layers, hidden, heads, kvh int
	hd, vocab, experts, used   int
	eps, ropeBase, ropeScale   float64
	embd, out                  refMat
	outNorm                    []float64
	ly                         []refLayer
	noSharedGate               bool // mutation: shared expert added with weight 1
}

// refLoad reads the model written for spec from f, dequantizing every
// tensor into float64. With quantAct, matrix products quantize their
// activations as the engine does by default (see refMat).
func refLoad(t *testing.T, f *gguf.File, spec modelgen.Spec, quantAct bool) *refModel {
	t.Helper()
	raw := func(name string) ([]float64, []uint64, tensor.Type) {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("reference: missing tensor %s", name)
		}
		n := 1
		for _, d := range ti.Dims {
			n *= int(d)
		}
		v32 := make([]float32, n)
		if err := tensor.Dequantize(ti.Type, f.TensorData(ti), v32); err != nil {
			t.Fatalf("reference: %s: %v", name, err)
		}
		v := make([]float64, n)
		for i, x := range v32 {
			v[i] = float64(x)
		}
		return v, ti.Dims, ti.Type
	}
	vec := func(name string) []float64 { v, _, _ := raw(name); return v }
	opt := func(name string) []float64 {
		if _, ok := f.Tensor(name); !ok {
			return nil
		}
		return vec(name)
	}
	mats := func(name string) []refMat {
		v, d, typ := raw(name)
		ti, _ := f.Tensor(name)
		data := f.TensorData(ti)
		cols, rows, n := int(d[0]), 1, 1
		if len(d) > 1 {
			rows = int(d[1])
		}
		if len(d) > 2 {
			n = int(d[2])
		}
		out := make([]refMat, n)
		for e := range n {
			out[e] = refMat{rows: make([][]float64, rows), typ: typ, quantAct: quantAct}
			for r := range rows {
				off := (e*rows + r) * cols
				out[e].rows[r] = v[off : off+cols]
			}
			if typ == tensor.Q4_1 || typ == tensor.Q5_1 {
				bb := typ.BlockBytes()
				out[e].mins = make([][]float64, rows)
				for r := range rows {
					for b := range cols / 32 {
						at := ((e*rows+r)*(cols/32) + b) * bb
						out[e].mins[r] = append(out[e].mins[r], float64(tensor.F16ToF32(uint16(data[at+2])|uint16(data[at+3])<<8)))
					}
				}
			}
		}
		return out
	}
	mat := func(name string) refMat { return mats(name)[0] }

	headDim := spec.HeadDim
	if headDim == 0 {
		headDim = spec.Hidden / spec.Heads
	}
	kvh := spec.KVHeads
	if kvh == 0 {
		kvh = spec.Heads
	}
	m := &refModel{
		sem: refSemanticsFor(spec.Arch), layers: spec.Layers, hidden: spec.Hidden,
		heads: spec.Heads, kvh: kvh, hd: headDim, experts: spec.Experts, used: spec.ExpertsUsed,
		eps: 1e-6, ropeBase: 10000, ropeScale: 1,
	}
	if spec.RopeBase != 0 {
		m.ropeBase = float64(spec.RopeBase)
	}
	if spec.RopeScale != 0 {
		m.ropeScale = float64(spec.RopeScale)
	}
	m.embd = mat("token_embd.weight")
	m.vocab = len(m.embd.rows)
	m.outNorm = vec("output_norm.weight")
	if _, ok := f.Tensor("output.weight"); ok {
		m.out = mat("output.weight")
	} else {
		m.out = m.embd
	}
	for i := range spec.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		l := refLayer{
			attnNorm: vec(p + "attn_norm.weight"), ffnNorm: vec(p + "ffn_norm.weight"),
			wq: mat(p + "attn_q.weight"), wk: mat(p + "attn_k.weight"),
			wv: mat(p + "attn_v.weight"), wo: mat(p + "attn_output.weight"),
			bq: opt(p + "attn_q.bias"), bk: opt(p + "attn_k.bias"), bv: opt(p + "attn_v.bias"),
			qNorm: opt(p + "attn_q_norm.weight"), kNorm: opt(p + "attn_k_norm.weight"),
		}
		switch {
		case spec.Experts == 0:
			l.gate, l.up, l.down = mat(p+"ffn_gate.weight"), mat(p+"ffn_up.weight"), mat(p+"ffn_down.weight")
		case spec.PerExpertLayout:
			l.router = mat(p + "ffn_gate_inp.weight")
			for e := range spec.Experts {
				l.eGate = append(l.eGate, mat(fmt.Sprintf("%sffn_gate.%d.weight", p, e)))
				l.eUp = append(l.eUp, mat(fmt.Sprintf("%sffn_up.%d.weight", p, e)))
				l.eDown = append(l.eDown, mat(fmt.Sprintf("%sffn_down.%d.weight", p, e)))
			}
		default:
			l.router = mat(p + "ffn_gate_inp.weight")
			l.eGate, l.eUp, l.eDown = mats(p+"ffn_gate_exps.weight"), mats(p+"ffn_up_exps.weight"), mats(p+"ffn_down_exps.weight")
		}
		if m.sem.sharedExp {
			l.shInp = vec(p + "ffn_gate_inp_shexp.weight")
			l.shGate, l.shUp, l.shDown = mat(p+"ffn_gate_shexp.weight"), mat(p+"ffn_up_shexp.weight"), mat(p+"ffn_down_shexp.weight")
		}
		m.ly = append(m.ly, l)
	}
	return m
}

func refRMSNorm(x, w []float64, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i := range x {
		out[i] = x[i] * s * w[i]
	}
	return out
}

// refRope rotates one head in place at position pos.
func refRope(v []float64, pos int, neox bool, base, scale float64) {
	d := len(v)
	for i := 0; i < d/2; i++ {
		theta := float64(pos) / scale * math.Pow(base, -2*float64(i)/float64(d))
		c, s := math.Cos(theta), math.Sin(theta)
		a, b := 2*i, 2*i+1
		if neox {
			a, b = i, i+d/2
		}
		x0, x1 := v[a], v[b]
		v[a] = x0*c - x1*s
		v[b] = x0*s + x1*c
	}
}

func refSoftmax(x []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	out := make([]float64, len(x))
	var sum float64
	for i, v := range x {
		out[i] = math.Exp(v - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func refSilu(x float64) float64 { return x / (1 + math.Exp(-x)) }

func refSwiGLU(gate, up, down refMat, x []float64) []float64 {
	g, u := gate.mul(x), up.mul(x)
	for i := range g {
		g[i] = refSilu(g[i]) * u[i]
	}
	return down.mul(g)
}

func addBias64(x, b []float64) {
	for i := range b {
		x[i] += b[i]
	}
}

// refRun processes tokens one at a time from position 0 and returns the
// logits of every position and the expert counts per layer.
func (m *refModel) run(tokens []int32) ([][]float64, [][]int) {
	type kv struct{ k, v [][]float64 }
	cache := make([]kv, m.layers)
	counts := make([][]int, m.layers)
	for l := range counts {
		counts[l] = make([]int, m.experts)
	}
	var logits [][]float64
	qDim, kvDim := m.heads*m.hd, m.kvh*m.hd
	for pos, tok := range tokens {
		x := append([]float64(nil), m.embd.rows[tok]...)
		for il, l := range m.ly {
			h := refRMSNorm(x, l.attnNorm, m.eps)
			q, k, v := l.wq.mul(h), l.wk.mul(h), l.wv.mul(h)
			addBias64(q, l.bq)
			addBias64(k, l.bk)
			addBias64(v, l.bv)
			switch m.sem.qkNorm {
			case "head":
				for hh := 0; hh < qDim; hh += m.hd {
					copy(q[hh:hh+m.hd], refRMSNorm(q[hh:hh+m.hd], l.qNorm, m.eps))
				}
				for hh := 0; hh < kvDim; hh += m.hd {
					copy(k[hh:hh+m.hd], refRMSNorm(k[hh:hh+m.hd], l.kNorm, m.eps))
				}
			case "full":
				q = refRMSNorm(q, l.qNorm, m.eps)
				k = refRMSNorm(k, l.kNorm, m.eps)
			}
			for hh := 0; hh < qDim; hh += m.hd {
				refRope(q[hh:hh+m.hd], pos, m.sem.neox, m.ropeBase, m.ropeScale)
			}
			for hh := 0; hh < kvDim; hh += m.hd {
				refRope(k[hh:hh+m.hd], pos, m.sem.neox, m.ropeBase, m.ropeScale)
			}
			cache[il].k = append(cache[il].k, k)
			cache[il].v = append(cache[il].v, v)
			att := make([]float64, qDim)
			for hh := range m.heads {
				kvHead := hh / (m.heads / m.kvh)
				qh := q[hh*m.hd : (hh+1)*m.hd]
				scores := make([]float64, pos+1)
				for j := range scores {
					kj := cache[il].k[j][kvHead*m.hd : (kvHead+1)*m.hd]
					for d := range qh {
						scores[j] += qh[d] * kj[d]
					}
					scores[j] /= math.Sqrt(float64(m.hd))
				}
				p := refSoftmax(scores)
				for j, w := range p {
					vj := cache[il].v[j][kvHead*m.hd : (kvHead+1)*m.hd]
					for d := range vj {
						att[hh*m.hd+d] += w * vj[d]
					}
				}
			}
			o := l.wo.mul(att)
			for i := range x {
				x[i] += o[i]
			}
			h = refRMSNorm(x, l.ffnNorm, m.eps)
			var f []float64
			if m.experts == 0 {
				f = refSwiGLU(l.gate, l.up, l.down, h)
			} else {
				f = m.refMoE(l, h, counts[il])
			}
			for i := range x {
				x[i] += f[i]
			}
		}
		logits = append(logits, m.out.mul(refRMSNorm(x, m.outNorm, m.eps)))
	}
	return logits, counts
}

func (m *refModel) refMoE(l refLayer, h []float64, counts []int) []float64 {
	probs := refSoftmax(l.router.mul(h))
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	sel := idx[:m.used]
	var sum float64
	for _, e := range sel {
		sum += probs[e]
	}
	out := make([]float64, m.hidden)
	for _, e := range sel {
		counts[e]++
		w := probs[e]
		if m.sem.normTopK {
			w /= sum
		}
		y := refSwiGLU(l.eGate[e], l.eUp[e], l.eDown[e], h)
		for i := range out {
			out[i] += w * y[i]
		}
	}
	if m.sem.sharedExp {
		var g float64
		for i := range h {
			g += l.shInp[i] * h[i]
		}
		g = 1 / (1 + math.Exp(-g))
		if m.noSharedGate {
			g = 1
		}
		y := refSwiGLU(l.shGate, l.shUp, l.shDown, h)
		for i := range out {
			out[i] += g * y[i]
		}
	}
	return out
}
