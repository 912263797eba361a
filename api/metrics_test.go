package api

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// count finds each route and status's series once and counts into them
// from any number of goroutines.
func TestMetricsCount(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				m.count("/a", 200, 0.001)
				m.count("/b", 404, 0.002)
			}
		})
	}
	wg.Wait()
	m.count("/a", 500, 0.003)
	for _, tc := range []struct {
		route, status string
		want          float64
	}{{"/a", "200", 100}, {"/b", "404", 100}, {"/a", "500", 1}, {"/b", "200", 0}} {
		var got dto.Metric
		if err := m.requests.WithLabelValues(tc.route, tc.status).Write(&got); err != nil || got.GetCounter().GetValue() != tc.want {
			t.Errorf("requests %s %s = %v (%v), want %v", tc.route, tc.status, got.GetCounter().GetValue(), err, tc.want)
		}
	}
	for route, want := range map[string]uint64{"/a": 101, "/b": 100} {
		var got dto.Metric
		if err := m.duration.WithLabelValues(route).(prometheus.Histogram).Write(&got); err != nil || got.GetHistogram().GetSampleCount() != want {
			t.Errorf("duration %s: %d samples (%v), want %d", route, got.GetHistogram().GetSampleCount(), err, want)
		}
	}
}
