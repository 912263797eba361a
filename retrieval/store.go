// Package retrieval is moegate's retrieval store: documents split into
// chunks, embedded, and searched by cosine similarity with per-request
// filters on data owner and tags. Two back ends share one contract: an
// embedded HNSW index persisted in a directory (the default), and Postgres
// with pgvector for replicas that share state.
package retrieval

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/internal/vec"
)

// Chunk is one searchable passage of a document.
type Chunk struct {
	ID        string            `json:"id"` // defaults to DocID#Seq
	DocID     string            `json:"doc_id"`
	Seq       int               `json:"seq"`
	Text      string            `json:"text"`
	Embedding []float32         `json:"embedding,omitempty"`
	DataOwner string            `json:"data_owner,omitempty"` // defaults to the document's
	Tags      []string          `json:"tags,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
}

// Filter restricts a search. The zero Filter allows everything.
type Filter struct {
	ExcludeDataOwners []string `json:"exclude_data_owners,omitempty"`
	OnlyDataOwners    []string `json:"only_data_owners,omitempty"` // if set, only these owners
	Tags              []string `json:"tags,omitempty"`             // if set, chunks with any of these tags
}

// Hit is one search result.
type Hit struct {
	Chunk Chunk   `json:"chunk"` // Embedding may be nil
	Score float64 `json:"score"` // cosine similarity
}

// Document describes an ingested document.
type Document struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	DataOwner   string    `json:"data_owner,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	Chunks      int       `json:"chunks"`
	ContentHash string    `json:"content_hash"`
	CreatedAt   time.Time `json:"created_at"`
}

// Store is a retrieval store.
type Store interface {
	// Upsert replaces a document and all its chunks atomically; once it
	// returns nil the change is durable.
	Upsert(ctx context.Context, doc Document, chunks []Chunk) error
	// DeleteDocument removes a document and its chunks; ErrNotFound if absent.
	DeleteDocument(ctx context.Context, docID string) error
	// Search returns up to k chunks most similar to vec that f allows,
	// best first.
	Search(ctx context.Context, vec []float32, k int, f Filter) ([]Hit, error)
	Count(ctx context.Context) (docs, chunks int, err error)
	Documents(ctx context.Context) ([]Document, error)
	Document(ctx context.Context, id string) (Document, error)
	Close() error
}

var (
	// ErrNotFound is returned for a document that does not exist.
	ErrNotFound = errs.New(errs.NotFound, "retrieval: document not found")
	// ErrDimension is returned for a vector whose length is not the
	// store's dimension.
	ErrDimension = errs.New(errs.Invalid, "retrieval: vector dimension mismatch")
	// ErrInvalid is returned for a document or chunk the store cannot
	// take: no ID, duplicate chunk IDs, an embedding without direction.
	ErrInvalid = errs.New(errs.Invalid, "retrieval: invalid document")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errs.New(errs.Unavailable, "retrieval: store closed")
)

// prepare validates an upsert and fills defaults, returning copies so the
// caller's slices are not retained or changed.
func prepare(doc Document, chunks []Chunk, dim int) (Document, []Chunk, error) {
	if doc.ID == "" {
		return doc, nil, fmt.Errorf("%w: no ID", ErrInvalid)
	}
	doc.Tags = slices.Clone(doc.Tags)
	doc.Chunks = len(chunks)
	if doc.CreatedAt.IsZero() {
		doc.CreatedAt = time.Now()
	}
	doc.CreatedAt = doc.CreatedAt.UTC().Truncate(time.Microsecond) // what Postgres keeps
	out := make([]Chunk, len(chunks))
	seen := make(map[string]bool, len(chunks))
	for i, c := range chunks {
		if len(c.Embedding) != dim {
			return doc, nil, fmt.Errorf("%w: chunk %d of %q has %d dimensions, the store %d", ErrDimension, i, doc.ID, len(c.Embedding), dim)
		}
		c.DocID = doc.ID
		if c.ID == "" {
			c.ID = fmt.Sprintf("%s#%d", doc.ID, c.Seq)
		}
		if seen[c.ID] {
			return doc, nil, fmt.Errorf("%w: duplicate chunk ID %q in %q", ErrInvalid, c.ID, doc.ID)
		}
		seen[c.ID] = true
		if c.DataOwner == "" {
			c.DataOwner = doc.DataOwner
		}
		if c.Tags == nil {
			c.Tags = doc.Tags
		}
		c.Tags = slices.Clone(c.Tags)
		v := slices.Clone(c.Embedding)
		if !vec.Normalize(v) {
			return doc, nil, fmt.Errorf("%w: chunk %d of %q has a zero or non-finite embedding", ErrInvalid, i, doc.ID)
		}
		c.Embedding = v
		out[i] = c
	}
	return doc, out, nil
}

// matcher is a Filter compiled for testing many chunks.
type matcher struct {
	exclude, only, tags map[string]bool
}

func compile(f Filter) *matcher {
	if len(f.ExcludeDataOwners) == 0 && len(f.OnlyDataOwners) == 0 && len(f.Tags) == 0 {
		return nil
	}
	set := func(xs []string) map[string]bool {
		if len(xs) == 0 {
			return nil
		}
		m := make(map[string]bool, len(xs))
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	return &matcher{set(f.ExcludeDataOwners), set(f.OnlyDataOwners), set(f.Tags)}
}

func (m *matcher) match(owner string, tags []string) bool {
	if m == nil {
		return true
	}
	if m.exclude[owner] {
		return false
	}
	if m.only != nil && !m.only[owner] {
		return false
	}
	if m.tags != nil {
		return slices.ContainsFunc(tags, func(t string) bool { return m.tags[t] })
	}
	return true
}
