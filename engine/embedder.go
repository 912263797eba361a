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

// Embedder turns texts into L2-normalised vectors with an encoder model
// (BERT family) loaded from a GGUF file. It implements embed.Embedder and
// is safe for concurrent use.
type Embedder struct {
	file    *gguf.File
	enc     *model.Encoder
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
	if !model.IsEncoder(f) {
		arch, _ := f.Str("general.architecture")
		return nil, fmt.Errorf("embed model %s: architecture %q is not an embedding model (supported: bert)", path, arch)
	}
	if e.tok, err = tokenizer.FromGGUF(f.Metadata); err != nil {
		return nil, fmt.Errorf("embed model %s: %w", path, err)
	}
	e.pool = tensor.NewPool(opts.Threads)
	if e.enc, err = model.LoadEncoder(f, model.Options{Pool: e.pool, Logger: log, ExactFloat: opts.ExactFloat}); err != nil {
		return nil, fmt.Errorf("embed model %s: %w", path, err)
	}
	e.pooling = e.enc.Config.Pooling
	if opts.Pooling != "" {
		if e.pooling, err = model.ParsePooling(opts.Pooling); err != nil {
			return nil, fmt.Errorf("embed model %s: %w", path, err)
		}
	}
	e.slots = make(chan struct{}, opts.Parallel)
	c := e.enc.Config
	name, _ := f.Str("general.name")
	e.info = EmbedderInfo{Path: path, Arch: c.Arch, Name: name, Dim: c.Hidden, Layers: c.Layers,
		Context: c.Context, Pooling: e.pooling.String(), Threads: opts.Threads}
	log.Info("embed model: ready", "path", path, "arch", c.Arch, "dim", c.Hidden, "pooling", e.info.Pooling,
		"threads", opts.Threads, "elapsed", time.Since(start))
	ok = true
	return e, nil
}

// Close releases the model. Embed calls must have finished.
func (e *Embedder) Close() error {
	if e.enc != nil {
		e.enc.Close()
		e.enc = nil
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

// Tokenize returns the ids Embed runs for text: [CLS] text [SEP], cut to
// the model's context (keeping the final [SEP]).
func (e *Embedder) Tokenize(text string) []int32 {
	toks := e.tok.Encode(text, true, false)
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
