// Package negatives ships generic queries that belong to no particular
// expert: general knowledge, science, history, hobbies, health, writing.
// A router trained without out-of-scope examples (the usual case: the
// default expert has none) learns its null expert from them, so that a
// query unlike every expert's data goes to the default expert. They were
// written for moegate and are under the repository's license.
package negatives

import (
	_ "embed"
	"strings"
)

//go:embed negatives.txt
var text string

// Generic returns the generic queries, one per line of negatives.txt.
func Generic() []string {
	return strings.Split(strings.TrimSpace(text), "\n")
}
