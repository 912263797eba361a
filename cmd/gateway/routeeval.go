package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/router"
)

// cmdRouteEval trains a learned router on one JSONL file and prints one JSON
// object of metrics measured on another.
func cmdRouteEval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("route-eval", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gateway route-eval --train FILE.jsonl --test FILE.jsonl [flags]\n\n"+
			"Trains the learned router on --train and prints one JSON object of metrics on --test.\n"+
			"Lines are {\"text\": \"...\", \"expert\": \"banking\"}; an empty expert is out of scope.\n\n")
		fs.PrintDefaults()
	}
	trainPath := fs.String("train", "", "training examples (JSON Lines)")
	testPath := fs.String("test", "", "test examples (JSON Lines)")
	k := fs.Int("k", 1, "experts per query (top_k)")
	dim := fs.Int("dim", router.LocalFeatureDim, "dimension of the local embedder's hashed features")
	kind := fs.String("kind", router.KindLogReg, "model: logreg or centroid")
	coverage := fs.Float64("coverage", 0, "target in-scope coverage for the out-of-scope threshold (0: default 0.965)")
	epochs := fs.Int("epochs", 0, "training epochs (0: default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *trainPath == "" || *testPath == "" {
		fs.Usage()
		return fmt.Errorf("--train and --test are required")
	}
	train, err := router.ReadExamplesFile(*trainPath)
	if err != nil {
		return err
	}
	test, err := router.ReadExamplesFile(*testPath)
	if err != nil {
		return err
	}
	opts := router.Options{TopK: *k, Train: router.TrainOptions{Kind: *kind, TargetCoverage: *coverage, Epochs: *epochs}}
	res, err := router.Evaluate(ctx, embed.NewLocal(*dim), train, test, opts)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
