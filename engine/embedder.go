package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"time"

	"github.com/moegate/moegate/engine/gguf"
	"github.com/moegate/moegate/engine/model"
	"github.com/moegate/moegate/engine/tensor"
	"github.com/moegate/moegate/engine/tokenizer"
	"github.com/moegate/moegate/internal/errs"
)

// DefaultBatchTokens is the number of tokens an Embed call runs through the
// encoder together when EmbedOptions.BatchTokens is 0: enough rows that the
// matrix kernels reuse each weight block, few enough that the activations
// stay in the caches.
const DefaultBatchTokens = 256

// EmbedOptions configure OpenEmbedder.
type EmbedOptions struct {
	Threads  int // kernel threads; 0 = GOMAXPROCS
	Parallel int // Embed calls run at once; more wait; 0 = 2
	// Pooling overrides the file's <arch>.pooling_type: "mean", "cls" or
	// "last"; "" keeps the file's.
	Pooling     string
	BatchTokens int // tokens encoded together; 0 = DefaultBatchTokens
	ExactFloat  bool
	Logger      *slog.Logger
}

// Embedder turns texts into L2-normalised vectors with an embedding model
// loaded from a GGUF file: a BERT-family encoder, or a decoder (qwen3,
// llama, …) that declares <arch>.pooling_type, as llama.cpp's converter
// writes for Qwen3-Embedding, or is given a pooling. It implements
// embed.Embedder and is safe for concurrent use.
type Embedder struct {
	file    *gguf.File
	enc     *model.Encoder // an encoder (BERT), or
	dec     *model.Model   // a decoder embedding model
	seqs    chan *model.Sequence
	addEOS  bool // decoders: append EOS (tokenizer.ggml.add_eos_token)
	pool    *tensor.Pool
	tok     *tokenizer.Tokenizer
	pooling model.Pooling
	batch   int
	slots   chan struct{}
	info    EmbedderInfo
}

// EmbedderInfo describes a loaded embedding model.
type EmbedderInfo struct {
	Path, Arch, Name string
	Dim              int
	Layers           int
	Context          int // longest input in tokens; longer ones are truncated
	Pooling          string
	Threads          int
}

// OpenEmbedder loads the encoder model at path.
func OpenEmbedder(ctx context.Context, path string, opts EmbedOptions) (*Embedder, error) {
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
	if opts.BatchTokens <= 0 {
		opts.BatchTokens = DefaultBatchTokens
	}
	start := time.Now()
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("embed model: %w", err)
	}
	e := &Embedder{file: f, batch: opts.BatchTokens}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.tok, err = tokenizer.FromGGUF(f.Metadata); err != nil {
		return nil, fmt.Errorf("embed model %s: %w", path, err)
	}
	e.pool = tensor.NewPool(opts.Threads)
	mopts := model.Options{Pool: e.pool, Logger: log, ExactFloat: opts.ExactFloat}
	var c struct {
		arch                    string
		hidden, layers, context int
	}
	if model.IsEncoder(f) {
		if e.enc, err = model.LoadEncoder(f, mopts); err != nil {
			return nil, fmt.Errorf("embed model %s: %w", path, err)
		}
		ec := e.enc.Config
		c.arch, c.hidden, c.layers, c.context = ec.Arch, ec.Hidden, ec.Layers, ec.Context
		e.pooling = ec.Pooling
	} else {
		arch, _ := f.Str("general.architecture")
		pt, declared := f.Uint(arch + ".pooling_type")
		if (!declared || pt == 0) && opts.Pooling == "" {
			return nil, fmt.Errorf("embed model %s: architecture %q is not an embedding model: an encoder (bert), or a decoder with %s.pooling_type or a pooling set", path, arch, arch)
		}
		if e.dec, err = model.Load(f, mopts); err != nil {
			return nil, fmt.Errorf("embed model %s: %w", path, err)
		}
		dc := e.dec.Config
		c.arch, c.hidden, c.layers, c.context = dc.Arch, dc.Hidden, dc.Layers, min(dc.Context, 8192)
		e.pooling = model.Pooling(pt)
		if e.pooling != model.PoolingMean && e.pooling != model.PoolingCLS && e.pooling != model.PoolingLast {
			e.pooling = model.PoolingLast
		}
		if v, ok := f.Metadata["tokenizer.ggml.add_eos_token"]; ok {
			e.addEOS, _ = v.Bool()
		}
		// The KV caches grow as used, so a long context costs nothing
		// until a long text comes.
		e.seqs = make(chan *model.Sequence, opts.Parallel)
		for range opts.Parallel {
			e.seqs <- e.dec.NewSequence(c.context)
		}
	}
	if opts.Pooling != "" {
		if e.pooling, err = model.ParsePooling(opts.Pooling); err != nil {
			return nil, fmt.Errorf("embed model %s: %w", path, err)
		}
	}
	e.slots = make(chan struct{}, opts.Parallel)
	name, _ := f.Str("general.name")
	e.info = EmbedderInfo{Path: path, Arch: c.arch, Name: name, Dim: c.hidden, Layers: c.layers,
		Context: c.context, Pooling: e.pooling.String(), Threads: opts.Threads}
	log.Info("embed model: ready", "path", path, "arch", c.arch, "dim", c.hidden, "pooling", e.info.Pooling,
		"threads", opts.Threads, "duration_ms", float64(time.Since(start).Microseconds())/1000)
	ok = true
	return e, nil
}

