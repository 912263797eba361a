package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moegate/moegate/engine"
	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/tensor"
)

// TestModelgenCommand writes every architecture and type with the real
// binary, then loads each file in the engine and runs it.
func TestModelgenCommand(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := runGateway(t, "modelgen", "--all", dir)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if want := len(modelgenArchs)*len(tensor.SupportedTypes()) + 1; len(files) != want || strings.Count(stdout, "wrote ") != want {
		t.Fatalf("%d files, %d 'wrote' lines, want %d", len(files), strings.Count(stdout, "wrote "), want)
	}
	ctx := context.Background()
	for _, path := range files {
		if strings.HasPrefix(filepath.Base(path), "bert-") {
			// An encoder: it embeds rather than generates.
			e, err := engine.OpenEmbedder(ctx, path, engine.EmbedOptions{Threads: 1})
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(path), err)
				continue
			}
			if v, err := e.Embed(ctx, []string{"how do I transfer money?"}); err != nil || len(v) != 1 || len(v[0]) != 256 {
				t.Errorf("%s: Embed: %v", filepath.Base(path), err)
			}
			e.Close()
			continue
		}
		e, err := engine.Open(ctx, path, engine.Options{Threads: 1, Parallel: 1, Context: 64})
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(path), err)
			continue
		}
		if _, err := engine.Bench(ctx, e, 4, 2); err != nil {
			t.Errorf("%s: %v", filepath.Base(path), err)
		}
		e.Close()
	}

	// olmoe's key norm is written at the full width, as llama.cpp loads it.
	f, err := gguf.Open(filepath.Join(dir, "olmoe-Q8_0.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q, _ := f.Tensor("blk.0.attn_q_norm.weight")
	k, _ := f.Tensor("blk.0.attn_k_norm.weight")
	if q == nil || k == nil || k.Elements() != q.Elements() {
		t.Errorf("olmoe norms: q %v, k %v", q, k)
	}
}

func TestModelgenCommandFlags(t *testing.T) {
	stdout, _, code := runGateway(t, "modelgen", "--help")
	if code != 0 || !strings.Contains(stdout, "Usage: gateway modelgen") || !strings.Contains(stdout, "-arch") {
		t.Errorf("--help: exit %d, stdout:\n%s", code, stdout)
	}
	out := filepath.Join(t.TempDir(), "m.gguf")
	if _, stderr, code := runGateway(t, "modelgen", "--out", out, "--arch", "olmoe", "--type", "Q4_K",
		"--hidden", "256"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Fatalf("no model written: %v", err)
	}
	for _, args := range [][]string{
		{"--arch", "bert", "--type", "F16", "--hidden", "64", "--heads", "4", "--pooling", "cls"},
		{"--embed", "--type", "Q8_0"},
	} {
		enc := filepath.Join(t.TempDir(), "e.gguf")
		if _, stderr, code := runGateway(t, append([]string{"modelgen", "--out", enc}, args...)...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		e, err := engine.OpenEmbedder(context.Background(), enc, engine.EmbedOptions{Threads: 1})
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if info := e.Info(); info.Arch != "bert" || (args[0] == "--embed") != (info.Dim == 384) {
			t.Errorf("%v: %+v", args, info)
		}
		e.Close()
	}
	for _, bad := range [][]string{
		{"modelgen", "--out", out, "--arch", "bert", "--pooling", "max"},
		{"modelgen", "--out", out, "--type", "Q3_K"},
		{"modelgen", "--out", out, "--arch", "gpt9"},
		{"modelgen"},
		{"modelgen", "--out", out, "--all", t.TempDir()},
	} {
		if _, stderr, code := runGateway(t, bad...); code == 0 || !strings.Contains(stderr, "gateway modelgen:") {
			t.Errorf("%v: exit %d, stderr %q", bad, code, stderr)
		}
	}
}
