package main

import (
	"context"
	"errors"
)

// TODO(owner of this file): replace with the real command.
func cmdServe(ctx context.Context, args []string) error {
	return errors.New("not implemented yet")
}
