// Package engine is moegate's pure-Go mixture-of-experts inference engine:
// it loads a GGUF model and generates text from prompts or chat messages,
// running a bounded number of sequences at once.
//
// The work is split in subpackages: gguf reads the file, tensor holds the
// kernels, model runs the transformer, tokenizer, chat and sample turn it
// into text. Engine ties them together.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/moegate/moegate/engine/chat"
	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/model"
	"github.com/moegate/moegate/engine/sample"
	"github.com/moegate/moegate/engine/tensor"
	"github.com/moegate/moegate/engine/tokenizer"
	"github.com/moegate/moegate/internal/units"
)

// DefaultMaxContext caps the context of a sequence when Options.Context is
// 0: each sequence's KV cache is allocated up front for its whole context.
const DefaultMaxContext = 4096

// ErrPromptTooLong is returned (wrapped, with the numbers) when a prompt
// leaves no room in the context for a single generated token.
var ErrPromptTooLong = errors.New("local: prompt too long for the context")

// Options configure Open.
type Options struct {
	Threads  int // kernel threads; 0 = GOMAXPROCS
	Parallel int // sequences generated at once; more requests wait; 0 = 2
	Context  int // tokens per sequence; 0 = the model's, at most DefaultMaxContext
	Logger   *slog.Logger

	// ExactFloat multiplies quantized weights with float activations
	// instead of quantizing the activations as llama.cpp does (see
	// model.Options).
	ExactFloat bool
}

// Engine generates text with one loaded model. It is safe for concurrent
// use; at most Options.Parallel generations run at once.
type Engine struct {
	file  *gguf.File
	model *model.Model
	pool  *tensor.Pool
	tok   *tokenizer.Tokenizer
	tmpl  chat.Template
	info  Info
	slots chan *model.Sequence
	log   *slog.Logger
}

// Info describes the loaded model.
type Info struct {
	Path, Arch, Name string
	Layers           int
	Experts          int
	ExpertsUsed      int
	Context          int // tokens per sequence
	Threads          int
	Template         string // chat template in use
	ExactFloat       bool   // float activations (Options.ExactFloat)
	Demo             bool   // random weights written by modelgen (general.name "moegate-…")
}

