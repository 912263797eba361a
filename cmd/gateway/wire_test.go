package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moegate/moegate/config"
	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/engine/tensor"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/router"
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

func TestLearnedFeatures(t *testing.T) {
	dense := embed.NewLocal(64) // stands for any embedder that knows its dimension
	tests := []struct {
		features    string
		wantDim     int
		wantLexicon bool // the n-grams with the lexicon's features
		wantErr     bool
	}{
		{"", router.LocalFeatureDim, true, false},
		{"local", router.LocalFeatureDim, true, false},
		{"ngrams", router.LocalFeatureDim, false, false},
		{"combined", router.LocalFeatureDim + 64, false, false},
		{"embedder", 64, false, false},
		{"magic", 0, false, true},
	}
	for _, tt := range tests {
		cfg := config.Default()
		cfg.Router.Features = tt.features
		got, err := learnedFeatures(cfg, dense)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%q: err = %v", tt.features, err)
		}
		if err == nil && got.Dim() != tt.wantDim {
			t.Fatalf("%q: %d dimensions, want %d", tt.features, got.Dim(), tt.wantDim)
		}
		if _, lexicon := got.(*router.Lexical); lexicon != tt.wantLexicon {
			t.Fatalf("%q: features %T, want the lexicon's %v", tt.features, got, tt.wantLexicon)
		}
	}
}

// A second gateway on a data directory stops before writing anything in
// it; stale temporary files are removed at start.
func TestDataDirLock(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.DefaultExpert = "general"
	cfg.Experts = []experts.Spec{{Name: "general", Kind: experts.KindOpenAI, BaseURL: "http://127.0.0.1:9", Model: "m"}}
	os.WriteFile(filepath.Join(cfg.DataDir, ".experts.json.42.tmp"), []byte("half"), 0o644)
	log := slog.New(slog.DiscardHandler)
	g, err := build(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	if _, err := os.Stat(filepath.Join(cfg.DataDir, ".experts.json.42.tmp")); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file still there: %v", err)
	}
	before := snapshotDir(t, cfg.DataDir)
	second := cfg
	second.Experts = append(slices.Clone(cfg.Experts), experts.Spec{Name: "extra", Kind: experts.KindOpenAI, BaseURL: "http://127.0.0.1:9", Model: "m"})
	if g2, err := build(context.Background(), second, log); err == nil {
		g2.close()
		t.Fatal("a second gateway started on the same data directory")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("error does not say the directory is in use: %v", err)
	}
	if after := snapshotDir(t, cfg.DataDir); !maps.Equal(before, after) {
		t.Fatalf("the refused instance changed the data directory:\nbefore %v\nafter  %v", before, after)
	}
}

// snapshotDir maps every file under dir to its contents.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

// TestBuildEngineEmbedder starts the gateway with embed.kind engine on a
// BERT file written by modelgen: /v1/embeddings answers with vectors of
// the model's width, and the retrieval store takes that dimension.
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
	body := `{"model":"bert","input":["How do I transfer money?","Book a flight"]}`
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
	cfg.DataDir = filepath.Join(dir, "data2") // the first gateway holds the other
	if g2, err := build(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		g2.close()
		t.Fatal("build accepted a missing embedding model")
	} else if !strings.Contains(err.Error(), "embed.kind engine") {
		t.Errorf("error does not name the key: %v", err)
	}
}

// TestEnginesOpenedOnDemand: a gateway whose experts are all remote loads
// no local model (nor writes the demo one, nor notes it in answers); the
// built-in default expert loads it at start, and a configured model that
// cannot be opened stops the start.
func TestEnginesOpenedOnDemand(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	demo := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "models", "moegate-demo.gguf"))
		return err == nil
	}
	remote := config.Default()
	remote.DataDir = t.TempDir()
	remote.DefaultExpert = "general"
	remote.Experts = []experts.Spec{{Name: "general", Kind: experts.KindOpenAI, BaseURL: "http://127.0.0.1:9", Model: "m"}}
	builtin := config.Default()
	builtin.DataDir = t.TempDir()
	for _, tt := range []struct {
		name string
		cfg  config.Config
		want bool
	}{{"remote default expert", remote, false}, {"built-in default expert", builtin, true}} {
		g, err := build(context.Background(), tt.cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		g.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/models", nil))
		g.close()
		noted := strings.Contains(rec.Body.String(), "built-in demo")
		if rec.Code != http.StatusOK || demo(tt.cfg.DataDir) != tt.want || noted != tt.want {
			t.Errorf("%s: demo model written %v, noted %v; want both %v (status %d)", tt.name, demo(tt.cfg.DataDir), noted, tt.want, rec.Code)
		}
	}
	bad := remote
	bad.DataDir = t.TempDir()
	bad.Local.Model = filepath.Join(t.TempDir(), "missing.gguf")
	if g, err := build(context.Background(), bad, log); err == nil {
		g.close()
		t.Fatal("build accepted a local.model that does not exist")
	} else if !strings.Contains(err.Error(), "local model") {
		t.Errorf("error does not name the local model: %v", err)
	}
}

// The demo model's note is on the default expert only when that expert
// runs the demo model: a default expert on an upstream does not.
func TestDemoNote(t *testing.T) {
	for _, tt := range []struct {
		name     string
		remote   bool
		wantNote bool
	}{
		{"local default expert", false, true},
		{"upstream default expert", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			if tt.remote {
				cfg.DefaultExpert = "general"
				cfg.Experts = []experts.Spec{{Name: "general", Kind: experts.KindOpenAI, BaseURL: "http://127.0.0.1:9", Model: "m"}}
			}
			g, err := build(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer g.close()
			w := httptest.NewRecorder()
			g.handler.ServeHTTP(w, httptest.NewRequest("GET", "/v1/models/"+cfg.DefaultExpert, nil))
			var m struct {
				ID   string `json:"id"`
				Note string `json:"note"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m.ID != cfg.DefaultExpert {
				t.Fatalf("%d %s (%v)", w.Code, w.Body, err)
			}
			if got := strings.Contains(m.Note, "demo MoE model"); got != tt.wantNote {
				t.Fatalf("note %q, want one: %v", m.Note, tt.wantNote)
			}
		})
	}
}
