package router

import (
	"context"
	"errors"
	"testing"

	"github.com/moegate/moegate/embed"
)

func TestRetrainerReady(t *testing.T) {
	examples := []Example{{Text: "check my balance", Expert: "banking"}, {Text: "book a flight", Expert: "travel"}}
	tests := []struct {
		name    string
		source  Source
		trained bool // Retrain succeeds
		ready   bool // after the attempt
	}{
		{"trained", func(context.Context) ([]Example, error) { return examples, nil }, true, true},
		{"no examples: the default expert answers everything", func(context.Context) ([]Example, error) { return nil, nil }, false, true},
		{"source failed", func(context.Context) ([]Example, error) { return nil, errors.New("store down") }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := NewRetrainer(NewLearned(embed.NewLocal(256), Options{}), tt.source, RetrainOptions{})
			if err := rt.Ready(); err == nil {
				t.Fatal("ready before any training")
			}
			if err := rt.Retrain(context.Background()); (err == nil) != tt.trained {
				t.Fatalf("Retrain = %v", err)
			}
			if err := rt.Ready(); (err == nil) != tt.ready {
				t.Fatalf("Ready = %v, want ready %t", err, tt.ready)
			}
		})
	}
}
