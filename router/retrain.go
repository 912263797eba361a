package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/moegate/moegate/internal/units"
)

// Source supplies the current training examples: the examples and
// descriptions of the enabled experts, plus feedback.
type Source func(ctx context.Context) ([]Example, error)

// RetrainOptions configure a Retrainer.
type RetrainOptions struct {
	// Path, when set, is where each new model is saved (atomically).
	Path string
	// Debounce is how long the Retrainer waits after a Trigger for more
	// triggers before training; default 2s.
	Debounce time.Duration
	Logger   *slog.Logger // nil: discard
}

// Retrainer retrains a Learned router in the background when triggered:
// triggers within the debounce window coalesce into one training, a
// training in progress is never interrupted by a trigger (the next one
// starts after it), and the old model serves until the new one is
// installed.
type Retrainer struct {
	l       *Learned
	source  Source
	opts    RetrainOptions
	trigger chan struct{}

	mu      sync.Mutex
	lastErr error
	done    chan struct{} // closed and replaced after each attempt
}

// NewRetrainer returns a Retrainer for l fed by source. Call Run to start
// it.
func NewRetrainer(l *Learned, source Source, opts RetrainOptions) *Retrainer {
	if opts.Debounce <= 0 {
		opts.Debounce = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Retrainer{l: l, source: source, opts: opts, trigger: make(chan struct{}, 1), done: make(chan struct{})}
}

// Trigger asks for a retraining. It never blocks.
func (r *Retrainer) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default: // one is already pending
	}
}

// Attempted returns a channel closed after the next training attempt
// (successful or not) ends; tests and callers that must see the result of
// a Trigger wait on it, then check Err and the router's Version.
func (r *Retrainer) Attempted() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// Err is the error of the last training attempt, nil after a success.
func (r *Retrainer) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// Run serves triggers until ctx is done and returns ctx's error.
func (r *Retrainer) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.trigger:
		}
		// Debounce: wait until no trigger arrived for a whole window.
		timer := time.NewTimer(r.opts.Debounce)
	debounce:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-r.trigger:
				timer.Reset(r.opts.Debounce)
			case <-timer.C:
				break debounce
			}
		}
		err := r.Retrain(ctx)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Retrain trains on the source's examples now, installs the model and
// saves it. Run calls it; callers may call it directly (e.g. at start when
// no saved model exists).
func (r *Retrainer) Retrain(ctx context.Context) (err error) {
	defer func() {
		r.mu.Lock()
		r.lastErr = err
		close(r.done)
		r.done = make(chan struct{})
		r.mu.Unlock()
	}()
	start := time.Now()
	examples, err := r.source(ctx)
	if err != nil {
		r.opts.Logger.Error("router retrain: reading examples", "err", err)
		return fmt.Errorf("router: retrain: %w", err)
	}
	m, err := r.l.Train(ctx, examples)
	if err != nil {
		if errors.Is(err, ErrNoExamples) {
			r.opts.Logger.Warn("router retrain: no expert has examples; the router keeps its model", "examples", len(examples))
		} else {
			r.opts.Logger.Error("router retrain: training", "err", err)
		}
		return fmt.Errorf("router: retrain: %w", err)
	}
	// Saved before it serves, with the version Install will keep: a
	// restart right after a route finds the model that made it.
	m.Version = max(m.Version, r.l.Version()+1)
	var saveErr error
	if r.opts.Path != "" {
		if saveErr = m.SaveFile(r.opts.Path); saveErr != nil {
			r.opts.Logger.Error("router retrain: saving", "err", saveErr)
		}
	}
	if err := r.l.Install(m); err != nil {
		r.opts.Logger.Error("router retrain: installing", "err", err)
		return fmt.Errorf("router: retrain: %w", err)
	}
	r.opts.Logger.Info("router retrained", "version", m.Version, "examples", len(examples),
		"experts", len(m.Experts), "threshold", m.Threshold, "duration_ms", units.MS(time.Since(start)))
	return saveErr
}
