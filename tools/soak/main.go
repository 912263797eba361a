// Command soak runs the real gateway binary against upstreams with mixed
// faults at a fixed request rate, with slow clients trickling request
// bodies alongside, and reports lost requests and the gateway's memory. It
// is run by hand (minutes), not in CI:
//
//	go build -o /tmp/gateway ./cmd/gateway
//	go run ./tools/soak --gateway /tmp/gateway --duration 5m --rate 20 --tricklers 500
//
// A request is lost when it gets neither an answer nor a well-formed
// OpenAI error, or when either comes after its deadline (plus a margin).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var modes = []string{"ok", "ok", "ok", "500", "429", "hang", "trickle", "cut", "malformed", "json-for-sse", "html"}

func main() {
	bin := flag.String("gateway", "", "path of the gateway `binary` (required)")
	duration := flag.Duration("duration", 5*time.Minute, "how long to run")
	rate := flag.Float64("rate", 20, "chat requests per second")
	tricklers := flag.Int("tricklers", 500, "connections trickling a request body one byte a second")
	deadline := flag.Duration("deadline", 10*time.Second, "the gateway's request_timeout")
	flag.Parse()
	if *bin == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*bin, *duration, *rate, *tricklers, *deadline); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// upstream answers each request with a fault drawn from modes (or, for a
// healthy one, always well).
func upstream(faulty bool) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Stream bool `json:"stream"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		mode := "ok"
		if faulty {
			mode = modes[rand.N(len(modes))]
		}
		answer := func() {
			if body.Stream {
				w.Header().Set("Content-Type", "text/event-stream")
				for _, word := range []string{"a ", "fine ", "answer"} {
					fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", word)
				}
				fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}\n\ndata: [DONE]\n\n")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"a fine answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`)
		}
		switch mode {
		case "ok":
			answer()
		case "500":
			w.WriteHeader(500)
			fmt.Fprint(w, `{"error":{"message":"boom","type":"server_error"}}`)
		case "429":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"error":{"message":"slow down","type":"rate_limit_error"}}`)
		case "hang":
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
		case "trickle":
			w.WriteHeader(200)
			for i := 0; i < 600; i++ {
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		case "cut":
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
		case "malformed":
			fmt.Fprint(w, `{"choices":[{"message":`)
		case "json-for-sse":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"json"},"finish_reason":"stop"}]}`)
		case "html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>502</html>")
		}
	}))
}

type tally struct {
	mu       sync.Mutex
	byStatus map[string]int
	lost     []string
	lat      []time.Duration
}

func (t *tally) add(key string, d time.Duration, lost string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byStatus[key]++
	t.lat = append(t.lat, d)
	if lost != "" && len(t.lost) < 20 {
		t.lost = append(t.lost, lost)
	}
}

