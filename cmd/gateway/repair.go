package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moegate/moegate/config"
	"github.com/moegate/moegate/retrieval"
)

// cmdRepair salvages the embedded retrieval store's log after corruption
// made the gateway refuse to start.
func cmdRepair(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("repair", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	configPath := fs.String("config", "", "YAML configuration `file` (default: "+config.DefaultFile+" in the working directory, when present)")
	dataDir := fs.String("data-dir", "", "the gateway's data `directory`; the store is <data-dir>/knowledge (default from the config: ./data)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway repair [flags]

Repairs the embedded retrieval store after the gateway refused to start
because its write-ahead log is corrupt in the middle. Every intact record is
kept; the damaged stretches are dropped and reported (offset and bytes) as
JSON on stdout, and the damaged log is kept beside the new one as
wal.corrupt-TIMESTAMP. Run it with the gateway stopped.

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
	cfg, err := config.Load(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	rep, err := retrieval.RepairEmbedded(filepath.Join(cfg.DataDir, "knowledge"))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if rep.Changed {
		fmt.Fprintf(os.Stderr, "gateway repair: kept %d records; lost %d damaged stretch(es); the damaged log is %s\n", rep.Kept, len(rep.Lost), rep.Backup)
	} else {
		fmt.Fprintf(os.Stderr, "gateway repair: the log is intact (%d records); nothing changed\n", rep.Kept)
	}
	return nil
}
