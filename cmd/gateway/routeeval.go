package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/router"
	"github.com/moegate/moegate/router/perturb"
)

// cmdRouteEval trains a learned router on one JSONL file and prints one JSON
// object of metrics measured on another.
func cmdRouteEval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("route-eval", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stdout, "Usage: gateway route-eval --train FILE.jsonl --test FILE.jsonl [flags]\n\n"+
			"Trains the learned router on --train and prints one JSON object of metrics on --test.\n"+
			"Lines are {\"text\": \"...\", \"expert\": \"banking\"}; an empty expert is out of scope.\n"+
			"A line may carry \"messages\" (a chat conversation) instead of \"text\": the last user\n"+
			"message is the query, the earlier ones its history.\n\n"+
			"--shots K samples K training examples per class, --seeds S repeats with S samples and\n"+
			"averages; --perturb rewrites every test query; --teacher-labels simulates a teacher\n"+
			"labelling the router's least certain queries of FILE (whose labels are the truth).\n\n")
		printDefaults(fs)
	}
	trainPath := fs.String("train", "", "training examples (JSON Lines)")
	testPath := fs.String("test", "", "test examples (JSON Lines)")
	k := fs.Int("k", 1, "experts per query (top_k)")
	dim := fs.Int("dim", router.LocalFeatureDim, "dimension of the local embedder's hashed features")
	kind := fs.String("kind", router.KindLogReg, "model: logreg or centroid")
	coverage := fs.Float64("coverage", 0, "target in-scope coverage for the out-of-scope threshold (0: default)")
	epochs := fs.Int("epochs", 0, "training epochs (0: default)")
	l2 := fs.Float64("l2", 0, "weight decay (0: default)")
	fewL2 := fs.Float64("few-shot-l2", 0, "weight decay is max(--l2, this / examples per expert) (0: default, <0: --l2 alone)")
	descW := fs.Float64("description-weight", 0, "loss weight of the examples an expert's description gives (0: default)")
	negW := fs.Float64("negative-weight", 0, "weight of the generic negatives (0: default)")
	shrink := fs.Float64("shrink", 0, "examples per expert at which the out-of-scope threshold is halved (0: default)")
	exW := fs.Float64("exemplar-weight", 0, "blend weight of exemplar scores for an expert with no examples (0: default, <0: none)")
	exScale := fs.Float64("exemplar-scale", 0, "examples per expert at which the exemplar weight falls by e (0: default)")
	exTemp := fs.Float64("exemplar-temp", 0, "softmax temperature over exemplar cosines (0: default)")
	noSpell := fs.Bool("no-spelling", false, "no spelling correction of queries against the training vocabulary")
	noNeg := fs.Bool("no-negatives", false, "train without the generic negatives")
	shots := fs.Int("shots", 0, "training examples sampled per class (0: all)")
	seeds := fs.Int("seeds", 1, "repeats with different samples; metrics are averaged")
	noOOS := fs.Bool("no-oos-train", false, "train without the out-of-scope examples")
	pert := fs.String("perturb", "", "perturbation of the test queries: "+strings.Join(perturb.Kinds, ", ")+
		"; or followup (a topic-less follow-up after a query of the same class) or switch (a query of another class first)")
	teacher := fs.String("teacher-labels", "", "unlabelled pool with true labels (JSON Lines) for the teacher simulation")
	noise := fs.Float64("teacher-noise", 0.1, "share of the simulated teacher's labels that are wrong")
	share := fs.Float64("teacher-share", 0.2, "share of the pool the teacher labels")
	pool := fs.Int("teacher-pool", 5000, "queries drawn from --teacher-labels")
	descs := fs.String("descriptions", "", "JSON object of expert descriptions, trained on as the gateway does")
	descOnly := fs.String("describe-only", "", "comma-separated experts whose examples are dropped (known by --descriptions alone)")
	features := featureFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	emb, err := features.embedder(*dim)
	if err != nil {
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
	exp := router.Experiment{Shots: *shots, Seeds: *seeds, NoOOSTrain: *noOOS, Perturb: *pert,
		PoolSize: *pool, TeacherShare: *share, TeacherNoise: *noise}
	if *descs != "" {
		b, err := os.ReadFile(*descs)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &exp.Descriptions); err != nil {
			return fmt.Errorf("%s: %w", *descs, err)
		}
	}
	if *descOnly != "" {
		exp.DescribeOnly = strings.Split(*descOnly, ",")
	}
	if *teacher != "" {
		if exp.Pool, err = router.ReadExamplesFile(*teacher); err != nil {
			return err
		}
	}
	opts := router.Options{TopK: *k, Train: router.TrainOptions{Kind: *kind, TargetCoverage: *coverage, Epochs: *epochs,
		L2: *l2, FewShotL2: *fewL2, DescriptionWeight: *descW, NegativeWeight: *negW, NoNegatives: *noNeg, ShrinkExamples: *shrink,
		NoSpelling: *noSpell, ExemplarWeight: *exW, ExemplarScale: *exScale, ExemplarTemp: *exTemp}}
	res, err := exp.Run(ctx, emb, train, test, opts)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// printDefaults prints fs's flags to stdout, where --help output belongs;
