package experts

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSlots(t *testing.T) {
	ctx := context.Background()
	for range 3 { // unbounded
		if _, err := NewSlots(0).Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s := NewSlots(1)
	release, err := s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second call with one slot: err = %v, want the deadline", err)
	}
	release()
	if _, err := s.Acquire(ctx); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
