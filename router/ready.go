package router

import (
	"errors"
	"fmt"
)

// Ready reports whether the router routes by a trained model, for the
// gateway's readiness: nil once a model is installed (trained or loaded),
// or once training found no examples at all (then every query is meant
// for the default expert); otherwise why not.
func (r *Retrainer) Ready() error {
	if r.l.Version() > 0 {
		return nil
	}
	switch err := r.Err(); {
	case errors.Is(err, ErrNoExamples):
		return nil
	case err != nil:
		return fmt.Errorf("router not trained: %w", err)
	}
	return errors.New("router not trained yet: training in progress")
}
