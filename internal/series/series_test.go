package series

import (
	"maps"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMemoCountsInTheVectorsChildren(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "h"}, []string{"a", "b"})
	made := 0
	m := New(func(k [2]string) prometheus.Counter {
		made++
		return vec.WithLabelValues(k[0], k[1])
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				m.Get([2]string{"x", []string{"ok", "error"}[(g+i)%2]}).Inc()
			}
		})
	}
	wg.Wait()
	m.Get([2]string{"y", "ok"}).Add(5)
	reg := prometheus.NewRegistry()
	reg.MustRegister(vec)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mt := range families[0].GetMetric() {
		got[mt.GetLabel()[0].GetValue()+","+mt.GetLabel()[1].GetValue()] = mt.GetCounter().GetValue()
	}
	if want := map[string]float64{"x,error": 4000, "x,ok": 4000, "y,ok": 5}; !maps.Equal(got, want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	if made != 3 {
		t.Fatalf("made %d children, want one per key (3)", made)
	}
}
