package engine

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
)

// openDemo writes the demo model into a temporary directory and opens it.
func openDemo(t *testing.T, opts Options) *Engine {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.gguf")
	if err := modelgen.Write(path, modelgen.DemoSpec()); err != nil {
		t.Fatal(err)
	}
	return openPath(t, path, opts)
}

func openPath(t *testing.T, path string, opts Options) *Engine {
	t.Helper()
	if opts.Threads == 0 {
		opts.Threads = 2
	}
	e, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// collect returns an onToken callback and the text it received.
func collect() (func(string) error, *strings.Builder) {
	var b strings.Builder
	return func(s string) error { b.WriteString(s); return nil }, &b
}

func TestGenerate(t *testing.T) {
	e := openDemo(t, Options{})
	info := e.Info()
	if !info.Demo || info.Arch != "qwen3moe" || info.Experts != 8 || info.Layers != 4 {
		t.Fatalf("Info = %+v", info)
	}
	// The model's weights are random: it may end a turn early, so several
	// prompts are tried; at least one must run into MaxTokens.
	var (
		res    Result
		got    *strings.Builder
		prompt string
	)
	for _, prompt = range []string{"Once upon a time", "The quick brown fox", "alpha", "hi"} {
		var on func(string) error
		on, got = collect()
		var err error
		res, err = e.Generate(context.Background(), prompt, Params{MaxTokens: 8}, on)
		if err != nil {
			t.Fatal(err)
		}
		if res.FinishReason == "length" {
			break
		}
		if res.FinishReason != "stop" || res.CompletionTokens >= 8 {
			t.Fatalf("%q: finish %q after %d tokens", prompt, res.FinishReason, res.CompletionTokens)
		}
	}
	if res.FinishReason != "length" || res.CompletionTokens != 8 {
		t.Fatalf("finish %q after %d tokens, want length after 8", res.FinishReason, res.CompletionTokens)
	}
	if res.Text == "" || got.String() != res.Text {
		t.Fatalf("streamed %q, result %q", got.String(), res.Text)
	}
	if want := len(e.Tokenizer().Encode(prompt, true, true)); res.PromptTokens != want {
		t.Errorf("PromptTokens %d, want %d", res.PromptTokens, want)
	}
	// Every token that went through the model (all but the last sampled
	// one) was routed to ExpertsUsed experts in every layer.
	want := (res.PromptTokens + res.CompletionTokens - 1) * info.ExpertsUsed
	for l, counts := range res.ExpertCounts {
		sum := 0
		for _, c := range counts {
			sum += c
		}
		if sum != want {
			t.Errorf("layer %d routed %d token-experts, want %d", l, sum, want)
		}
	}
	load := e.ExpertLoad()
	if len(load) != info.Layers || len(load[0]) != info.Experts {
		t.Errorf("ExpertLoad shape %dx%d", len(load), len(load[0]))
	}
}

func TestGreedyDeterministic(t *testing.T) {
	e := openDemo(t, Options{})
	p := Params{MaxTokens: 12}
	a, err := e.Generate(context.Background(), "Once upon a time", p, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Generate(context.Background(), "Once upon a time", p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Text != b.Text {
		t.Fatalf("greedy runs differ: %q vs %q", a.Text, b.Text)
	}
}

func TestSeededSampling(t *testing.T) {
	e := openDemo(t, Options{})
	run := func(seed uint64) string {
		r, err := e.Chat(context.Background(), []Message{{"user", "Tell me a story"}},
			Params{MaxTokens: 12, Temperature: 1, TopK: 50, TopP: 0.95, Seed: seed}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Text
	}
	if a, b := run(7), run(7); a != b {
		t.Fatalf("same seed, different text: %q vs %q", a, b)
	}
	seen := map[string]bool{}
	for seed := uint64(1); seed <= 4; seed++ {
		seen[run(seed)] = true
	}
	if len(seen) < 2 {
		t.Errorf("four seeds gave the same text")
	}
}

func TestStopStrings(t *testing.T) {
	e := openDemo(t, Options{})
	ctx := context.Background()
	full, err := e.Generate(ctx, "In the beginning", Params{MaxTokens: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runes := []rune(full.Text)
	if len(runes) < 6 {
		t.Fatalf("generated text too short to pick a stop string: %q", full.Text)
	}
	stop := string(runes[len(runes)/2 : len(runes)/2+2])
	want := full.Text[:strings.Index(full.Text, stop)]

	on, got := collect()
	res, err := e.Generate(ctx, "In the beginning", Params{MaxTokens: 24, Stop: []string{"\x00never", stop}}, on)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != want || res.FinishReason != "stop" {
		t.Errorf("stop %q: text %q finish %q, want %q stop", stop, res.Text, res.FinishReason, want)
	}
	if got.String() != want {
		t.Errorf("streamed %q, want %q", got.String(), want)
	}
}

func TestStopWriterHoldsBack(t *testing.T) {
	var emitted []string
	w := newStopWriter([]string{"END"}, func(s string) error { emitted = append(emitted, s); return nil })
	for _, p := range []string{"abc E", "N", "x E", "ND tail"} {
		if stopped, _ := w.write(p); stopped {
			break
		}
	}
	if got := strings.Join(emitted, "|"); got != "abc |ENx " {
		t.Errorf("emitted %q, want %q", got, "abc |ENx ")
	}
	if w.text.String()[:w.end()] != "abc ENx " {
		t.Errorf("text %q", w.text.String()[:w.end()])
	}
}

func TestPromptTooLong(t *testing.T) {
	e := openDemo(t, Options{Context: 16})
	_, err := e.Generate(context.Background(), strings.Repeat("many words here ", 20), Params{MaxTokens: 4}, nil)
	if !errors.Is(err, ErrPromptTooLong) {
		t.Fatalf("err = %v, want ErrPromptTooLong", err)
	}
	if !strings.Contains(err.Error(), "context 16") {
		t.Errorf("error lacks the numbers: %v", err)
	}
	// A prompt that fits leaves a full context as "length".
	res, err := e.Generate(context.Background(), "hi", Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.PromptTokens+res.CompletionTokens > 16+1 || (res.FinishReason == "length" && res.PromptTokens+res.CompletionTokens < 16) {
		t.Errorf("context 16: %d prompt + %d generated, finish %q", res.PromptTokens, res.CompletionTokens, res.FinishReason)
	}
}

func TestConcurrentRequests(t *testing.T) {
	e := openDemo(t, Options{Parallel: 2})
	ctx := context.Background()
	prompts := []string{"alpha", "beta gamma", "delta", "epsilon zeta eta"}
	want := map[string]string{}
	for _, p := range prompts {
		r, err := e.Generate(ctx, p, Params{MaxTokens: 6}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[p] = r.Text
	}
	var wg sync.WaitGroup
	errs := make([]error, len(prompts))
	texts := make([]string, len(prompts))
	for i, p := range prompts {
		wg.Go(func() {
			r, err := e.Generate(ctx, p, Params{MaxTokens: 6}, nil)
			errs[i], texts[i] = err, r.Text
		})
	}
	wg.Wait()
	for i, p := range prompts {
		if errs[i] != nil {
			t.Errorf("%q: %v", p, errs[i])
		} else if texts[i] != want[p] {
			t.Errorf("%q concurrently: %q, alone: %q", p, texts[i], want[p])
		}
	}
}

func TestQueuedRequestCancelled(t *testing.T) {
	e := openDemo(t, Options{Parallel: 1})
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once sync.Once
		_, err := e.Generate(context.Background(), "hold the slot", Params{MaxTokens: 4}, func(string) error {
			once.Do(func() { close(started); <-release })
			return nil
		})
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("first request produced nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.Generate(ctx, "waiting", Params{MaxTokens: 4}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued request: err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("queued request took %v to give up", d)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel2() }()
	if _, err := e.Generate(ctx2, "waiting", Params{MaxTokens: 4}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled queued request: err = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first request: %v", err)
	}
}

func TestCancelDuringGeneration(t *testing.T) {
	e := openDemo(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err := e.Generate(ctx, "go on", Params{MaxTokens: 100}, func(string) error {
		if n++; n == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || res.CompletionTokens >= 100 {
		t.Errorf("err %v after %d tokens", err, res.CompletionTokens)
	}
}

func TestTokenizersFromModelFiles(t *testing.T) {
	for _, kind := range []string{"gpt2", "llama"} {
		spec := modelgen.Spec{Arch: "llama", Type: tensor.F32, Layers: 1, Hidden: 32, Heads: 2,
			Experts: 4, ExpertsUsed: 2, Vocab: 600, Tokenizer: kind, Seed: 3}
		if kind == "gpt2" {
			spec.Arch = "qwen2moe"
		}
		path := filepath.Join(t.TempDir(), kind+".gguf")
		if err := modelgen.Write(path, spec); err != nil {
			t.Fatal(err)
		}
		e := openPath(t, path, Options{})
		tk := e.Tokenizer()
		if tk.Model() != kind {
			t.Fatalf("tokenizer model %q, want %q", tk.Model(), kind)
		}
		for _, s := range []string{"Hello world", "the experts of the mixture route tokens", "Ünïcödé ✓ 👋", "  spaces\tand\nlines  "} {
			ids := tk.Encode(s, false, false)
			if got := tk.Decode(ids); got != s {
				t.Errorf("%s: Decode(Encode(%q)) = %q", kind, s, got)
			}
			if len(ids) >= len(s) && strings.Contains(s, "the") {
				t.Errorf("%s: %q took %d tokens: merges not applied", kind, s, len(ids))
			}
		}
		r, err := e.Chat(context.Background(), []Message{{"system", "Be brief."}, {"user", "Hi"}}, Params{MaxTokens: 4}, nil)
		if err != nil {
			t.Fatalf("%s: Chat: %v", kind, err)
		}
		if r.PromptTokens < 4 {
			t.Errorf("%s: chat prompt of %d tokens", kind, r.PromptTokens)
		}
	}
}

func TestBench(t *testing.T) {
	e := openDemo(t, Options{})
	r, err := Bench(context.Background(), e, 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	if r.PPTokensPerS <= 0 || r.TGTokensPerS <= 0 || r.Threads != 2 {
		t.Fatalf("result %+v", r)
	}
	if runtime.GOOS == "linux" && (r.PPCPUSeconds <= 0 || r.TGCPUSeconds <= 0) {
		t.Fatalf("CPU seconds of the phases: prompt %v, generation %v", r.PPCPUSeconds, r.TGCPUSeconds)
	}
	for l, counts := range r.ExpertLoad {
		sum := 0
		for _, c := range counts {
			sum += c
		}
		if want := (16 + 4) * e.Info().ExpertsUsed; sum != want {
			t.Errorf("layer %d: %d routed, want %d", l, sum, want)
		}
	}
	if _, err := Bench(context.Background(), e, 5000, 1); !errors.Is(err, ErrPromptTooLong) {
		t.Errorf("oversized bench: %v", err)
	}
}
