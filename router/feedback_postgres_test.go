package router

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moegate/moegate/internal/testdb"
)

// TestFeedbackStores runs the same checks on every FeedbackStore; a and b
// are two handles on the same storage, as two replicas would hold.
func TestFeedbackStores(t *testing.T) {
	kinds := []struct {
		name string
		open func(t *testing.T) (a, b FeedbackStore)
	}{
		{"file", func(t *testing.T) (FeedbackStore, FeedbackStore) {
			path := filepath.Join(t.TempDir(), "feedback.jsonl")
			return NewFileFeedback(path), NewFileFeedback(path)
		}},
		{"postgres", func(t *testing.T) (FeedbackStore, FeedbackStore) {
			ctx := context.Background()
			schema := testdb.Schema(t)
			if _, err := testdb.Pool(t, "public").Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
				t.Fatal(err)
			}
			a, err := NewPostgresFeedback(ctx, testdb.Pool(t, schema))
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewPostgresFeedback(ctx, testdb.Pool(t, schema))
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			a, b := k.open(t)
			if all, err := b.All(ctx); err != nil || len(all) != 0 {
				t.Fatalf("empty store: %v, %v", all, err)
			}
			at := time.Date(2026, 1, 2, 3, 4, 5, 678, time.UTC)
			first := Feedback{RequestID: "r1", Rating: -1, Expert: "travel", Text: "book a train", Time: at}
			if err := a.Append(ctx, first); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := range 10 {
				for _, s := range []FeedbackStore{a, b} {
					wg.Go(func() {
						if err := s.Append(ctx, Feedback{RequestID: fmt.Sprint("c", i), Rating: 1, Text: "q"}); err != nil {
							t.Error(err)
						}
					})
				}
			}
			wg.Wait()
			if err := b.Append(ctx, Feedback{RequestID: "last", Expert: "legal"}); err != nil {
				t.Fatal(err)
			}
			all, err := b.All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 22 {
				t.Fatalf("%d records, want 22", len(all))
			}
			if got := all[0]; got.RequestID != first.RequestID || got.Rating != -1 || got.Expert != "travel" || got.Text != first.Text || !got.Time.Equal(at) {
				t.Errorf("first record %+v, want %+v", got, first)
			}
			if last := all[21]; last.RequestID != "last" || last.Time.IsZero() {
				t.Errorf("last record %+v: want request last with its time stamped", last)
			}
			// Only the first names an expert and has a text.
			if ex := FeedbackExamples(all, 0); len(ex) != 1 || ex[0].Expert != "travel" {
				t.Errorf("examples from stored feedback: %+v, want book a train → travel", ex)
			}
		})
	}
}
