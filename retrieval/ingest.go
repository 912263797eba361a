package retrieval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/moegate/moegate/embed"
)

// IngestDoc is a document to ingest.
type IngestDoc struct {
	ID        string            `json:"id,omitempty"` // default: a slug of Title, else derived from the content hash
	Title     string            `json:"title,omitempty"`
	Text      string            `json:"text"`
	DataOwner string            `json:"data_owner,omitempty"`
	Tags      []string          `json:"tags,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"` // copied to every chunk, with "title"
}

// Ingester chunks documents, embeds the chunks and stores them.
type Ingester struct {
	Store     Store
	Embedder  embed.Embedder
	BatchSize int          // texts per Embed call; default 64
	Chunking  ChunkOptions // zero: SplitText's defaults
}

// Ingest stores d and reports whether anything changed: re-ingesting the
// same content (same hash of text, title, owner, tags, meta and chunking)
// does no work.
func (in *Ingester) Ingest(ctx context.Context, d IngestDoc) (Document, bool, error) {
	hash := in.contentHash(d)
	id := d.ID
	if id == "" {
		id = Slug(d.Title)
	}
	if id == "" {
		id = "doc-" + strings.TrimPrefix(hash, "sha256:")[:16]
	}
	switch old, err := in.Store.Document(ctx, id); {
	case err == nil && old.ContentHash == hash:
		return old, false, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return Document{}, false, err
	}

	texts := SplitText(d.Text, in.Chunking)
	batch := in.BatchSize
	if batch <= 0 {
		batch = 64
	}
	meta := maps.Clone(d.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	if _, ok := meta["title"]; !ok && d.Title != "" {
		meta["title"] = d.Title
	}
	chunks := make([]Chunk, 0, len(texts))
	for start := 0; start < len(texts); start += batch {
		part := texts[start:min(start+batch, len(texts))]
		vecs, err := in.Embedder.Embed(ctx, part)
		if err != nil {
			return Document{}, false, fmt.Errorf("retrieval: embedding %q: %w", id, err)
		}
		if len(vecs) != len(part) {
			return Document{}, false, fmt.Errorf("retrieval: embedding %q: %d vectors for %d texts", id, len(vecs), len(part))
		}
		for i, v := range vecs {
			if !slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) {
				continue // nothing the embedder could see (punctuation only): unsearchable
			}
			chunks = append(chunks, Chunk{Seq: len(chunks), Text: part[i], Embedding: v, Meta: meta})
		}
	}
	doc := Document{ID: id, Title: d.Title, DataOwner: d.DataOwner, Tags: d.Tags, ContentHash: hash, CreatedAt: time.Now()}
	if err := in.Store.Upsert(ctx, doc, chunks); err != nil {
		return Document{}, false, err
	}
	doc, err := in.Store.Document(ctx, id)
	return doc, err == nil, err
}

func (in *Ingester) contentHash(d IngestDoc) string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	field(d.Title)
	field(d.Text)
	field(d.DataOwner)
	for _, t := range slices.Sorted(slices.Values(d.Tags)) {
		field(t)
	}
	field("meta")
	for _, k := range slices.Sorted(maps.Keys(d.Meta)) {
		field(k)
		field(d.Meta[k])
	}
	o := in.Chunking.withDefaults()
	fmt.Fprintf(h, "chunk:%d/%d;dim:%d", o.MaxChars, o.Overlap, in.Embedder.Dim())
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Slug turns a title into an ID: lower-case letters and digits joined by
// single dashes, at most 80 bytes.
func Slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		} else {
			dash = true
		}
		if b.Len() >= 80 {
			break
		}
	}
	return b.String()
}
