package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/moegate/moegate/config"
	"github.com/moegate/moegate/embed"
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
