package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
)

// runGateway runs the gateway binary and returns stdout, stderr and the exit code.
func runGateway(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(gatewayBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func TestGenerateCommand(t *testing.T) {
	stdout, stderr, code := runGateway(t, "generate", "--model", "demo", "--prompt", "Hello there", "--max-tokens", "8", "--chat")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if strings.TrimSpace(stdout) == "" {
		t.Errorf("no text on stdout; stderr:\n%s", stderr)
	}
	if !strings.Contains(stderr, "loaded moegate-demo") || !strings.Contains(stderr, "generated") {
		t.Errorf("stderr lacks load progress or summary:\n%s", stderr)
	}

	// Greedy generation from a model file is the same on every run.
	path := filepath.Join(t.TempDir(), "demo.gguf")
	if err := modelgen.Write(path, modelgen.DemoSpec()); err != nil {
		t.Fatal(err)
	}
	args := []string{"generate", "--model", path, "--prompt", "Once upon a time", "--max-tokens", "10", "--threads", "1"}
	a, _, codeA := runGateway(t, args...)
	b, _, codeB := runGateway(t, args...)
	if codeA != 0 || codeB != 0 || a != b || strings.TrimSpace(a) == "" {
		t.Errorf("greedy runs: exit %d/%d, %q vs %q", codeA, codeB, a, b)
	}
	// Seeded sampling too.
	args = append(args, "--temperature", "0.9", "--seed", "5")
	a, _, _ = runGateway(t, args...)
	b, _, _ = runGateway(t, args...)
	if a != b {
		t.Errorf("seeded runs differ: %q vs %q", a, b)
	}
}

func TestGenerateCommandErrors(t *testing.T) {
	_, stderr, code := runGateway(t, "generate", "--model", "demo")
	if code == 0 || !strings.Contains(stderr, "--prompt") {
		t.Errorf("missing --prompt: exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = runGateway(t, "generate", "--model", filepath.Join(t.TempDir(), "missing.gguf"), "--prompt", "x")
	if code == 0 || !strings.Contains(stderr, "missing.gguf") {
		t.Errorf("missing model: exit %d, stderr:\n%s", code, stderr)
	}
	help, _, code := runGateway(t, "generate", "--help")
	if code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	for _, flag := range []string{"-model", "-prompt", "-max-tokens", "-temperature", "-seed", "-threads", "-chat", "demo"} {
		if !strings.Contains(help, flag) {
			t.Errorf("generate usage does not describe %s:\n%s", flag, help)
		}
	}
}

func TestBenchLocalCommand(t *testing.T) {
	stdout, stderr, code := runGateway(t, "bench", "local", "--model", "demo", "--prompt-tokens", "16", "--gen-tokens", "4", "--threads", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var r struct {
		PP         float64 `json:"pp_tokens_per_s"`
		TG         float64 `json:"tg_tokens_per_s"`
		Threads    int     `json:"threads"`
		ExpertLoad [][]int `json:"expert_load"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	if r.PP <= 0 || r.TG <= 0 || r.Threads != 1 || len(r.ExpertLoad) == 0 {
		t.Fatalf("result %+v", r)
	}
	for l, counts := range r.ExpertLoad {
		sum := 0
		for _, c := range counts {
			sum += c
		}
		if sum == 0 || sum%(16+4) != 0 { // every token goes to the same number of experts
			t.Errorf("layer %d: %d routed tokens for 20 tokens", l, sum)
		}
	}

	stdout, stderr, code = runGateway(t, "bench", "local", "--model", "demo", "--prompt-tokens", "8", "--gen-tokens", "2", "--repetitions", "3")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"pp ", "tg ", "tokens/s", "layer 0", "#", "mean of 3 runs"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	help, _, _ := runGateway(t, "bench", "local", "--help")
	for _, flag := range []string{"-model", "-prompt-tokens", "-gen-tokens", "-threads", "-json", "-repetitions"} {
		if !strings.Contains(help, flag) {
			t.Errorf("bench local usage does not describe %s", flag)
		}
	}
}

// TestGenerateEveryArchitectureAndType: `gateway generate` produces text
// from a GGUF file of each supported architecture and weight type.
func TestGenerateEveryArchitectureAndType(t *testing.T) {
	base := modelgen.Spec{Layers: 2, Hidden: 256, Heads: 4, KVHeads: 2, Experts: 4, ExpertsUsed: 2, ExpertFFN: 256,
		Vocab: 512, Context: 256, Type: tensor.Q8_0, Seed: 3}
	type variant struct {
		name string
		edit func(*modelgen.Spec)
	}
	var cases []variant
	for _, v := range []variant{
		{"llama-dense", func(s *modelgen.Spec) { s.Arch, s.Experts, s.FFN, s.Tokenizer = "llama", 0, 512, "llama" }},
		{"llama-moe", func(s *modelgen.Spec) { s.Arch = "llama" }},
		{"llama-moe-per-expert", func(s *modelgen.Spec) { s.Arch, s.PerExpertLayout = "llama", true }},
		{"qwen2moe", func(s *modelgen.Spec) { s.Arch = "qwen2moe" }},
		{"qwen3moe", func(s *modelgen.Spec) { s.Arch = "qwen3moe" }},
		{"olmoe", func(s *modelgen.Spec) { s.Arch, s.KVHeads = "olmoe", 4 }},
	} {
		cases = append(cases, v)
	}
	for _, typ := range []tensor.Type{tensor.F32, tensor.F16, tensor.BF16, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K} {
		cases = append(cases, variant{"qwen3moe-" + typ.String(), func(s *modelgen.Spec) { s.Arch, s.Type = "qwen3moe", typ }})
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := base
			tc.edit(&spec)
			path := filepath.Join(dir, tc.name+".gguf")
			if err := modelgen.Write(path, spec); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runGateway(t, "generate", "--model", path, "--prompt", "the quick brown fox", "--max-tokens", "6", "--threads", "1")
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			if strings.TrimSpace(stdout) == "" {
				t.Fatalf("no text generated; stderr:\n%s", stderr)
			}
		})
	}
}
