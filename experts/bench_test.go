package experts

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkRegistryRead measures what every request pays to find its
// experts: one snapshot load and a lookup.
func BenchmarkRegistryRead(b *testing.B) {
	r := NewRegistry(NewFileStore(filepath.Join(b.TempDir(), "e.json")), Factory((&testFactory{}).build), nil)
	for i := range 50 {
		if _, err := r.Add(context.Background(), localSpec(fmt.Sprintf("e%02d", i), "")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := r.Snapshot().Get("e25"); !ok {
				b.Fatal("missing")
			}
		}
	})
}

// BenchmarkRegistryAdd measures a persisted change (file store, fsync).
func BenchmarkRegistryAdd(b *testing.B) {
	r := NewRegistry(NewFileStore(filepath.Join(b.TempDir(), "e.json")), Factory((&testFactory{}).build), nil)
	i := 0
	for b.Loop() {
		if _, err := r.Add(context.Background(), localSpec(fmt.Sprintf("e%d", i), "")); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
