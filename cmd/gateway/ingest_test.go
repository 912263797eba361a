package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/retrieval"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIngestCommand(t *testing.T) {
	ctx := context.Background()
	src, data := t.TempDir(), t.TempDir()
	writeFiles(t, src, map[string]string{
		"warranty.md":      "# Zorblax warranty\n\nThe Zorblax 3000 warranty lasts seven years.\n",
		"sub/returns.txt":  "Quokka blenders can be returned within 30 days.\n",
		"sub/image.png":    "not text",
		".hidden/notes.md": "skipped",
	})
	t.Chdir(t.TempDir()) // no gateway.yaml in sight
	args := []string{"--dir", src, "--data-dir", data, "--dim", "256", "--data-owner", "acme", "--tag", "support", "--tag", "faq"}
	if err := cmdIngest(ctx, args); err != nil {
		t.Fatal(err)
	}
	// A second run finds nothing changed; the store is left as it was.
	if err := cmdIngest(ctx, args); err != nil {
		t.Fatal(err)
	}

	store, err := retrieval.OpenEmbedded(filepath.Join(data, "knowledge"), 256, retrieval.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	docs, err := store.Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range docs {
		ids = append(ids, d.ID)
		if d.DataOwner != "acme" || !slices.Equal(d.Tags, []string{"support", "faq"}) {
			t.Errorf("document %+v lacks the owner and tags", d)
		}
	}
	if !slices.Equal(ids, []string{"sub/returns.txt", "warranty.md"}) {
		t.Errorf("documents %v, want the two text files", ids)
	}
	if d, _ := store.Document(ctx, "warranty.md"); d.Title != "Zorblax warranty" {
		t.Errorf("title %q, want the first heading", d.Title)
	}
	hits, err := store.Search(ctx, embed.NewLocal(256).Vector("how long is the zorblax warranty"), 1, retrieval.Filter{})
	if err != nil || len(hits) != 1 || hits[0].Chunk.DocID != "warranty.md" {
		t.Errorf("search = %+v, %v", hits, err)
	}
}

func TestIngestCommandErrors(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{},                             // no --dir
		{"--dir", t.TempDir()},         // no files
		{"--dir", "/nonexistent/path"}, // no directory
		{"--dir", ".", "stray"},        // stray argument
	} {
		if err := cmdIngest(ctx, args); err == nil {
			t.Errorf("cmdIngest(%q) succeeded", args)
		}
	}
}
