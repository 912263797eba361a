package router

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/router/perturb"
)

func clincSample(b *testing.B) []Example {
	ex, err := ReadExamplesFile("testdata/clinc_train.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	return ex
}

// BenchmarkRoute measures one routing decision, embedding of the query
// text included, with the default feature dimension.
func BenchmarkRoute(b *testing.B) {
	ctx := context.Background()
	l := NewLearned(embed.NewLocal(LocalFeatureDim), Options{})
	m, err := l.Train(ctx, clincSample(b))
	if err != nil {
		b.Fatal(err)
	}
	l.Install(m)
	cands := m.Experts[:len(m.Experts)-1]
	q := Query{Text: "can you tell me how to say 'i do not speak much spanish', in spanish", Candidates: cands}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Route(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrain measures training (threshold calibration included) on
// the 2,100-query CLINC150 sample.
func BenchmarkTrain(b *testing.B) {
	ctx := context.Background()
	ex := clincSample(b)
	emb := embed.NewLocal(LocalFeatureDim)
	for b.Loop() {
		if _, err := Train(ctx, emb, ex, TrainOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouteLong measures routing a 2,000-word message whose question
// comes last, embedding included.
func BenchmarkRouteLong(b *testing.B) {
	ctx := context.Background()
	l := NewLearned(embed.NewLocal(LocalFeatureDim), Options{})
	m, err := l.Train(ctx, clincSample(b))
	if err != nil {
		b.Fatal(err)
	}
	l.Install(m)
	q := Query{Text: perturb.Preamble(rand.New(rand.NewPCG(1, 1)), "how do i say thank you in italian?", 2000), Candidates: m.InScope()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Route(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}
