// Command routerbaseline measures the plain baseline the learned router is
// compared with: TF-IDF over exact word unigrams and bigrams (sublinear
// term frequency, smoothed idf, L2-normalised) and multinomial logistic
// regression, with none of the router's additions (no character n-grams,
// stems or WordNet concepts, no noisy copies, generic negatives,
// exemplars or spelling correction). It runs the same experiments and
// prints the same JSON metrics as 'gateway route-eval':
//
//	go run ./tools/routerbaseline --train examples/data/clinc150/train.jsonl --test examples/data/clinc150/val.jsonl [--shots 10 --seeds 3]
//
// The vocabulary and idf come from the whole --train file, also when
// --shots samples fewer examples: a little kinder to the baseline than
// fitting them on the sample.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/moegate/moegate/router"
)

func main() {
	trainPath := flag.String("train", "", "training examples (JSON Lines)")
	testPath := flag.String("test", "", "test examples (JSON Lines)")
	shots := flag.Int("shots", 0, "training examples sampled per class (0: all)")
	seeds := flag.Int("seeds", 1, "repeats with different samples; metrics are averaged")
	l2 := flag.Float64("l2", 0, "weight decay (0: the router's default)")
	flag.Parse()
	if err := run(context.Background(), *trainPath, *testPath, *shots, *seeds, *l2); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, trainPath, testPath string, shots, seeds int, l2 float64) error {
	train, err := router.ReadExamplesFile(trainPath)
	if err != nil {
		return err
	}
	test, err := router.ReadExamplesFile(testPath)
	if err != nil {
		return err
	}
	res, err := evaluate(ctx, train, test, shots, seeds, l2)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// evaluate runs the experiment with TF-IDF features and a plain gate.
func evaluate(ctx context.Context, train, test []router.Example, shots, seeds int, l2 float64) (router.EvalResult, error) {
	texts := make([]string, len(train))
	for i, ex := range train {
		texts[i] = ex.Text
	}
	exp := router.Experiment{Shots: shots, Seeds: seeds}
	opts := router.Options{Train: router.TrainOptions{L2: l2, LabelSmoothing: -1, Augment: -1,
		NoNegatives: true, ExemplarWeight: -1, NoSpelling: true}}
	return exp.Run(ctx, newTFIDF(texts), train, test, opts)
}

// tfidf embeds texts over a fixed vocabulary; terms outside it are dropped.
type tfidf struct {
	vocab map[string]int32
	idf   []float32
}

func newTFIDF(texts []string) *tfidf {
	df := map[string]int{}
	for _, t := range texts {
		seen := map[string]bool{}
		for _, term := range terms(t) {
			if !seen[term] {
				seen[term] = true
				df[term]++
			}
		}
	}
	keys := make([]string, 0, len(df))
	for k := range df {
		keys = append(keys, k)
	}
	slices.Sort(keys) // reproducible indices
	v := &tfidf{vocab: make(map[string]int32, len(keys))}
	for _, k := range keys {
		v.vocab[k] = int32(len(v.idf))
		v.idf = append(v.idf, float32(math.Log(float64(1+len(texts))/float64(1+df[k]))+1))
	}
	return v
}

// terms are the lower-case words of s (letters, digits, apostrophes) and
// their bigrams.
func terms(s string) []string {
	w := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '\'')
	})
	out := slices.Clone(w)
	for i := 0; i+1 < len(w); i++ {
		out = append(out, w[i]+" "+w[i+1])
	}
	return out
}

// Dim implements embed.Embedder.
func (v *tfidf) Dim() int { return max(1, len(v.idf)) }

// AppendSparse gives the router text's vector by its non-zero entries in
// increasing index order.
func (v *tfidf) AppendSparse(idx []int32, val []float32, text string) ([]int32, []float32) {
	tf := map[int32]float32{}
	for _, t := range terms(text) {
		if i, ok := v.vocab[t]; ok {
			tf[i]++
		}
	}
	start := len(idx)
	for i := range tf {
		idx = append(idx, i)
	}
	slices.Sort(idx[start:])
	var ss float64
	for _, i := range idx[start:] {
		w := (1 + float32(math.Log(float64(tf[i])))) * v.idf[i]
		val = append(val, w)
		ss += float64(w * w)
	}
	if ss > 0 {
		inv := float32(1 / math.Sqrt(ss))
		for k := start; k < len(val); k++ {
			val[k] *= inv
		}
	}
	return idx, val
}

// Embed implements embed.Embedder with dense vectors.
func (v *tfidf) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for n, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[n] = make([]float32, v.Dim())
		idx, val := v.AppendSparse(nil, nil, t)
		for k, i := range idx {
			out[n][i] = val[k]
		}
	}
	return out, nil
}
