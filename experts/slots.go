package experts

import "context"

// Slots bound the calls in flight to one expert (Spec.MaxConcurrency). A
// nil Slots is unbounded.
type Slots chan struct{}

// NewSlots returns room for n calls at once; n <= 0 is unbounded.
func NewSlots(n int) Slots {
	if n <= 0 {
		return nil
	}
	return make(Slots, n)
}

// Acquire waits for a slot until ctx ends; release frees it. The wait
// counts against the caller's deadline, like the call itself.
func (s Slots) Acquire(ctx context.Context) (release func(), err error) {
	if s == nil {
		return func() {}, nil
	}
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
