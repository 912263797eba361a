//go:build !unix

package wordnet

// release leaves s be: this system has no madvise.
func release(string) {}