// Open loads the GGUF model at path.
func Open(ctx context.Context, path string, opts Options) (*Engine, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 2
	}
	start := time.Now()
	log.Info("local: opening model", "path", path)
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	e := &Engine{file: f, log: log}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.tok, err = tokenizer.FromGGUF(f.Metadata)
	if err != nil {
		return nil, fmt.Errorf("local: %s: %w", path, err)
	}
	e.pool = tensor.NewPool(opts.Threads)
	e.model, err = model.Load(f, model.Options{Pool: e.pool, Logger: log, ExactFloat: opts.ExactFloat})
	if err != nil {
		return nil, fmt.Errorf("local: %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg := e.model.Config
	n := opts.Context
	if n <= 0 {
		n = min(cfg.Context, DefaultMaxContext)
	}
	n = min(n, cfg.Context)
	tmplText, _ := f.Str("tokenizer.chat_template")
	e.tmpl = chat.Detect(tmplText, cfg.Arch, func(s string) bool { _, ok := e.tok.TokenID(s); return ok })
	name, _ := f.Str("general.name")
	e.info = Info{
		Path: path, Arch: cfg.Arch, Name: name,
		Layers: cfg.Layers, Experts: cfg.Experts, ExpertsUsed: cfg.ExpertsUsed,
		Context: n, Threads: opts.Threads, Template: string(e.tmpl), ExactFloat: opts.ExactFloat,
		Demo: strings.HasPrefix(name, "moegate-"),
	}
	e.slots = make(chan *model.Sequence, opts.Parallel)
	for range opts.Parallel {
		e.slots <- e.model.NewSequence(n)
	}
	log.Info("local: model ready", "path", path, "name", name, "arch", cfg.Arch, "layers", cfg.Layers,
		"experts", cfg.Experts, "experts_used", cfg.ExpertsUsed, "vocab", e.tok.Len(), "context", n,
		"parallel", opts.Parallel, "threads", opts.Threads, "template", e.tmpl, "load_ms", units.MS(time.Since(start)))
	ok = true
	return e, nil
}

// Close releases the model. Generations must have finished.
func (e *Engine) Close() error {
	if e.model != nil {
		e.model.Close()
		e.model = nil
	}
	if e.pool != nil {
		e.pool.Close()
		e.pool = nil
	}
	if e.file != nil {
		err := e.file.Close()
		e.file = nil
		return err
	}
	return nil
}

// Info describes the loaded model.
func (e *Engine) Info() Info { return e.info }

// Tokenizer is the model's tokenizer.
func (e *Engine) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// ExpertLoad returns, per layer and expert, how many tokens were routed to
// the expert since Open.
func (e *Engine) ExpertLoad() [][]uint64 { return e.model.ExpertLoad() }

// Message is one turn of a chat.
type Message struct {
	Role, Content string
}

// Params control one generation.
type Params struct {
	MaxTokens     int     // tokens to generate at most; 0 = until the context is full
	Temperature   float32 // 0 = greedy
	TopK          int     // 0 = off
	TopP          float32 // 0 or 1 = off
	MinP          float32 // 0 = off
	RepeatPenalty float32 // 0 or 1 = off
	Seed          uint64  // with Temperature > 0: 0 = random
	Stop          []string
}

// Result is the outcome of a generation.
type Result struct {
	Text             string
	PromptTokens     int
	CompletionTokens int
	FinishReason     string  // "stop" (end of turn or stop string) or "length"
	ExpertCounts     [][]int // per layer and expert, tokens of this request routed to it
}

// Chat answers msgs, rendered with the model's chat template. onToken (may
// be nil) receives the answer as it is generated, in valid UTF-8 pieces; an
// error from it stops the generation and is returned.
func (e *Engine) Chat(ctx context.Context, msgs []Message, p Params, onToken func(piece string) error) (Result, error) {
	cm := make([]chat.Message, len(msgs))
	for i, m := range msgs {
		cm[i] = chat.Message{Role: m.Role, Content: m.Content}
	}
	parts := chat.Parts(e.tmpl, cm, true)
	segs := make([]tokenizer.Segment, len(parts))
	for i, part := range parts {
		segs[i] = tokenizer.Segment{Text: part.Text, Special: !part.Content}
	}
	return e.run(ctx, e.tok.EncodeSegments(segs, true), p, onToken)
}

// Generate continues prompt, taken as raw text: special tokens written in
// it (such as "<|im_start|>") are parsed.
func (e *Engine) Generate(ctx context.Context, prompt string, p Params, onToken func(piece string) error) (Result, error) {
	return e.run(ctx, e.tok.Encode(prompt, true, true), p, onToken)
}

// acquire waits for a free sequence.
func (e *Engine) acquire(ctx context.Context) (*model.Sequence, error) {
	select {
	case s := <-e.slots:
		return s, nil
	default:
	}
	select {
	case s := <-e.slots:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *Engine) release(s *model.Sequence) {
	s.Reset()
	e.slots <- s
}

func (e *Engine) run(ctx context.Context, prompt []int32, p Params, onToken func(string) error) (Result, error) {
	res := Result{PromptTokens: len(prompt)}
	if len(prompt) == 0 {
		return res, errors.New("local: empty prompt")
	}
	if len(prompt)+1 > e.info.Context {
		return res, fmt.Errorf("%w: %d prompt tokens + 1 > context %d", ErrPromptTooLong, len(prompt), e.info.Context)
	}
	seq, err := e.acquire(ctx)
	if err != nil {
		return res, err
	}
	defer e.release(seq)

	logits, err := e.model.Forward(seq, prompt, false)
	if err != nil {
		return res, fmt.Errorf("local: prompt: %w", err)
	}
	smp := sample.New(sample.Params{
		Temperature: p.Temperature, TopK: p.TopK, TopP: p.TopP, MinP: p.MinP,
		RepeatPenalty: p.RepeatPenalty, Seed: p.Seed,
	})
	history := append(make([]int32, 0, len(prompt)+256), prompt...)
	out := newStopWriter(p.Stop, onToken)
	dec := e.tok.NewStreamDecoder()
	vocab := min(len(logits), e.tok.Len()) // the model may pad its vocabulary
	res.FinishReason = "length"
	for {
		if err := ctx.Err(); err != nil {
			return e.finish(res, out, seq), err
		}
		id := smp.Sample(logits[:vocab], history)
		if e.tok.IsEOG(id) {
			res.FinishReason = "stop"
			break
		}
		res.CompletionTokens++
		history = append(history, id)
		stopped, err := out.write(dec.Add(id))
		if err != nil {
			return e.finish(res, out, seq), err
		}
		if stopped {
			res.FinishReason = "stop"
			break
		}
		if (p.MaxTokens > 0 && res.CompletionTokens >= p.MaxTokens) || seq.Len() >= seq.Cap() {
			break
		}
		if logits, err = e.model.Forward(seq, []int32{id}, false); err != nil {
			return e.finish(res, out, seq), fmt.Errorf("local: generate: %w", err)
		}
	}
	if !out.stopped {
		if _, err := out.write(dec.Flush()); err != nil {
			return e.finish(res, out, seq), err
		}
		if out.stopped {
			res.FinishReason = "stop"
		}
	}
	if err := out.close(); err != nil {
		return e.finish(res, out, seq), err
	}
	return e.finish(res, out, seq), nil
}

func (e *Engine) finish(res Result, out *stopWriter, seq *model.Sequence) Result {
	res.Text = out.text.String()[:out.end()]
	res.ExpertCounts = seq.ExpertCounts()
	return res
}