// parse errors stay on fs's output (stderr).
func printDefaults(fs *flag.FlagSet) {
	out := fs.Output()
	fs.SetOutput(os.Stdout)
	fs.PrintDefaults()
	fs.SetOutput(out)
}

// routerFeatures are the flags choosing what the router trains on.
type routerFeatures struct {
	url, model, keyEnv *string
	dim                *int
	weight             *float64
	combine            *bool
	lexical            *bool
	lex                router.LexicalOptions
}

func featureFlags(fs *flag.FlagSet) *routerFeatures {
	f := &routerFeatures{
		url:     fs.String("embed-url", "", "OpenAI-compatible embeddings endpoint (base URL ending in /v1) whose vectors the router trains on; empty: local features only"),
		model:   fs.String("embed-model", "", "model of --embed-url"),
		keyEnv:  fs.String("embed-key-env", "", "environment variable holding the API key of --embed-url"),
		dim:     fs.Int("embed-dim", 0, "dimension of --embed-url's vectors (required)"),
		combine: fs.Bool("combine", true, "with --embed-url: its vectors next to the local features (false: its vectors alone)"),
		weight:  fs.Float64("embed-weight", 1, "with --combine: weight of the endpoint's vectors against the local features"),
		lexical: fs.Bool("lexical", true, "add stems, WordNet concepts and definitions' words to the local n-grams (false: the gateway's router.features ngrams)"),
	}
	fs.Float64Var(&f.lex.Stem, "lex-stem", 0, "weight of a word's stem feature (0: default, <0: none)")
	fs.Float64Var(&f.lex.Concept, "lex-concept", 0, "weight of a word's WordNet concepts (0: default, <0: none)")
	fs.Float64Var(&f.lex.Gloss, "lex-gloss", 0, "weight of the words of a word's WordNet definitions (0: default, <0: none)")
	fs.Float64Var(&f.lex.Extra, "lex-extra", 0, "weight of the stem, concept and definition block against the n-grams (0: default)")
	fs.Float64Var(&f.lex.Pairs, "lex-pairs", 0, "weight of the pairs of words 2 or 3 apart (0: default, <0: none)")
	return f
}

// embedder returns the router's features: the local hashed features of
// dimension dim, an endpoint's vectors, or both.
func (f routerFeatures) embedder(dim int) (embed.Embedder, error) {
	var local router.SparseFeatures = embed.NewLocal(dim)
	if *f.lexical {
		local = router.NewLexical(embed.NewLocal(dim), f.lex)
	}
	if *f.url == "" {
		return local, nil
	}
	if *f.dim <= 0 {
		return nil, fmt.Errorf("--embed-dim is required with --embed-url")
	}
	var key string
	if *f.keyEnv != "" {
		key = os.Getenv(*f.keyEnv)
	}
	remote := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: *f.url, Model: *f.model, APIKey: key, Dim: *f.dim})
	if !*f.combine {
		return remote, nil
	}
	return router.NewCombined(local, remote, *f.model, *f.weight)
}
