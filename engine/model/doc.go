// Package model runs the forward pass of decoder-only transformers and
// mixture-of-experts models stored in GGUF files, following llama.cpp's
// semantics so that files converted for llama.cpp give the same logits.
//
// Supported architectures (general.architecture):
//
//   - llama: dense Llama, or Mixtral-style MoE (merged 3-D ffn_*_exps
//     tensors or the older per-expert ffn_*.E tensors); adjacent-pair RoPE;
//     top-k gate weights renormalised.
//   - qwen2, qwen3: dense; NeoX RoPE; qwen2 with q/k/v biases, qwen3 with
//     per-head RMSNorm of q and k before RoPE.
//   - qwen2moe: q/k/v biases, NeoX RoPE, top-k weights not renormalised,
//     plus a shared expert scaled by sigmoid(ffn_gate_inp_shexp·x).
//   - qwen3moe: per-head RMSNorm of q and k before RoPE, NeoX RoPE,
//     renormalised top-k.
//   - olmoe: RMSNorm of the whole q and k vectors, NeoX RoPE, top-k not
//     renormalised.
//
// LoadEncoder loads a BERT-family encoder ("bert", llama.cpp's
// LLM_ARCH_BERT: learned positions, post-layer-norm, GELU, bidirectional
// attention) for embeddings; Encoder.Encode runs several token sequences
// through it at once and pools each (mean, CLS or last token).
//
// Load maps a gguf.File into a Model (weights stay in the file's mapping).
// Each concurrent generation owns a Sequence (KV cache, scratch buffers,
// expert counts); Forward processes a batch of new tokens of one sequence,
// grouping the batch's tokens per expert, and runs matrix products and
// attention heads on a tensor.Pool.
//
// The tests check the engine against a plain float64 reference
// implementation on tiny random models written by modelgen.
package model
