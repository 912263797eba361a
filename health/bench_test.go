package health

import (
	"errors"
	"fmt"
	"testing"
)

// BenchmarkTracker measures what a breaker adds to each expert call: an
// Allow before it and an Observe after, across 16 experts.
func BenchmarkTracker(b *testing.B) {
	tr := New(Options{})
	names := make([]string, 16)
	for i := range names {
		names[i] = fmt.Sprint("expert", i)
	}
	fail := errors.New("upstream status 500")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			n := names[i%len(names)]
			if tr.Allow(n) {
				var err error
				if i%10 == 0 {
					err = fail
				}
				tr.Observe(n, err)
			}
			i++
		}
	})
}
