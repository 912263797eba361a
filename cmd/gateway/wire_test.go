package main

import (
	"context"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moegate/moegate/config"
	"github.com/moegate/moegate/embed"
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
		features string
		wantDim  int
		wantErr  bool
	}{
		{"", router.LocalFeatureDim, false},
		{"local", router.LocalFeatureDim, false},
		{"combined", router.LocalFeatureDim + 64, false},
		{"embedder", 64, false},
		{"magic", 0, true},
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
