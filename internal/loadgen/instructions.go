package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// InstructionsConfig sets up an instructions benchmark: the gateway under
// callgrind, with the overhead benchmark's experts and questions.
type InstructionsConfig struct {
	Binary   string // the gateway binary (started as "serve" and "bench upstream")
	Valgrind string // default "valgrind"; callgrind_control is looked up beside it, then on PATH
	Requests int    // measured requests per path, default 300
	Warm     int    // routed warm-up requests (half as many streamed and by name); none when 0
	Seed     uint64 // the questions' seed, default 1: the same seed asks the same questions
	Experts  int    // default 10
	// Routes, when set, receives each measured routed and streamed
	// answer's route object, a line each, to compare two builds' decisions.
	Routes io.Writer
	// Keep, when set, is a directory for the callgrind dumps
	// (auto.out, stream.out, byname.out) for callgrind_annotate.
	Keep string
	Log  io.Writer
}

func (c *InstructionsConfig) setDefaults() {
	if c.Valgrind == "" {
		c.Valgrind = "valgrind"
	}
	if c.Requests <= 0 {
		c.Requests = 300
	}
	c.Warm = max(c.Warm, 0)
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Experts <= 0 {
		c.Experts = 10
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// InstructionsRow is one path's instructions per request.
type InstructionsRow struct {
	Path         string  `json:"path"` // auto | stream | byname
	Requests     int     `json:"requests"`
	Instructions float64 `json:"instructions_per_request"`
	CacheHits    int     `json:"cache_hits"`
}

// InstructionsReport is the benchmark's result.
type InstructionsReport struct {
	Experts int               `json:"experts"`
	Warm    int               `json:"warm"`
	Seed    uint64            `json:"seed"`
	Rows    []InstructionsRow `json:"rows"`
}

// callgrindEnv makes the gateway's instruction counts repeatable: no
// garbage collection, whose timing would blur them, and no asynchronous
// preemption signals; cpu.rdtscp=off because valgrind 3.19 does not
// decode RDTSCP, which the runtime uses for its clock.
var callgrindEnv = []string{"GOGC=off", "GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off"}

// Instructions counts the instructions the gateway executes per request,
// with callgrind (valgrind), over real loopback HTTP to the instant
// upstream: routed ("auto"), routed and streamed, and by expert name, each
// path after its own warm-up, from the first byte of its first request to
// the end of its last. The counts do not depend on the machine's load,
// which makes them the measure of small changes that CPU time in
// `bench overhead` cannot resolve.
func Instructions(ctx context.Context, cfg InstructionsConfig) (*InstructionsReport, error) {
	cfg.setDefaults()
	valgrind, err := exec.LookPath(cfg.Valgrind)
	if err != nil {
		return nil, fmt.Errorf("valgrind is needed to count instructions (on Debian: apt-get install valgrind): %w", err)
	}
	control, err := exec.LookPath(filepath.Join(filepath.Dir(valgrind), "callgrind_control"))
	if err != nil {
		if control, err = exec.LookPath("callgrind_control"); err != nil {
			return nil, fmt.Errorf("callgrind_control, which comes with valgrind, is needed: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "moegate-instructions-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(cfg.Log, "starting the instant upstream")
	up, err := startProc(ctx, cfg.Binary, filepath.Join(dir, "upstream"), nil, "bench", "upstream", "--addr", "ADDR")
	if err != nil {
		return nil, fmt.Errorf("start upstream: %w", err)
	}
	defer up.stop()
	specs, env := gatewaySetup(cfg.Experts, up.url)
	fmt.Fprintln(cfg.Log, "starting the gateway under callgrind")
	out := filepath.Join(dir, "cg.out")
	gw, err := startProc(ctx, valgrind, filepath.Join(dir, "gateway"), append(env, callgrindEnv...),
		"--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file="+out,
		cfg.Binary, "serve", "--addr", "ADDR", "--data-dir", filepath.Join(dir, "data"))
	if err != nil {
		return nil, fmt.Errorf("start the gateway under valgrind: %w", err)
	}
	defer gw.stop()
	if err := waitRouted(ctx, gw.url, specs, 5*time.Minute); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, gw.logTail())
	}
	pid := strconv.Itoa(gw.cmd.Process.Pid)
	callgrind := func(args ...string) error {
		b, err := exec.CommandContext(ctx, control, append(args, pid)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("callgrind_control %s: %w: %s", strings.Join(args, " "), err, b)
		}
		return nil
	}
	if err := callgrind("-i", "on"); err != nil {
		return nil, err
	}

	paths := []struct {
		name, model string
		stream      bool
	}{{"auto", "auto", false}, {"stream", "auto", true}, {"byname", specs[0].Name, false}}
	c := newClient(1)
	fmt.Fprintf(cfg.Log, "warming up: %d routed, %d streamed and %d by name\n", cfg.Warm, cfg.Warm/2, cfg.Warm/2)
	for i, p := range paths {
		n := cfg.Warm
		if i > 0 {
			n /= 2
		}
		q := rand.New(rand.NewPCG(cfg.Seed+100+uint64(i), questionStream))
		if _, err := askAll(ctx, c, gw.url, q, specs, p.model, p.stream, n, nil, ""); err != nil {
			return nil, fmt.Errorf("warm-up %s: %w", p.name, err)
		}
	}
	rep := &InstructionsReport{Experts: cfg.Experts, Warm: cfg.Warm, Seed: cfg.Seed}
	for i, p := range paths {
		fmt.Fprintf(cfg.Log, "counting %d requests: %s\n", cfg.Requests, p.name)
		var routes io.Writer
		if p.model == "auto" {
			routes = cfg.Routes
		}
		if err := callgrind("-z"); err != nil {
			return nil, err
		}
		q := rand.New(rand.NewPCG(cfg.Seed+uint64(i), questionStream))
		hits, err := askAll(ctx, c, gw.url, q, specs, p.model, p.stream, cfg.Requests, routes, p.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		before, _ := filepath.Glob(out + "*")
		if err := callgrind("-d"); err != nil {
			return nil, err
		}
		dump, total, err := newDump(ctx, out, before)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if cfg.Keep != "" {
			if err := copyFile(dump, filepath.Join(cfg.Keep, p.name+".out")); err != nil {
				return nil, err
			}
		}
		rep.Rows = append(rep.Rows, InstructionsRow{Path: p.name, Requests: cfg.Requests,
			Instructions: float64(total) / float64(cfg.Requests), CacheHits: hits})
	}
	return rep, nil
}

// questionStream is the second word of the questions' PCG seeds.
const questionStream = 0x6d6f6567617465

// askAll sends n questions drawn from q one after the other, each of which
// must be answered 200 with a moegate object; it writes the route object
// of each to routes (when not nil), after label and the question's number,
// and returns how many the cache answered.
func askAll(ctx context.Context, c *http.Client, base string, q randSource, specs []expertSpec, model string, stream bool, n int, routes io.Writer, label string) (hits int, err error) {
	for i := range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions",
			bytes.NewReader(chatBody(q, specs, model, stream)))
		if err != nil {
			return hits, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return hits, fmt.Errorf("request %d: %w", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return hits, fmt.Errorf("request %d: %w", i, err)
		}
		if resp.StatusCode != http.StatusOK {
			return hits, fmt.Errorf("request %d: status %d: %.300s", i, resp.StatusCode, body)
		}
		m, err := moegateOf(body, stream)
		if err != nil {
			return hits, fmt.Errorf("request %d: %w: %.300s", i, err, body)
		}
		if m.Cache.Hit {
			hits++
		}
		if routes != nil {
			if _, err := fmt.Fprintf(routes, "%s %d %s cache=%v\n", label, i, m.Route, m.Cache.Hit); err != nil {
				return hits, err
			}
		}
	}
	return hits, nil
}

// answerInfo is the part of an answer's moegate object the benchmark reads.
type answerInfo struct {
	Route json.RawMessage `json:"route"`
	Cache struct {
		Hit bool `json:"hit"`
	} `json:"cache"`
}

// moegateOf returns the moegate object of a JSON answer or, streamed, of
// the first event that carries one; a stream must end with [DONE].
func moegateOf(body []byte, stream bool) (*answerInfo, error) {
	var v struct {
		Moegate *answerInfo `json:"moegate"`
	}
	if !stream {
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, err
		}
		if v.Moegate == nil {
			return nil, errors.New("no moegate object")
		}
		return v.Moegate, nil
	}
	var m *answerInfo
	done := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		switch {
		case !ok:
		case string(data) == "[DONE]":
			done = true
		case m == nil && bytes.Contains(data, []byte(`"moegate"`)):
			if err := json.Unmarshal(data, &v); err != nil {
				return nil, err
			}
			m = v.Moegate
		}
	}
	switch {
	case !done:
		return nil, errors.New("stream without [DONE]")
	case m == nil:
		return nil, errors.New("stream without a moegate object")
	}
	return m, nil
}

// newDump waits for the dump that callgrind writes beside out after a
// `callgrind_control -d` (files named out.N, not among before) and returns
// it with its total instruction count.
func newDump(ctx context.Context, out string, before []string) (string, int64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		now, _ := filepath.Glob(out + "*")
		for _, f := range now {
			if slices.Contains(before, f) {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return "", 0, err
			}
			if total, ok := callgrindTotal(b); ok {
				return f, total, nil
			}
		}
		if time.Now().After(deadline) {
			return "", 0, errors.New("callgrind wrote no complete dump within 30s")
		}
		select {
		case <-ctx.Done():
			return "", 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// callgrindTotal reads a callgrind dump's total of its first event (Ir)
// from its "totals:" line, the last callgrind writes: ok is false until
// the dump is complete.
func callgrindTotal(dump []byte) (total int64, ok bool) {
	for line := range bytes.Lines(dump) {
		rest, found := bytes.CutPrefix(line, []byte("totals:"))
		if !found {
			continue
		}
		if fields := strings.Fields(string(rest)); len(fields) > 0 {
			n, err := strconv.ParseInt(fields[0], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// WriteTable prints the report as an aligned table.
func (r *InstructionsReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "moegate instructions per request (callgrind): %d experts, %d warm-up requests, questions of seed %d\n\n", r.Experts, r.Warm, r.Seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\trequests\tinstructions/request\tcache hits\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t\n", row.Path, row.Requests, row.Instructions, row.CacheHits)
	}
	return tw.Flush()
}