func run(bin string, duration time.Duration, rate float64, tricklers int, deadline time.Duration) error {
	flaky, healthy := upstream(true), upstream(false)
	defer flaky.Close()
	defer healthy.Close()
	dir, err := os.MkdirTemp("", "moegate-soak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`addr: %s
data_dir: %s
log_level: error
request_timeout: %s
default_expert: general
cache: {enabled: false}
server: {read_timeout: 20s, max_in_flight: 512}
experts:
  - {name: general, kind: openai, base_url: %s, model: m}
  - {name: banking, kind: openai, base_url: %s, model: m, fallbacks: [backup], examples: [what is my balance, transfer money]}
  - {name: travel, kind: openai, base_url: %s, model: m, examples: [book a flight, find a hotel]}
  - {name: backup, kind: openai, base_url: %s, model: m}
`, addr, filepath.Join(dir, "data"), deadline, healthy.URL, flaky.URL, flaky.URL, healthy.URL)
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "serve", "--config", filepath.Join(dir, "gateway.yaml"))
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	base := "http://" + addr
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("gateway not ready:\n%s", logs.String())
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var maxRSS, lastRSS atomic.Int64
	go func() {
		for ctx.Err() == nil {
			if kb := rssKB(cmd.Process.Pid); kb > 0 {
				lastRSS.Store(kb)
				if kb > maxRSS.Load() {
					maxRSS.Store(kb)
				}
			}
			time.Sleep(time.Second)
		}
	}()

	// Slow clients: each trickles a body a byte a second and reconnects
	// when the server cuts it off.
	var trickleCuts atomic.Int64
	for range tricklers {
		go func() {
			for ctx.Err() == nil {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					time.Sleep(time.Second)
					continue
				}
				fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
				for ctx.Err() == nil {
					if _, err := c.Write([]byte(" ")); err != nil {
						trickleCuts.Add(1)
						break
					}
					time.Sleep(time.Second)
				}
				c.Close()
			}
		}()
	}

	t := &tally{byStatus: map[string]int{}}
	client := &http.Client{Timeout: deadline + 30*time.Second}
	var wg sync.WaitGroup
	queries := []string{"what is my balance", "book a flight", "transfer money please", "find a hotel in rome", "???", "hello"}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	sent := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := rand.N(2) == 0
			model := []string{"auto", "auto", "banking", "travel"}[rand.N(4)]
			agg := []string{"top1", "top1", "parallel-best", "synthesize"}[rand.N(4)]
			body := fmt.Sprintf(`{"model":%q,"stream":%t,"messages":[{"role":"user","content":%q}],"moegate":{"aggregate":%q,"top_k":2}}`, model, stream, queries[rand.N(len(queries))], agg)
			start := time.Now()
			key, lost := ask(client, base, body, stream)
			d := time.Since(start)
			if lost == "" && d > deadline+2*time.Second {
				lost = fmt.Sprintf("answered after %v (deadline %v)", d, deadline)
			}
			if lost != "" {
				key = "LOST"
			}
			t.add(key, d, lost)
		}()
	}
	wg.Wait()
	cancel()

	sort.Slice(t.lat, func(i, j int) bool { return t.lat[i] < t.lat[j] })
	pct := func(p float64) time.Duration { return t.lat[int(p*float64(len(t.lat)-1))] }
	fmt.Printf("soak: %v at %.0f req/s, %d trickling connections (cut and reconnected %d times)\n\n", duration, rate, tricklers, trickleCuts.Load())
	fmt.Printf("| outcome | requests |\n|---|---|\n")
	keys := make([]string, 0, len(t.byStatus))
	for k := range t.byStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("| %s | %d |\n", k, t.byStatus[k])
	}
	fmt.Printf("\nsent %d, lost %d\nlatency p50 %v, p99 %v, max %v\ngateway RSS: max %d MB, at the end %d MB\n", sent, t.byStatus["LOST"], pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), t.lat[len(t.lat)-1].Round(time.Millisecond), maxRSS.Load()/1024, lastRSS.Load()/1024)
	// The tail is a few dozen requests that waited out a hung upstream's
	// attempt before a fallback answered: p99 moves by seconds when their
	// number crosses 1%, so they are counted.
	over := func(d time.Duration) int {
		return len(t.lat) - sort.Search(len(t.lat), func(i int) bool { return t.lat[i] > d })
	}
	fmt.Printf("slower than 100 ms: %d, 1 s: %d, 4 s: %d\n", over(100*time.Millisecond), over(time.Second), over(4*time.Second))
	for _, l := range t.lost {
		fmt.Println("lost:", l)
	}
	if t.byStatus["LOST"] > 0 {
		return fmt.Errorf("%d requests lost", t.byStatus["LOST"])
	}
	return nil
}

// ask sends one request and classifies its outcome: "200 answer", "NNN
// code" for a well-formed error, or a reason it was lost.
func ask(client *http.Client, base, body string, stream bool) (key, lost string) {
	resp, err := client.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return "", "transport: " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e struct {
			Error *struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Code    *string `json:"code"`
			} `json:"error"`
		}
		raw, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(raw, &e) != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
			return "", fmt.Sprintf("status %d without an OpenAI error: %.200s", resp.StatusCode, raw)
		}
		code := ""
		if e.Error.Code != nil {
			code = *e.Error.Code
		}
		return strconv.Itoa(resp.StatusCode) + " " + code, ""
	}
	if !stream {
		var c struct {
			Choices []struct {
				Message struct {
					Content *string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		raw, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(raw, &c) != nil || len(c.Choices) == 0 || c.Choices[0].Message.Content == nil || *c.Choices[0].Message.Content == "" {
			return "", fmt.Sprintf("200 without an answer: %.200s", raw)
		}
		return "200 answer", ""
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 16<<20)
	var content strings.Builder
	done, streamErr := false, ""
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			done = true
			continue
		}
		var ev struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error *struct {
				Code *string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil {
			return "", "malformed SSE event: " + line
		}
		if ev.Error != nil {
			streamErr = "stream error"
			if ev.Error.Code != nil {
				streamErr += " " + *ev.Error.Code
			}
		}
		for _, c := range ev.Choices {
			content.WriteString(c.Delta.Content)
		}
	}
	switch {
	case streamErr != "":
		return "200 " + streamErr, "" // cut after tokens flowed, and said so
	case !done || content.Len() == 0:
		return "", fmt.Sprintf("stream ended without [DONE] or content (%d bytes)", content.Len())
	}
	return "200 stream answer", ""
}

func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
