package router

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moegate/moegate/embed"
)

func TestFileFeedback(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "feedback.jsonl")
	s := NewFileFeedback(path)
	if all, err := s.All(ctx); err != nil || len(all) != 0 {
		t.Fatalf("empty store: %v %v", all, err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := s.Append(ctx, Feedback{RequestID: fmt.Sprint("req", i), Rating: 1, Text: "q"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Append(ctx, Feedback{RequestID: "last", Rating: -1, Expert: "travel", Text: "book a train", Time: at}); err != nil {
		t.Fatal(err)
	}
	all, err := NewFileFeedback(path).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 21 {
		t.Fatalf("%d records, want 21", len(all))
	}
	if last := all[20]; last.RequestID != "last" || last.Expert != "travel" || !last.Time.Equal(at) || last.Rating != -1 {
		t.Errorf("last record %+v", last)
	}
	if all[0].Time.IsZero() {
		t.Error("Append did not stamp the time")
	}

	// A torn last line (crash mid-write) is skipped; a bad line in the
	// middle is an error.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"request_id":"torn","rat`)
	f.Close()
	if all, err := s.All(ctx); err != nil || len(all) != 21 {
		t.Errorf("torn tail: %d records, %v", len(all), err)
	}
	f, _ = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\n{\"request_id\":\"after\"}\n")
	f.Close()
	if _, err := s.All(ctx); err == nil {
		t.Error("corrupt middle line accepted")
	}
}

func TestFeedbackExamples(t *testing.T) {
	ex := FeedbackExamples([]Feedback{
		{Text: "book a train", Expert: "banking"},
		{Text: "no expert named", Rating: -1},
		{Expert: "travel"},                         // no text
		{Text: " book a train ", Expert: "travel"}, // later correction wins
		{Text: "recipe for soup", Expert: "kitchen", Rating: 5},
	}, 0)
	want := []Example{{Text: "book a train", Expert: "travel", Weight: 3}, {Text: "recipe for soup", Expert: "kitchen", Weight: 3}}
	if fmt.Sprint(ex) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", ex, want)
	}
}

// Feedback that corrects a route changes the route after retraining.
func TestFeedbackCorrectsRoute(t *testing.T) {
	ctx := context.Background()
	l := NewLearned(embed.NewLocal(4096), Options{Train: TrainOptions{Epochs: 60}})
	query := "find me a cheap place to eat pasta near the hotel"
	route := func() string {
		d, err := l.Route(ctx, Query{Text: query, Candidates: []string{"banking", "travel", "kitchen"}})
		if err != nil {
			t.Fatal(err)
		}
		if d.Default {
			return ""
		}
		return d.Experts[0].Name
	}
	m, _ := l.Train(ctx, toyExamples())
	l.Install(m)
	before := route()
	want := "travel"
	if before == want {
		want = "kitchen"
	}
	fb := FeedbackExamples([]Feedback{{Text: query, Expert: want}}, 0)
	m, _ = l.Train(ctx, append(toyExamples(), fb...))
	l.Install(m)
	if got := route(); got != want {
		t.Errorf("after feedback %q routes to %q (before: %q), want %q", query, got, before, want)
	}
}
