package retrieval

import (
	"context"
	"testing"
)

func TestBench(t *testing.T) {
	res, err := Bench(context.Background(), BenchConfig{N: 3000, Dim: 32, K: 10, Queries: 50, Clusters: 10, PostgresURL: pgvectorURL()})
	if err != nil {
		t.Fatalf("Bench (needs pgvector; start it with tools/pglite/start.sh): %v", err)
	}
	if len(res) != 2 || res[0].Backend != "embedded" || res[1].Backend != "pgvector" {
		t.Fatalf("results = %+v, want embedded and pgvector", res)
	}
	for _, r := range res {
		if r.RecallAtK < 0.9 || r.RecallAtK > 1 || r.QPS <= 0 || r.P50us > r.P99us || r.BuildSeconds <= 0 {
			t.Errorf("implausible result %+v", r)
		}
	}
}
