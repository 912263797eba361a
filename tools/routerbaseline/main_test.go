package main

import (
	"context"
	"math"
	"testing"

	"github.com/moegate/moegate/router"
)

// TestTFIDF: terms outside the vocabulary are dropped, rarer terms weigh
// more, and vectors are unit length.
func TestTFIDF(t *testing.T) {
	v := newTFIDF([]string{"check my balance", "my card was declined", "my card limit"})
	idx, val := v.AppendSparse(nil, nil, "My card balance, unknownword")
	if len(idx) != 4 { // my, card, balance, "my card"
		t.Fatalf("%d features %v, want 4", len(idx), idx)
	}
	var ss float64
	weight := map[string]float32{}
	for k, i := range idx {
		ss += float64(val[k] * val[k])
		for term, j := range v.vocab {
			if j == i {
				weight[term] = val[k]
			}
		}
	}
	if math.Abs(ss-1) > 1e-5 {
		t.Errorf("squared norm %v, want 1", ss)
	}
	if !(weight["balance"] > weight["card"] && weight["card"] > weight["my"]) {
		t.Errorf("weights %v: want balance (1 text) > card (2) > my (3)", weight)
	}
}

// TestBaselineRoutes: the baseline learns a two-expert toy set.
func TestBaselineRoutes(t *testing.T) {
	var train, test []router.Example
	for _, s := range []string{"check my balance", "transfer money to savings", "my account balance", "send money"} {
		train = append(train, router.Example{Text: s, Expert: "banking"})
	}
	for _, s := range []string{"weather tomorrow", "will it rain today", "is it sunny", "weather this weekend"} {
		train = append(train, router.Example{Text: s, Expert: "weather"})
	}
	test = append(test, router.Example{Text: "what is my balance", Expert: "banking"}, router.Example{Text: "rain tomorrow", Expert: "weather"})
	res, err := evaluate(context.Background(), train, test, 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accuracy != 1 {
		t.Errorf("accuracy %v, want 1", res.Accuracy)
	}
}
