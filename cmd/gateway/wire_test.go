package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moegate/moegate/config"
	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
)

func TestBuildRefusesUnknownRouterKind(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Router.Kind = "magic"
	g, err := build(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		g.close()
		t.Fatal("build accepted router.kind magic")
	}
	if !strings.Contains(err.Error(), `router.kind "magic"`) || !strings.Contains(err.Error(), "learned, static") {
		t.Fatalf("error does not name the key and the kinds: %v", err)
	}
}

// TestBuildEngineEmbedder starts the gateway with embed.kind engine on a
// BERT file written by modelgen: /v1/embeddings answers with vectors of
// the model's width, and the knowledge store takes that dimension.
func TestBuildEngineEmbedder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bert.gguf")
	spec := modelgen.Spec{Arch: "bert", Type: tensor.F16, Layers: 2, Hidden: 96, Heads: 4, FFN: 192, Vocab: 400, Context: 64, Seed: 1}
	if err := modelgen.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Embed.Kind, cfg.Embed.Model, cfg.Embed.Threads = "engine", path, 1
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := build(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	body := `{"model":"any","input":["How do I transfer money?","Book a flight"]}`
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/embeddings", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	g.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var resp struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
			Index     int       `json:"index"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 {
		t.Fatalf("%d embeddings, want 2: %s", len(resp.Data), rec.Body)
	}
	for _, d := range resp.Data {
		if len(d.Embedding) != spec.Hidden {
			t.Errorf("embedding %d has %d dimensions, want the model's %d", d.Index, len(d.Embedding), spec.Hidden)
		}
	}

	// A file that is not an embedding model stops the start with a clear error.
	cfg.Embed.Model = filepath.Join(dir, "missing.gguf")
	if g2, err := build(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		g2.close()
		t.Fatal("build accepted a missing embedding model")
	} else if !strings.Contains(err.Error(), "embed.kind engine") {
		t.Errorf("error does not name the key: %v", err)
	}
}
