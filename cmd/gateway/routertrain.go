package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/moegate/moegate/router"
)

// cmdRouterTrain trains the learned router from a JSONL file and saves the
// model where 'serve' can load it.
func cmdRouterTrain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("router train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stdout, "Usage: gateway router train --data FILE.jsonl --out FILE [--dim N]\n\n"+
			"Trains the learned router on JSON Lines {\"text\": \"...\", \"expert\": \"banking\"}\n"+
			"(an empty expert is out of scope; \"retrieve\": true labels the retrieval gate) and saves it.\n\n")
		printDefaults(fs)
	}
	data := fs.String("data", "", "training examples (JSON Lines)")
	out := fs.String("out", "", "where to save the model")
	dim := fs.Int("dim", router.LocalFeatureDim, "dimension of the local embedder's hashed features")
	coverage := fs.Float64("coverage", 0, "target in-scope coverage for the out-of-scope threshold (0: default)")
	features := featureFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	emb, err := features.embedder(*dim)
	if err != nil {
		return err
	}
	if *data == "" || *out == "" {
		fs.Usage()
		return fmt.Errorf("--data and --out are required")
	}
	examples, err := router.ReadExamplesFile(*data)
	if err != nil {
		return err
	}
	start := time.Now()
	progress := func(msg string) { fmt.Fprintf(os.Stderr, "router train: %s\n", msg) }
	m, err := router.Train(ctx, emb, examples,
		router.TrainOptions{TargetCoverage: *coverage, Progress: progress})
	if err != nil {
		return err
	}
	if err := m.SaveFile(*out); err != nil {
		return err
	}
	progress(fmt.Sprintf("saved %s: experts %q (\"\" is out of scope), threshold %.3f, retrieval gate %v, %v",
		*out, m.Experts, m.Threshold, m.Retrieval != nil, time.Since(start).Round(time.Millisecond)))
	return nil
}
