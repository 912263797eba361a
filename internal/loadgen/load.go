package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// target is one thing to drive: a URL and what makes each request body.
type target struct {
	url  string
	body func() []byte
}

// sample is what one load phase measured.
type sample struct {
	n       int
	errors  int
	reasons map[string]int // errors by what went wrong
	elapsed time.Duration
	lat     []time.Duration // sorted
}

// fail counts an error by its reason.
func (s *sample) fail(err error) {
	s.errors++
	if s.reasons == nil {
		s.reasons = map[string]int{}
	}
	s.reasons[err.Error()]++
}

func (s sample) rps() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.n) / s.elapsed.Seconds()
}

func (s sample) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	i := int(p * float64(len(s.lat)-1))
	return s.lat[i]
}

// newClient returns a keep-alive client that holds up to conns idle
// connections to one host.
func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
		IdleConnTimeout:     90 * time.Second,
	}, Timeout: 60 * time.Second}
}

// do sends one request and reads the whole answer.
func do(ctx context.Context, c *http.Client, t *target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(t.body()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	var head []byte
	if resp.StatusCode != http.StatusOK {
		head, _ = io.ReadAll(io.LimitReader(resp.Body, 160))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode, strings.TrimSpace(string(head))}
	}
	return nil
}

// statusError is an answer other than 200, with the start of its body.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.code, http.StatusText(e.code), e.body)
}

// closedLoop keeps conns requests in flight for d: each connection sends
// the next request when the previous answer is in. Its throughput is the
// target's saturated RPS.
func closedLoop(ctx context.Context, c *http.Client, t *target, conns int, d time.Duration) sample {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	var s sample
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			var bad sample
			for time.Now().Before(stop) && ctx.Err() == nil {
				t0 := time.Now()
				if err := do(ctx, c, t); err != nil {
					bad.fail(err)
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			for r, n := range bad.reasons {
				if s.reasons == nil {
					s.reasons = map[string]int{}
				}
				s.reasons[r] += n
			}
			s.errors += bad.errors
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(all)
	s.n, s.elapsed, s.lat = len(all), time.Since(start), all
	return s
}

// openLoop sends rate requests a second for d whatever the answers do, and
// measures each latency from the moment the request was due, so a target
// that falls behind is charged for the queue it builds (no coordinated
// omission).
func openLoop(ctx context.Context, c *http.Client, t *target, rate int, d time.Duration) sample {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	n := int(float64(rate) * d.Seconds())
	lat := make([]time.Duration, n)
	failed := make([]error, n)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			n = i
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed[i] = do(ctx, c, t)
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	s := sample{elapsed: time.Since(start)}
	for i := range n {
		if failed[i] != nil {
			s.fail(failed[i])
			continue
		}
		s.lat = append(s.lat, lat[i])
	}
	s.n = len(s.lat)
	slices.Sort(s.lat)
	return s
}
