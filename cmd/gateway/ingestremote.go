package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// remoteBatchBytes keeps each admin request under the gateway's default
// body limit (1 MiB).
const remoteBatchBytes = 512 << 10

type remoteDoc struct {
	ID        string            `json:"id"`
	Title     string            `json:"title"`
	Text      string            `json:"text"`
	DataOwner string            `json:"data_owner,omitempty"`
	Tags      []string          `json:"tags,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
}

// ingestRemote sends files to a running gateway's POST /admin/knowledge in
// batches, so its own embedder and store ingest them.
func ingestRemote(ctx context.Context, base, token, dir string, files []string, owner string, tags []string) error {
	if token == "" {
		return fmt.Errorf("--url needs the gateway's admin token: --admin-token or $MOEGATE_ADMIN_TOKEN")
	}
	url := strings.TrimRight(base, "/") + "/admin/knowledge"
	start := time.Now()
	var batch []remoteDoc
	size, sent, changed, chunks := 0, 0, 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		body, _ := json.Marshal(map[string]any{"documents": batch})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("gateway at %s: %w", base, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		if resp.StatusCode != http.StatusCreated {
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			_ = json.Unmarshal(data, &e)
			return fmt.Errorf("gateway at %s answered %s: %s", base, resp.Status, cmpOr(e.Error.Message, strings.TrimSpace(string(data))))
		}
		var out struct {
			Data []struct {
				Chunks  int  `json:"chunks"`
				Changed bool `json:"changed"`
			} `json:"data"`
		}
		if err := json.Unmarshal(data, &out); err != nil {
			return fmt.Errorf("gateway at %s: unexpected answer: %w", base, err)
		}
		for _, d := range out.Data {
			chunks += d.Chunks
			if d.Changed {
				changed++
			}
		}
		sent += len(batch)
		fmt.Fprintf(os.Stderr, "\rsent %d/%d files", sent, len(files))
		batch, size = nil, 0
		return nil
	}
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		id := filepath.ToSlash(rel)
		if size+len(b) > remoteBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, remoteDoc{ID: id, Title: title(id, string(b)), Text: string(b), DataOwner: owner, Tags: tags, Meta: map[string]string{"path": id}})
		size += len(b)
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\ringested %d files through %s (%d changed, %d unchanged, %d chunks) in %s\n",
		len(files), base, changed, len(files)-changed, chunks, time.Since(start).Round(time.Millisecond))
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
