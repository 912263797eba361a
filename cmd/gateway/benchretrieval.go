package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"

	"github.com/moegate/moegate/retrieval"
)

func cmdBenchRetrieval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench retrieval", flag.ContinueOnError)
	var cfg retrieval.BenchConfig
	fs.IntVar(&cfg.N, "n", 100000, "`vectors` in the index")
	fs.IntVar(&cfg.Dim, "dim", 384, "vector `dimension`")
	fs.IntVar(&cfg.K, "k", 10, "neighbours per query; recall is measured at this `k`")
	fs.IntVar(&cfg.Queries, "queries", 1000, "`number` of queries, run one at a time on one goroutine")
	fs.IntVar(&cfg.Clusters, "clusters", 100, "Gaussian `clusters` the synthetic vectors are drawn around")
	fs.Float64Var(&cfg.Spread, "spread", 0.6, "noise around each cluster centre, as a `fraction` of the centre's length; larger is harder")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random `seed`; the same seed gives the same data")
	fs.IntVar(&cfg.HNSW.M, "m", 0, "HNSW links per node, `M` (default 16)")
	fs.IntVar(&cfg.HNSW.EfConstruction, "ef-construction", 0, "HNSW candidate list `size` while building (default 200)")
	fs.IntVar(&cfg.HNSW.EfSearch, "ef-search", 0, "HNSW candidate list `size` while searching, also pgvector's hnsw.ef_search (default 64)")
	fs.StringVar(&cfg.PostgresURL, "postgres", "", "also benchmark pgvector on the Postgres at this `URL` (in a throwaway schema)")
	asJSON := fs.Bool("json", false, "print one JSON object per back end instead of a table")
	verbose := fs.Bool("v", false, "log progress on stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway bench retrieval [flags]

Builds the retrieval store's vector index from synthetic clustered vectors
and reports build time, recall@k against exact search, and single-threaded
query throughput and latency: for the embedded HNSW index and, with
--postgres, for pgvector side by side.

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
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	results, err := retrieval.Bench(ctx, cfg)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "backend\tn\tdim\tk\tbuild s\trecall@k\tqueries/s\tp50 µs\tp99 µs\t\n")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.4f\t%.0f\t%.0f\t%.0f\t\n",
			r.Backend, r.N, r.Dim, r.K, r.BuildSeconds, r.RecallAtK, r.QPS, r.P50us, r.P99us)
	}
	tw.Flush()
	return err
}
