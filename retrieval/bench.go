package retrieval

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"
)

// BenchConfig describes a retrieval benchmark: an index built from N
// synthetic clustered vectors, queried with Queries more from the same
// distribution, one query at a time.
type BenchConfig struct {
	N, Dim, K, Queries int
	Clusters           int     // default 100
	Spread             float64 // see Synthetic; default 0.6
	Seed               uint64  // default 1
	HNSW               HNSWOptions
	PostgresURL        string // also benchmark pgvector there, in a throwaway schema
	Logger             *slog.Logger
}

// BenchResult is one back end's numbers.
type BenchResult struct {
	Backend      string  `json:"backend"`
	N            int     `json:"n"`
	Dim          int     `json:"dim"`
	K            int     `json:"k"`
	Queries      int     `json:"queries"`
	BuildSeconds float64 `json:"build_seconds"`
	RecallAtK    float64 `json:"recall_at_k"`
	QPS          float64 `json:"qps"`
	P50us        float64 `json:"p50_us"`
	P99us        float64 `json:"p99_us"`
}

const benchDocSize = 1000 // chunks per synthetic document

// Bench runs the benchmark on the embedded store and, if PostgresURL is
// set, on pgvector. Recall is measured against exact brute-force search.
func Bench(ctx context.Context, cfg BenchConfig) ([]BenchResult, error) {
	if cfg.N <= 0 || cfg.Dim <= 0 || cfg.K <= 0 || cfg.Queries <= 0 {
		return nil, fmt.Errorf("retrieval: bench needs positive n, dim, k and queries")
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := NewSynthetic(cfg.Dim, cfg.Clusters, cfg.Spread, cfg.Seed)
	data, queries := g.NextN(cfg.N), g.NextN(cfg.Queries)

	log.Info("bench: exact search for the ground truth", "queries", cfg.Queries, "n", cfg.N)
	truth := make([][]int, len(queries))
	parallel(len(queries), func(i int) {
		for _, c := range exactTopK(data, queries[i], cfg.K) {
			truth[i] = append(truth[i], int(c.id))
		}
	})

	var results []BenchResult
	dir, err := os.MkdirTemp("", "moegate-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e, err := OpenEmbedded(dir, cfg.Dim, EmbeddedOptions{HNSW: cfg.HNSW, NoSync: true, SnapshotBytes: 1 << 40})
	if err != nil {
		return nil, err
	}
	r, err := benchStore(ctx, "embedded", e, data, queries, truth, cfg, log)
	e.Close()
	if err != nil {
		return nil, err
	}
	results = append(results, r)

	if cfg.PostgresURL != "" {
		schema := fmt.Sprintf("bench_%d_%d", os.Getpid(), time.Now().Unix())
		p, err := OpenPostgres(ctx, cfg.PostgresURL, cfg.Dim, PostgresOptions{Schema: schema, EfSearch: cfg.HNSW.EfSearch, Logger: log})
		if err != nil {
			return results, err
		}
		r, err := benchStore(ctx, "pgvector", p, data, queries, truth, cfg, log)
		p.DropSchema(context.Background())
		p.Close()
		if err != nil {
			return results, err
		}
		results = append(results, r)
	}
	return results, nil
}

func benchStore(ctx context.Context, name string, s Store, data, queries [][]float32, truth [][]int, cfg BenchConfig, log *slog.Logger) (BenchResult, error) {
	res := BenchResult{Backend: name, N: cfg.N, Dim: cfg.Dim, K: cfg.K, Queries: cfg.Queries}
	log.Info("bench: building", "backend", name, "n", len(data))
	start := time.Now()
	for d := 0; d*benchDocSize < len(data); d++ {
		part := data[d*benchDocSize : min((d+1)*benchDocSize, len(data))]
		chunks := make([]Chunk, len(part))
		for i, v := range part {
			chunks[i] = Chunk{Seq: i, Embedding: v}
		}
		if err := s.Upsert(ctx, Document{ID: fmt.Sprint(d)}, chunks); err != nil {
			return res, err
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	res.BuildSeconds = time.Since(start).Seconds()

	// Warm up caches and connections before timing.
	for _, q := range queries[:min(20, len(queries))] {
		if _, err := s.Search(ctx, q, cfg.K, Filter{}); err != nil {
			return res, err
		}
	}
	lat := make([]time.Duration, len(queries))
	hits := 0
	start = time.Now()
	for i, q := range queries {
		t := time.Now()
		got, err := s.Search(ctx, q, cfg.K, Filter{})
		lat[i] = time.Since(t)
		if err != nil {
			return res, err
		}
		for _, h := range got {
			var d, seq int
			fmt.Sscan(h.Chunk.DocID, &d)
			seq = h.Chunk.Seq
			if slices.Contains(truth[i], d*benchDocSize+seq) {
				hits++
			}
		}
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	res.QPS = float64(len(queries)) / elapsed.Seconds()
	res.P50us = float64(lat[len(lat)/2].Microseconds())
	res.P99us = float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())
	res.RecallAtK = float64(hits) / float64(len(queries)*cfg.K)
	log.Info("bench: done", "backend", name, "recall", res.RecallAtK, "qps", int(res.QPS))
	return res, nil
}

// parallel runs f(0..n-1) on all cores.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}
