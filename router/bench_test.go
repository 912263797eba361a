package router

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/router/perturb"
)

// clincSample reads the CLINC150 sample's split (train or val) of
// testdata/README.md.
func clincSample(tb testing.TB, split string) []Example {
	tb.Helper()
	ex, err := ReadExamplesFile("testdata/clinc_" + split + ".jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}

// features are the router's features as the gateway configures them by
// default.
func features() *Lexical {
	return NewLexical(embed.NewLocal(LocalFeatureDim), LexicalOptions{})
}

// benchRoute measures routing text with a router trained on the sample,
// embedding of the query text included, with the default features.
func benchRoute(b *testing.B, text string) {
	benchRouteOn(b, clincSample(b, "train"), text)
}

func benchRouteOn(b *testing.B, train []Example, text string) {
	ctx := context.Background()
	l := NewLearned(features(), Options{})
	m, err := l.Train(ctx, train)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Install(m); err != nil {
		b.Fatal(err)
	}
	q := Query{Text: text, Candidates: m.InScope()}
	b.ReportAllocs()
	reportLatency(b, func() {
		if _, err := l.Route(ctx, q); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRoute measures one routing decision of a short query.
func BenchmarkRoute(b *testing.B) {
	benchRoute(b, "can you tell me how to say 'i do not speak much spanish', in spanish")
}

// BenchmarkRouteTypo measures a short query with a misspelt word, which
// the speller corrects before embedding.
func BenchmarkRouteTypo(b *testing.B) {
	benchRoute(b, "can you tell me how to say 'i do not speak much spanihs', in spanish")
}

// BenchmarkRouteFewShot measures a short query on a router trained on 10
// examples and the description of each expert, where exemplar scores
// count.
func BenchmarkRouteFewShot(b *testing.B) {
	benchRouteOn(b, fewShotSample(b), "can you tell me how to say 'i do not speak much spanish', in spanish")
}

// fewShotSample is 10 examples and a description of each expert of the
// CLINC150 sample.
func fewShotSample(b testing.TB) []Example {
	var train []Example
	seen := map[string]int{}
	for _, ex := range clincSample(b, "train") {
		if seen[ex.Expert]++; seen[ex.Expert] <= 10 && ex.Expert != OutOfScope {
			train = append(train, ex)
		}
	}
	for e := range seen {
		if e != OutOfScope {
			train = append(train, DescriptionExamples(e, "questions about "+e+": help, advice, problems, how to and what is")...)
		}
	}
	return train
}

// BenchmarkRouteCold measures routing as a busy gateway does: the
// router's tables evicted from the CPU caches by other work (here 8 MB
// written between decisions, not timed) before each of the sample's val
// queries. The few-shot router keeps exemplars, as the benchmark's
// experts do. Cache misses, which instruction counts do not see, make
// most of its time.
func BenchmarkRouteCold(b *testing.B) {
	ctx := context.Background()
	l := NewLearned(features(), Options{})
	m, err := l.Train(ctx, fewShotSample(b))
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Install(m); err != nil {
		b.Fatal(err)
	}
	val := clincSample(b, "val")
	other := make([]byte, 8<<20)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for k := 0; k < len(other); k += 64 {
			other[k]++
		}
		b.StartTimer()
		t0 := time.Now()
		if _, err := l.Route(ctx, Query{Text: val[i%len(val)].Text, Candidates: m.InScope()}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkTrain measures training (threshold calibration included) on
// the 2,100-query CLINC150 sample.
func BenchmarkTrain(b *testing.B) {
	ctx := context.Background()
	ex := clincSample(b, "train")
	emb := features()
	for b.Loop() {
		if _, err := Train(ctx, emb, ex, TrainOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouteLong measures routing a 2,000-word message whose question
// comes last, embedding included.
func BenchmarkRouteLong(b *testing.B) {
	benchRoute(b, perturb.Preamble(rand.New(rand.NewPCG(1, 1)), "how do i say thank you in italian?", 2000))
}

// reportLatency runs f b.N times and reports the median and 99th
// percentile of its duration next to the mean (which a shared machine's
// descheduling skews).
func reportLatency(b *testing.B, f func()) {
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		f()
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkTrainFull measures training on the 15,100 CLINC150 training
// queries of examples/ (the target: 10 s).
func BenchmarkTrainFull(b *testing.B) {
	ex, err := ReadExamplesFile("../examples/data/clinc150/train.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	emb := features()
	for b.Loop() {
		if _, err := Train(context.Background(), emb, ex, TrainOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
