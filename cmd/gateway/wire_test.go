package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/moegate/moegate/config"
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
