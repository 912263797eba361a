package embed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/moegate/moegate/internal/vec"
)

// OpenAIConfig configures an OpenAI-compatible embeddings endpoint.
type OpenAIConfig struct {
	BaseURL string // e.g. "https://api.openai.com/v1" or "http://localhost:8080/v1"
	Model   string // e.g. "text-embedding-3-small"
	APIKey  string
	// Dim is the expected vector length; 0 takes it from the first answer.
	// It is sent as "dimensions" only when SendDimensions is set (not every
	// server accepts it); vectors of another length are an error.
	Dim            int
	SendDimensions bool
	BatchSize      int           // texts per request; 0: 64
	Timeout        time.Duration // per request; 0: 30s
	HTTPClient     *http.Client  // nil: a plain client
}

// ErrBadResponse reports an embeddings response that does not fit the
// request: wrong count, wrong dimension, or a zero vector.
var ErrBadResponse = errors.New("embed: bad embeddings response")

// OpenAI embeds through an OpenAI-compatible /embeddings endpoint. It is safe
// for concurrent use.
type OpenAI struct {
	cfg    OpenAIConfig
	client *openai.Client
	dim    atomic.Int64
}

// NewOpenAI returns an embedder for cfg.
func NewOpenAI(cfg OpenAIConfig) *OpenAI {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	if cfg.BaseURL != "" {
		oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	if cfg.HTTPClient != nil {
		oc.HTTPClient = cfg.HTTPClient
	}
	o := &OpenAI{cfg: cfg, client: openai.NewClientWithConfig(oc)}
	o.dim.Store(int64(cfg.Dim))
	return o
}

// Dim implements Embedder. It is 0 until known when OpenAIConfig.Dim is 0.
func (o *OpenAI) Dim() int { return int(o.dim.Load()) }

// Embed implements Embedder: it sends texts in batches of BatchSize, checks
// the count and dimension of each answer, and L2-normalises the vectors.
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += o.cfg.BatchSize {
		batch := texts[start:min(start+o.cfg.BatchSize, len(texts))]
		vecs, err := o.embedBatch(ctx, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

func (o *OpenAI) embedBatch(ctx context.Context, batch []string) ([][]float32, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	req := openai.EmbeddingRequest{Input: batch, Model: openai.EmbeddingModel(o.cfg.Model)}
	if o.cfg.SendDimensions {
		req.Dimensions = o.cfg.Dim
	}
	resp, err := o.client.CreateEmbeddings(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("embed: %s embeddings (%d texts): %w", o.cfg.Model, len(batch), err)
	}
	if len(resp.Data) != len(batch) {
		return nil, fmt.Errorf("%w: %d vectors for %d texts", ErrBadResponse, len(resp.Data), len(batch))
	}
	vecs := make([][]float32, len(batch))
	for _, d := range resp.Data {
		// Servers should answer in order but the index is authoritative.
		j := d.Index
		if j < 0 || j >= len(batch) || vecs[j] != nil {
			return nil, fmt.Errorf("%w: index %d out of range or repeated", ErrBadResponse, d.Index)
		}
		if want := o.Dim(); len(d.Embedding) != want {
			if want != 0 || !o.dim.CompareAndSwap(0, int64(len(d.Embedding))) {
				return nil, fmt.Errorf("%w: vector of length %d, want %d", ErrBadResponse, len(d.Embedding), o.Dim())
			}
		}
		if !vec.Normalize(d.Embedding) {
			return nil, fmt.Errorf("%w: zero or non-finite vector for text %d", ErrBadResponse, j)
		}
		vecs[j] = d.Embedding
	}
	return vecs, nil
}