// Close releases the model. Embed calls must have finished.
func (e *Embedder) Close() error {
	if e.enc != nil {
		e.enc.Close()
		e.enc = nil
	}
	if e.dec != nil {
		e.dec.Close()
		e.dec = nil
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

// Dim is the length of the vectors: the encoder's hidden width.
func (e *Embedder) Dim() int { return e.info.Dim }

// Info describes the loaded model.
func (e *Embedder) Info() EmbedderInfo { return e.info }

// Tokenize returns the ids Embed runs for text: [CLS] text [SEP] for an
// encoder, BOS text (EOS) for a decoder, as the vocabulary asks; cut to the
// model's context, keeping the final token.
func (e *Embedder) Tokenize(text string) []int32 {
	toks := e.tok.Encode(text, true, false)
	if e.addEOS && e.tok.EOS() >= 0 {
		toks = append(toks, e.tok.EOS())
	}
	if n := e.info.Context; len(toks) > n {
		last := toks[len(toks)-1]
		toks = append(toks[:n-1], last)
	}
	return toks
}

// Embed returns one L2-normalised vector per text, in order. Texts are
// encoded in batches of about BatchTokens tokens; a text's vector does not
// depend on the batch it falls in. Texts longer than the context are
// truncated, as llama.cpp's server does.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-e.slots }()
	if e.dec != nil {
		return e.embedDecoder(ctx, texts)
	}
	out := make([][]float32, 0, len(texts))
	var batch [][]int32
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		vecs, err := e.enc.Encode(batch, e.pooling)
		if err != nil {
			return errs.E(errs.Internal, "embed model: %w", err)
		}
		for _, v := range vecs {
			normalize(v)
		}
		out = append(out, vecs...)
		batch, n = batch[:0], 0
		return nil
	}
	for i, text := range texts {
		toks := e.Tokenize(text)
		if len(toks) == 0 {
			return nil, errs.E(errs.Invalid, "embed model: text %d gives no tokens", i)
		}
		if n > 0 && n+len(toks) > e.batch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		batch = append(batch, toks)
		n += len(toks)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// embedDecoder embeds texts one after the other on a sequence of the
// decoder (each text's tokens are one batch of the forward pass).
func (e *Embedder) embedDecoder(ctx context.Context, texts []string) ([][]float32, error) {
	var s *model.Sequence
	select {
	case s = <-e.seqs:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { e.seqs <- s }()
	out := make([][]float32, len(texts))
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		toks := e.Tokenize(text)
		if len(toks) == 0 {
			return nil, errs.E(errs.Invalid, "embed model: text %d gives no tokens", i)
		}
		v, err := e.dec.Embed(s, toks, e.pooling)
		if err != nil {
			return nil, errs.E(errs.Internal, "embed model: %w", err)
		}
		normalize(v)
		out[i] = v
	}
	return out, nil
}

// normalize scales v to unit length (a zero vector stays zero).
func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}
