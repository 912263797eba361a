package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/moegate/moegate/internal/errs"
	"github.com/moegate/moegate/retrieval"
)

// The retrieval store's domain types, as the gateway's callers see them.
type (
	Document  = retrieval.Document
	IngestDoc = retrieval.IngestDoc
)

// RetrievalStore is the whole retrieval store: what the pipeline searches
// and the documents admins manage.
type RetrievalStore interface {
	Retriever
	Ingest(ctx context.Context, doc retrieval.IngestDoc) (retrieval.Document, bool, error)
	Documents(ctx context.Context) ([]retrieval.Document, error)
	DeleteDocument(ctx context.Context, id string) error
}

var errNoRetrieval = errs.E(errs.NotFound, "No retrieval store is configured.").WithCode("retrieval_disabled")

func (g *Gateway) store() (RetrievalStore, error) {
	ks, ok := g.deps.Retrieval.(RetrievalStore)
	if !ok || ks == nil {
		return nil, errNoRetrieval
	}
	return ks, nil
}

// IngestResult is one ingested document and whether it changed.
type IngestResult struct {
	Document
	Changed bool `json:"changed"`
}

// Ingest adds or replaces documents in the retrieval store.
func (g *Gateway) Ingest(ctx context.Context, docs []IngestDoc) ([]IngestResult, error) {
	ks, err := g.store()
	if err != nil {
		return nil, err
	}
	for i, d := range docs {
		if strings.TrimSpace(d.Text) == "" {
			return nil, errs.Param(fmt.Sprintf("documents[%d].text", i), "Document %d has no text.", i)
		}
	}
	// A batch is all or nothing: every document is checked before any is
	// stored, and if storing one fails the documents this batch created
	// are removed again (a replaced one cannot be restored; the error
	// names them).
	existing := map[string]bool{}
	if len(docs) > 1 {
		all, err := ks.Documents(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range all {
			existing[d.ID] = true
		}
	}
	out := make([]IngestResult, 0, len(docs))
	var created, replaced []string
	for i, d := range docs {
		doc, changed, err := ks.Ingest(ctx, d)
		if err != nil {
			for _, id := range created {
				if derr := ks.DeleteDocument(context.WithoutCancel(ctx), id); derr != nil {
					g.log.ErrorContext(ctx, "rolling back a failed batch ingest", "document", id, "err", derr)
				}
			}
			if len(replaced) > 0 {
				err = fmt.Errorf("%w (the batch's new documents were removed again; %q had already been replaced)", err, replaced)
			}
			if errs.Is(err, errs.Invalid) {
				return nil, errs.Param(fmt.Sprintf("documents[%d]", i), "%v", err)
			}
			return nil, fmt.Errorf("ingest document %d: %w", i, err)
		}
		switch {
		case changed && !existing[doc.ID]:
			created = append(created, doc.ID)
			existing[doc.ID] = true
		case changed:
			replaced = append(replaced, doc.ID)
		}
		out = append(out, IngestResult{doc, changed})
	}
	return out, nil
}

// Documents lists the retrieval store.
func (g *Gateway) Documents(ctx context.Context) ([]Document, error) {
	ks, err := g.store()
	if err != nil {
		return nil, err
	}
	docs, err := ks.Documents(ctx)
	if docs == nil {
		docs = []Document{}
	}
	return docs, err
}

// DeleteDocument removes a document and its chunks.
func (g *Gateway) DeleteDocument(ctx context.Context, id string) error {
	ks, err := g.store()
	if err != nil {
		return err
	}
	if err := ks.DeleteDocument(ctx, id); err != nil {
		if errs.Is(err, errs.NotFound) {
			return errs.E(errs.NotFound, "Document '%s' not found.", id).WithCode("document_not_found")
		}
		return err
	}
	return nil
}

// Retrain retrains the router now, in the background.
func (g *Gateway) Retrain() error {
	if g.deps.Retrainer == nil {
		return errs.E(errs.Conflict, "The static router does not train.").WithCode("static_router")
	}
	g.deps.Retrainer.Trigger()
	return nil
}

// Embed embeds texts with the gateway's embedder.
func (g *Gateway) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, err := g.deps.Embedder.Embed(ctx, texts)
	if err != nil {
		return nil, errs.E(errs.UpstreamFailed, "Embedding failed: %w", err).WithCode("embedding_failed")
	}
	return vecs, nil
}
