package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/moegate/moegate/config"
	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/engine"
	"github.com/moegate/moegate/retrieval"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cmdIngest(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML configuration `file` (default: "+config.DefaultFile+" in the working directory, when present)")
	dir := fs.String("dir", "", "`directory` to ingest: every .txt and .md file in it, recursively (required)")
	owner := fs.String("data-owner", "", "data `owner` recorded on every document, for per-request exclusion")
	var tags stringList
	fs.Var(&tags, "tag", "`tag` recorded on every document (repeatable)")
	dataDir := fs.String("data-dir", "", "the gateway's data `directory`; the embedded store is <data-dir>/knowledge (default from the config: ./data)")
	pgURL := fs.String("postgres", "", "store in Postgres+pgvector at this `URL` instead (default from the config when retrieval.backend is postgres)")
	dim := fs.Int("dim", 0, "embedding dimension `N` (default from the config's embed.dim); must match the store")
	maxChars := fs.Int("max-chars", 0, "largest chunk in `characters` (default 1000)")
	gatewayURL := fs.String("url", "", "send the files through a running gateway's admin API at this base `URL` (e.g. http://127.0.0.1:8080) instead of opening the store; its embedder and store are used")
	adminToken := fs.String("admin-token", os.Getenv("MOEGATE_ADMIN_TOKEN"), "the running gateway's admin `token`, with --url (default $MOEGATE_ADMIN_TOKEN)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway ingest --dir PATH [flags]

Ingests a folder of text and Markdown files into the retrieval store the
gateway reads: split into chunks, embedded with the configured embedder and
stored. Each document's ID is its path relative to --dir; re-ingesting an
unchanged file does nothing, a changed one replaces its chunks.

The embedded store can be open in one process only: while a gateway runs
on the data directory, send the files through it instead:

  gateway ingest --dir docs --url http://127.0.0.1:8080 --admin-token TOKEN

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *dir == "" {
		fs.Usage()
		return errors.New("--dir is required")
	}
	cfg, err := config.Load(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *dim > 0 {
		cfg.Embed.Dim = *dim
	}
	if *pgURL != "" {
		cfg.Retrieval.Backend, cfg.Postgres.URL = "postgres", *pgURL
	}

	files, err := knowledgeFiles(*dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no .txt or .md files in %s", *dir)
	}
	if *gatewayURL != "" {
		return ingestRemote(ctx, *gatewayURL, *adminToken, *dir, files, *owner, tags)
	}
	emb, closer, err := newEmbedder(ctx, cfg, nil)
	if err != nil {
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	store, err := openRetrieval(ctx, cfg, emb.Dim(), nil)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("%w\nA gateway is probably running on %s: ingest through it with --url http://HOST:PORT --admin-token TOKEN (see --help)", err, cfg.DataDir)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	in := &retrieval.Ingester{Store: store, Embedder: emb, Chunking: retrieval.ChunkOptions{MaxChars: *maxChars}}

	bar := newProgress(os.Stderr, len(files))
	changed, chunks := 0, 0
	for i, rel := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(*dir, rel))
		if err != nil {
			return err
		}
		id := filepath.ToSlash(rel)
		doc, ch, err := in.Ingest(ctx, retrieval.IngestDoc{
			ID: id, Title: title(id, string(b)), Text: string(b),
			DataOwner: *owner, Tags: tags, Meta: map[string]string{"path": id},
		})
		if err != nil {
			bar.done()
			return fmt.Errorf("%s: %w", id, err)
		}
		if ch {
			changed++
		}
		chunks += doc.Chunks
		bar.update(i+1, chunks)
	}
	bar.done()
	docs, total, err := store.Count(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ingested %d files (%d changed, %d unchanged, %d chunks) in %s; the store holds %d documents, %d chunks\n",
		len(files), changed, len(files)-changed, chunks, time.Since(bar.start).Round(time.Millisecond), docs, total)
	return nil
}

// newEmbedder builds the embedder the gateway is configured with, so
// that `gateway ingest` and the server embed alike. The closer (nil for
// kinds that hold nothing) releases an engine model.
func newEmbedder(ctx context.Context, cfg config.Config, log *slog.Logger) (embed.Embedder, io.Closer, error) {
	switch cfg.Embed.Kind {
	case "openai":
		return embed.NewOpenAI(embed.OpenAIConfig{BaseURL: cfg.Embed.BaseURL, Model: cfg.Embed.Model,
			APIKey: os.Getenv(cfg.Embed.APIKeyEnv), Dim: cfg.Embed.Dim, Timeout: cfg.Embed.Timeout.Std()}), nil, nil
	case "engine":
		e, err := engine.OpenEmbedder(ctx, cfg.Embed.Model, engine.EmbedOptions{Threads: cfg.Embed.Threads,
			Parallel: cfg.Embed.Parallel, Pooling: cfg.Embed.Pooling, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("embed.kind engine: %w", err)
		}
		return e, e, nil
	}
	return embed.NewLocal(cfg.Embed.Dim), nil, nil
}

// openRetrieval opens the retrieval store the gateway would.
func openRetrieval(ctx context.Context, cfg config.Config, dim int, log *slog.Logger) (retrieval.Store, error) {
	if dim <= 0 {
		return nil, errors.New("the embedding dimension is unknown: set embed.dim in the config or --dim")
	}
	if cfg.Retrieval.Backend == "postgres" {
		if cfg.Postgres.URL == "" {
			return nil, errors.New("retrieval.backend is postgres but no postgres.url (or --postgres) is set")
		}
		return retrieval.OpenPostgres(ctx, cfg.Postgres.URL, dim, retrieval.PostgresOptions{Schema: cfg.Postgres.Schema, SearchTimeout: cfg.Retrieval.Timeout.Std(), Logger: log})
	}
	return retrieval.OpenEmbedded(filepath.Join(cfg.DataDir, "knowledge"), dim, retrieval.EmbeddedOptions{Logger: log})
}

// knowledgeFiles lists the .txt and .md files under dir, relative, sorted.
func knowledgeFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".txt", ".md", ".markdown":
			if d.Type().IsRegular() {
				rel, err := filepath.Rel(dir, path)
				if err != nil {
					return err
				}
				files = append(files, rel)
			}
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}

// title is a document's first Markdown heading, else its file name.
func title(path, text string) string {
	for line := range strings.Lines(text) {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "# "); ok {
			return strings.TrimSpace(t)
		}
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// progress draws a one-line progress bar, redrawn at most ten times a
// second.
type progress struct {
	w     io.Writer
	total int
	start time.Time
	last  time.Time
	line  string
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now()}
}

func (p *progress) update(done, chunks int) {
	now := time.Now()
	if done < p.total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	fill := width * done / p.total
	rate := float64(chunks) / max(now.Sub(p.start).Seconds(), 1e-3)
	p.line = fmt.Sprintf("\r[%s%s] %d/%d files  %d chunks  %.0f chunks/s ",
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, p.total, chunks, rate)
	fmt.Fprint(p.w, p.line)
}

func (p *progress) done() {
	if p.line != "" {
		fmt.Fprintln(p.w)
	}
}
