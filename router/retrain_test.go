package router

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moegate/moegate/embed"
)

func TestRetrainer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "router.json")
	l := NewLearned(embed.NewLocal(4096), Options{})

	var mu sync.Mutex
	examples := toyExamples()
	var calls int
	source := func(context.Context) ([]Example, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return append([]Example(nil), examples...), nil
	}
	r := NewRetrainer(l, source, RetrainOptions{Path: path, Debounce: 20 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	wait := func(ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatal("no training attempt after Trigger")
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
	}

	// Triggers within the debounce window coalesce into one training.
	ch := r.Attempted()
	for range 5 {
		r.Trigger()
	}
	wait(ch)
	if l.Version() != 1 {
		t.Fatalf("version %d after first training", l.Version())
	}
	route := func(text string, cands ...string) Decision {
		d, err := l.Route(ctx, Query{Text: text, Candidates: cands})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := route("play some jazz music", "banking", "travel", "kitchen", "music"); !d.Default && d.Experts[0].Name == "music" {
		t.Fatal("routed to an expert that does not exist yet")
	}

	// A new expert appears in the registry: after the trigger it serves.
	mu.Lock()
	for _, s := range []string{"play some jazz music", "play my workout playlist", "skip this song",
		"turn the music up", "who sings this song", "play the latest album by adele", "shuffle my music"} {
		examples = append(examples, Example{Text: s, Expert: "music"})
	}
	mu.Unlock()
	ch = r.Attempted()
	r.Trigger()
	wait(ch)
	if l.Version() != 2 {
		t.Fatalf("version %d after second training", l.Version())
	}
	if d := route("play a song by the beatles", "banking", "travel", "kitchen", "music"); d.Default || d.Experts[0].Name != "music" {
		t.Errorf("music query after retraining: %+v", d)
	}
	mu.Lock()
	if calls != 2 {
		t.Errorf("source called %d times, want 2 (triggers debounced)", calls)
	}
	mu.Unlock()

	// The saved model is the active one.
	m, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 2 || len(m.Experts) != 5 {
		t.Errorf("saved model version %d experts %q", m.Version, m.Experts)
	}

	// A failing source keeps the old model serving and reports the error.
	mu.Lock()
	examples = nil
	mu.Unlock()
	ch = r.Attempted()
	r.Trigger()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no attempt")
	}
	if !errors.Is(r.Err(), ErrNoExamples) || l.Version() != 2 {
		t.Errorf("err %v version %d, want ErrNoExamples and the old model", r.Err(), l.Version())
	}

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
}
