package experts

import (
	"context"
	"slices"
	"strings"
)

// Builder checks specs of the kinds it knows and builds their experts.
type Builder interface {
	// Check reports what is wrong with s (already normalized) beyond
	// Spec.Validate: the fields its kind needs or refuses, as a
	// *ValidationError.
	Check(s Spec) error
	// Build makes the expert for s.
	Build(ctx context.Context, s Spec) (Expert, error)
}

// Factory is a Builder that checks nothing beyond Spec.Validate. Build
// errors wrapping ErrInvalid mean the spec cannot work as written (for
// example its API key variable is unset).
type Factory func(ctx context.Context, s Spec) (Expert, error)

// Check implements Builder.
func (Factory) Check(Spec) error { return nil }

// Build implements Builder.
func (f Factory) Build(ctx context.Context, s Spec) (Expert, error) { return f(ctx, s) }

// Kinds are the kinds of expert a gateway serves, by name. Each kind lives
// in a package of its own (experts/openai, experts/local); adding one is
// that package and one entry where the gateway is wired.
type Kinds map[string]Builder

// Check checks s with its kind's Builder.
func (k Kinds) Check(s Spec) error {
	b, ok := k[s.Kind]
	if !ok {
		return invalid("kind", "%q is not one of %s", s.Kind, strings.Join(k.names(), ", "))
	}
	return b.Check(s)
}

// Build builds s with its kind's Builder.
func (k Kinds) Build(ctx context.Context, s Spec) (Expert, error) {
	if err := k.Check(s); err != nil {
		return nil, err
	}
	return k[s.Kind].Build(ctx, s)
}

func (k Kinds) names() []string {
	names := make([]string, 0, len(k))
	for n := range k {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
