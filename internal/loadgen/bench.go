// Package loadgen measures what a caller of moegate pays over a plain
// reverse proxy: it starts an instant OpenAI-compatible upstream, the
// standard library's reverse proxy and the gateway in several setups, each
// as its own process, drives them with closed- and open-loop load over real
// HTTP and reports throughput, CPU per request, added latency and memory.
package loadgen

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moegate/moegate/internal/units"
)

// Config says what to run and for how long. Zero values take the defaults
// beside them.
type Config struct {
	// Binary is the gateway executable; the upstream, the proxy and each
	// gateway run as children of it so /proc gives each its own CPU and RSS.
	Binary   string
	Duration time.Duration // 2s per closed-loop and per open-loop phase
	Reps     int           // 3: setups alternate, medians are reported
	Conns    int           // 32 closed-loop connections
	Rate     int           // 1000 open-loop requests per second
	Experts  int           // 10 experts behind the gateway
	// UpstreamURL and ProxyURL use running servers instead of starting
	// them (their CPU and RSS are then not reported).
	UpstreamURL string
	ProxyURL    string
	// Only runs the setups whose names contain one of these strings.
	Only []string
	// ProfileDir, when set, receives a CPU profile of each gateway
	// (moegate.pprof, moegate-nocache.pprof) and the heap each keeps when
	// it stops (moegate.heap, moegate-nocache.heap).
	ProfileDir string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

func (c *Config) setDefaults() {
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	if c.Reps <= 0 {
		c.Reps = 3
	}
	if c.Conns <= 0 {
		c.Conns = 32
	}
	if c.Rate <= 0 {
		c.Rate = 1000
	}
	if c.Experts <= 0 {
		c.Experts = 10
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Row is one setup's medians.
type Row struct {
	Setup  string `json:"setup"`
	System string `json:"system"` // upstream | proxy | moegate
	Stream bool   `json:"stream"`
	// Closed loop, Conns connections.
	RPS         float64 `json:"saturated_rps"`
	CPUus       float64 `json:"cpu_us_per_request"` // -1: not measured
	CPUusAtRate float64 `json:"cpu_us_per_request_at_rate"`
	Rate        float64 `json:"open_loop_achieved_rps"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	AddedP50ms  float64 `json:"added_p50_ms"`
	AddedP99ms  float64 `json:"added_p99_ms"`
	RSSMB       float64 `json:"rss_mb"` // -1: not measured
	Errors      int     `json:"errors"`
	// ErrorReasons counts the errors by what went wrong (a status and
	// the start of its body, or the client's error).
	ErrorReasons map[string]int `json:"error_reasons,omitempty"`
	Requests     int            `json:"requests"`
	BaselineName string         `json:"baseline"`
	// VsProxy compares a gateway setup with the reverse proxy of the
	// same kind (streaming or not) run beside it; nil for the upstream
	// and the proxy, or when the proxy did not run.
	VsProxy *Comparison `json:"vs_proxy,omitempty"`
}

// Comparison is a gateway setup against the reverse proxy: the median over
// repetitions of each repetition's ratio or difference, the two having run
// in the same repetition (a median of ratios, not a ratio of medians,
// so that one slow phase of either does not pair with a fast one of the
// other).
type Comparison struct {
	// CPU is the gateway's CPU per request over the proxy's (closed
	// loop); -1 when either process was not measured.
	CPU float64 `json:"cpu_ratio"`
	// RPS is the gateway's saturated throughput over the proxy's.
	RPS float64 `json:"rps_ratio"`
	// P99ms is how much more the gateway adds to p99 at the open-loop
	// rate than the proxy does.
	P99ms float64 `json:"p99_excess_ms"`
}

// Report is a whole run.
type Report struct {
	Duration string `json:"duration_per_phase"`
	Reps     int    `json:"reps"`
	Conns    int    `json:"conns"`
	Rate     int    `json:"rate"`
	Experts  int    `json:"experts"`
	CPUs     int    `json:"cpus"`
	Load     string `json:"load_before"`
	LoadEnd  string `json:"load_after"`
	// Steal is the share of the machine's CPU time its hypervisor gave
	// to other guests during the phases, in percent; -1 where the
	// kernel does not say (not Linux). On a virtual machine, steal of a
	// few percent makes p99 and CPU per request noisy.
	Steal float64 `json:"steal_percent"`
	Rows  []Row   `json:"rows"`
}

type setup struct {
	name     string
	system   string
	stream   bool
	baseline string
	proc     *proc
	tgt      *target
	closed   []sample
	open     []sample
	cpu      []float64
	cpuOpen  []float64
}

// Run starts everything, measures, stops everything and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("profile directory: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "moegate-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	start := func(name string, env []string, args ...string) (*proc, error) {
		p, err := startProc(ctx, cfg.Binary, filepath.Join(dir, name), env, args...)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, p)
		return p, nil
	}

	rep := &Report{Duration: cfg.Duration.String(), Reps: cfg.Reps, Conns: cfg.Conns, Rate: cfg.Rate, Experts: cfg.Experts,
		CPUs: numCPU(), Load: loadavg()}

	var upProc, proxyProc *proc
	upURL := strings.TrimRight(cfg.UpstreamURL, "/")
	if upURL == "" {
		fmt.Fprintln(cfg.Log, "starting the instant upstream")
		if upProc, err = start("upstream", nil, "bench", "upstream", "--addr", "ADDR"); err != nil {
			return nil, err
		}
		upURL = upProc.url
	}
	proxyURL := strings.TrimRight(cfg.ProxyURL, "/")
	if proxyURL == "" {
		fmt.Fprintln(cfg.Log, "starting the reverse proxy")
		if proxyProc, err = start("proxy", nil, "bench", "proxy", "--addr", "ADDR", "--target", upURL, "--conns", strconv.Itoa(cfg.Conns)); err != nil {
			return nil, err
		}
		proxyURL = proxyProc.url
	}
	specs, gwEnv := gatewaySetup(cfg.Experts, upURL)
	wanted := func(name string) bool {
		return len(cfg.Only) == 0 || slices.ContainsFunc(cfg.Only, func(o string) bool { return strings.Contains(name, o) })
	}
	// Each gateway starts only when a chosen setup needs it.
	gateway := func(name string, env ...string) (*proc, error) {
		fmt.Fprintf(cfg.Log, "starting %s\n", name)
		args := []string{"serve", "--addr", "ADDR", "--data-dir", filepath.Join(dir, name+"-data")}
		if cfg.ProfileDir != "" {
			args = append(args, "--cpuprofile", filepath.Join(cfg.ProfileDir, name+".pprof"),
				"--memprofile", filepath.Join(cfg.ProfileDir, name+".heap"))
		}
		g, err := start(name, append(slices.Clone(gwEnv), env...), args...)
		if err != nil {
			return nil, err
		}
		if err := waitRouted(ctx, g.url, specs, 120*time.Second); err != nil {
			return nil, fmt.Errorf("%w\n%s", err, g.logTail())
		}
		return g, nil
	}
	var gw, gwNoCache *proc
	if wanted("moegate by name") || wanted("moegate auto") || wanted("moegate auto, stream") {
		if gw, err = gateway("moegate"); err != nil {
			return nil, err
		}
	}
	if wanted("moegate auto, cache off") {
		if gwNoCache, err = gateway("moegate-nocache", "MOEGATE_CACHE_ENABLED=false"); err != nil {
			return nil, err
		}
	}

	// Every request asks a new question, as real traffic does: a
	// benchmark that repeats itself measures the response cache.
	bodies := func(model string, stream bool) func() []byte {
		return func() []byte { return chatBody(globalRand{}, specs, model, stream) }
	}
	chat := "/v1/chat/completions"
	url := func(p *proc, fallback string) string {
		if p == nil {
			return fallback + chat
		}
		return p.url + chat
	}
	all := []*setup{
		{name: "upstream alone", system: "upstream", proc: upProc, tgt: &target{url: upURL + chat, body: bodies("auto", false)}},
		{name: "reverse proxy", system: "proxy", baseline: "upstream alone", proc: proxyProc, tgt: &target{url: proxyURL + chat, body: bodies("auto", false)}},
		{name: "moegate by name", system: "moegate", baseline: "upstream alone", proc: gw, tgt: &target{url: url(gw, ""), body: bodies(specs[0].Name, false)}},
		{name: "moegate auto", system: "moegate", baseline: "upstream alone", proc: gw, tgt: &target{url: url(gw, ""), body: bodies("auto", false)}},
		{name: "moegate auto, cache off", system: "moegate", baseline: "upstream alone", proc: gwNoCache, tgt: &target{url: url(gwNoCache, ""), body: bodies("auto", false)}},
		{name: "upstream alone, stream", system: "upstream", stream: true, proc: upProc, tgt: &target{url: upURL + chat, body: bodies("auto", true)}},
		{name: "reverse proxy, stream", system: "proxy", stream: true, baseline: "upstream alone, stream", proc: proxyProc, tgt: &target{url: proxyURL + chat, body: bodies("auto", true)}},
		{name: "moegate auto, stream", system: "moegate", stream: true, baseline: "upstream alone, stream", proc: gw, tgt: &target{url: url(gw, ""), body: bodies("auto", true)}},
	}
	var setups []*setup
	for _, s := range all {
		if s.system == "upstream" || wanted(s.name) {
			setups = append(setups, s)
		}
	}

	closedClient := newClient(cfg.Conns)
	openClient := newClient(max(cfg.Conns, cfg.Rate/10))
	warm := min(cfg.Duration/2, time.Second)
	for _, s := range setups {
		fmt.Fprintf(cfg.Log, "warming up %s\n", s.name)
		closedLoop(ctx, closedClient, s.tgt, cfg.Conns, warm)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	stat0 := readCPUTimes()
	// Setups alternate within each repetition, so a noisy neighbour on
	// the machine hurts them all alike.
	for r := range cfg.Reps {
		for _, s := range setups {
			c0 := s.proc.cpu()
			smp := closedLoop(ctx, closedClient, s.tgt, cfg.Conns, cfg.Duration)
			s.closed = append(s.closed, smp)
			s.cpu = append(s.cpu, perRequest(s.proc.cpu()-c0, smp.n+smp.errors))
			fmt.Fprintf(cfg.Log, "rep %d closed  %-26s %8.0f rps  %d errors\n", r+1, s.name, smp.rps(), smp.errors)
		}
		for _, s := range setups {
			c0 := s.proc.cpu()
			smp := openLoop(ctx, openClient, s.tgt, cfg.Rate, cfg.Duration)
			s.open = append(s.open, smp)
			s.cpuOpen = append(s.cpuOpen, perRequest(s.proc.cpu()-c0, smp.n+smp.errors))
			fmt.Fprintf(cfg.Log, "rep %d open    %-26s p50 %6.2f ms  p99 %7.2f ms  %d errors\n", r+1, s.name, units.MS(smp.pct(0.5)), units.MS(smp.pct(0.99)), smp.errors)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}

	byName := map[string]*setup{}
	for _, s := range setups {
		byName[s.name] = s
	}
	for _, s := range setups {
		row := Row{Setup: s.name, System: s.system, Stream: s.stream, BaselineName: s.baseline, CPUus: -1, CPUusAtRate: -1, RSSMB: -1}
		row.RPS = median(s.closed, func(x sample) float64 { return x.rps() })
		row.Rate = median(s.open, func(x sample) float64 { return x.rps() })
		row.P50ms = median(s.open, func(x sample) float64 { return units.MS(x.pct(0.5)) })
		row.P99ms = median(s.open, func(x sample) float64 { return units.MS(x.pct(0.99)) })
		for _, x := range append(slices.Clone(s.closed), s.open...) {
			row.Errors += x.errors
			row.Requests += x.n + x.errors
			for r, n := range x.reasons {
				if row.ErrorReasons == nil {
					row.ErrorReasons = map[string]int{}
				}
				row.ErrorReasons[r] += n
			}
		}
		if s.proc != nil {
			row.CPUus = medianF(s.cpu)
			row.CPUusAtRate = medianF(s.cpuOpen)
			row.RSSMB = s.proc.rssMB()
		}
		if b := byName[s.baseline]; b != nil {
			// Added latency is taken per repetition, against the upstream
			// measured in the same repetition.
			row.AddedP50ms = medianF(latencyDiffs(s.open, b.open, 0.5))
			row.AddedP99ms = medianF(latencyDiffs(s.open, b.open, 0.99))
		}
		if s.system == "moegate" {
			row.VsProxy = compare(s, setups)
		}
		rep.Rows = append(rep.Rows, row)
	}
	rep.Steal = readCPUTimes().stealSince(stat0)
	rep.LoadEnd = loadavg()
	return rep, nil
}

// compare returns s against the proxy setup of its kind, nil when
// none ran.
func compare(s *setup, setups []*setup) *Comparison {
	i := slices.IndexFunc(setups, func(p *setup) bool { return p.system == "proxy" && p.stream == s.stream })
	if i < 0 {
		return nil
	}
	p := setups[i]
	measured := s.proc != nil && p.proc != nil
	var cpu, rps []float64
	for r := range s.closed {
		if measured && p.cpu[r] > 0 {
			cpu = append(cpu, s.cpu[r]/p.cpu[r])
		}
		if pr := p.closed[r].rps(); pr > 0 {
			rps = append(rps, s.closed[r].rps()/pr)
		}
	}
	c := &Comparison{CPU: -1, RPS: medianF(rps), P99ms: medianF(latencyDiffs(s.open, p.open, 0.99))}
	if len(cpu) > 0 {
		c.CPU = medianF(cpu)
	}
	return c
}

// latencyDiffs returns, for each repetition, a's latency at percentile
// q minus b's, in ms.
func latencyDiffs(a, b []sample, q float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = units.MS(a[i].pct(q)) - units.MS(b[i].pct(q))
	}
	return d
}

func perRequest(cpu time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}

func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return medianF(v)
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// WriteTable prints r as an aligned table.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "moegate overhead: %s per phase, %d reps (medians), %d closed-loop connections, open loop at %d req/s, %d experts, %d CPUs\nload average before: %s; after: %s; CPU time stolen by the hypervisor during the phases: %s\n\n",
		r.Duration, r.Reps, r.Conns, r.Rate, r.Experts, r.CPUs, r.Load, r.LoadEnd, opt(r.Steal, "%.1f%%"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "setup\tsaturated RPS\tCPU µs/req\tCPU µs/req @rate\tachieved RPS\tp50 ms\tp99 ms\tadded p50 ms\tadded p99 ms\tRSS MB\terrors\t\n")
	for _, row := range r.Rows {
		added50, added99 := "-", "-"
		if row.BaselineName != "" {
			added50, added99 = fmt.Sprintf("%+.2f", row.AddedP50ms), fmt.Sprintf("%+.2f", row.AddedP99ms)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%.0f\t%.2f\t%.2f\t%s\t%s\t%s\t%d\t\n", row.Setup, row.RPS, opt(row.CPUus, "%.0f"), opt(row.CPUusAtRate, "%.0f"),
			row.Rate, row.P50ms, row.P99ms, added50, added99, opt(row.RSSMB, "%.0f"), row.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := r.writeComparisons(w); err != nil {
		return err
	}
	// What failed, most frequent first, so a run with errors says why.
	for _, row := range r.Rows {
		reasons := slices.Collect(maps.Keys(row.ErrorReasons))
		slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(row.ErrorReasons[b]-row.ErrorReasons[a], strings.Compare(a, b)) })
		for i, why := range reasons {
			if i == 5 {
				fmt.Fprintf(w, "errors of %s: %d other reasons\n", row.Setup, len(reasons)-i)
				break
			}
			fmt.Fprintf(w, "errors of %s: %d× %s\n", row.Setup, row.ErrorReasons[why], why)
		}
	}
	return nil
}

// writeComparisons prints the gateway setups against the proxy, when it
// ran.
func (r *Report) writeComparisons(w io.Writer) error {
	var rows []Row
	for _, row := range r.Rows {
		if row.VsProxy != nil {
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nagainst the reverse proxy (median of each repetition's):\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "setup\tCPU/req ÷ proxy\tsaturated RPS ÷ proxy\tadded p99 − proxy's ms\t\n")
	for _, row := range rows {
		c := row.VsProxy
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%+.2f\t\n", row.Setup, opt(c.CPU, "%.2f"), c.RPS, c.P99ms)
	}
	return tw.Flush()
}

func opt(v float64, format string) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuTimes are the machine's CPU times from /proc/stat, in clock ticks:
// all of them, and those stolen by the hypervisor.
type cpuTimes struct {
	total, steal uint64
	ok           bool
}

func readCPUTimes() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	return parseCPUTimes(string(b))
}

// parseCPUTimes reads the first line of /proc/stat: "cpu" and the ticks
// spent in user, nice, system, idle, iowait, irq, softirq, steal (and
// guest times, which user and nice already count).
func parseCPUTimes(stat string) cpuTimes {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}
	}
	var t cpuTimes
	for i, v := range f[1:9] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuTimes{}
		}
		t.total += n
		if i == 7 {
			t.steal = n
		}
	}
	t.ok = true
	return t
}

// stealSince returns the share of the CPU time since t0 that was stolen,
// in percent; -1 when either reading failed or no time passed.
func (t cpuTimes) stealSince(t0 cpuTimes) float64 {
	if !t.ok || !t0.ok || t.total <= t0.total || t.steal < t0.steal {
		return -1
	}
	return 100 * float64(t.steal-t0.steal) / float64(t.total-t0.total)
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// expertSpec is the part of an expert spec the benchmark sets.
type expertSpec struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	BaseURL     string   `json:"base_url"`
	Model       string   `json:"model"`
	Description string   `json:"description"`
	Examples    []string `json:"examples"`
	words       []string
}

var domains = []struct{ name, words string }{
	{"banking", "account loan mortgage interest deposit overdraft credit card transfer savings bank statement"},
	{"medicine", "symptom fever diagnosis treatment dose prescription allergy infection doctor blood pressure"},
	{"law", "contract lawsuit court tenant lease liability attorney clause statute appeal verdict"},
	{"cooking", "recipe bake oven flour sauce simmer garlic roast knead dough spice"},
	{"travel", "flight hotel passport visa luggage itinerary airport booking beach train tour"},
	{"sports", "football match score league goal coach tournament referee training marathon team"},
	{"astronomy", "planet star galaxy telescope orbit comet nebula eclipse moon asteroid cosmos"},
	{"programming", "function compiler variable loop golang python debug pointer array recursion api"},
	{"gardening", "soil seed compost prune tomato fertilizer roses weeds mulch sprout watering"},
	{"music", "guitar chord melody piano rhythm tempo scale song concert violin harmony"},
}

func expertSpecs(n int, upstream string) []expertSpec {
	var out []expertSpec
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range n {
		d := domains[i%len(domains)]
		name := d.name
		if i >= len(domains) {
			name = fmt.Sprintf("%s-%d", d.name, i/len(domains))
		}
		s := expertSpec{Name: name, Kind: "openai", BaseURL: upstream, Model: "instant",
			Description: "questions about " + d.name, words: strings.Fields(d.words)}
		for range 12 {
			s.Examples = append(s.Examples, sentence(rng, s.words, 6))
		}
		out = append(out, s)
	}
	return out
}

var filler = strings.Fields("how what why when can should does is the a my our about with for to of in on please explain help me tell need best way")

// sentence mixes domain words and filler into a question.
func sentence(rng *rand.Rand, words []string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i%2 == 0 {
			b.WriteString(filler[rng.IntN(len(filler))])
		} else {
			b.WriteString(words[rng.IntN(len(words))])
		}
	}
	b.WriteByte('?')
	return b.String()
}

// randSource is what chatBody draws from: math/rand/v2's top-level
// functions, safe for the load generators' goroutines (globalRand), or a
// seeded *rand.Rand, so that two builds are asked the same questions.
type randSource interface {
	IntN(n int) int
	Uint64() uint64
}

type globalRand struct{}

func (globalRand) IntN(n int) int { return rand.IntN(n) }
func (globalRand) Uint64() uint64 { return rand.Uint64() }

// chatBody returns a request with a question never asked before, about one
// of the experts' domains, different enough from the others that the
// semantic cache rarely answers it (as with real traffic).
func chatBody(r randSource, specs []expertSpec, model string, stream bool) []byte {
	s := specs[r.IntN(len(specs))]
	b := make([]byte, 0, 256)
	b = append(b, `{"model":"`...)
	b = append(b, model...)
	b = append(b, `","messages":[{"role":"user","content":"`...)
	for i := range 12 {
		if i > 0 {
			b = append(b, ' ')
		}
		if i%3 == 0 {
			b = append(b, s.words[r.IntN(len(s.words))]...)
		} else {
			b = append(b, filler[r.IntN(len(filler))]...)
		}
	}
	b = append(b, " (ref "...)
	b = strconv.AppendUint(b, r.Uint64(), 36)
	b = append(b, `)?"}]`...)
	if stream {
		b = append(b, `,"stream":true`...)
	}
	return append(b, '}')
}

// gatewaySetup returns the benchmark's n experts on the upstream at upURL
// and the environment that configures a gateway with them. The default
// expert, which answers what fits no domain, is on the instant upstream
// too: the local engine would otherwise generate text for those requests,
// and its cost is not the gateway's.
func gatewaySetup(n int, upURL string) ([]expertSpec, []string) {
	specs := expertSpecs(n, upURL)
	general := expertSpec{Name: "general", Kind: "openai", BaseURL: upURL, Model: "instant", Description: "anything else"}
	specJSON, _ := json.Marshal(append(slices.Clone(specs), general))
	return specs, []string{"MOEGATE_EXPERTS=" + string(specJSON), "MOEGATE_DEFAULT_EXPERT=general"}
}

// waitRouted waits until the gateway is ready and its router routes a
// domain question to a domain expert (it trains in the background).
func waitRouted(ctx context.Context, base string, specs []expertSpec, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	body, _ := json.Marshal(map[string]any{"model": "auto", "messages": []map[string]string{{"role": "user", "content": strings.Join(specs[0].words, " ")}}})
	last := "not ready"
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(string(body)))
		if err == nil {
			var out struct {
				Moegate struct {
					Route struct {
						Default bool `json:"default"`
					} `json:"route"`
				} `json:"moegate"`
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &out) == nil && !out.Moegate.Route.Default {
				return nil
			}
			last = fmt.Sprintf("status %d: %.300s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("gateway at %s did not route within %s: %s", base, limit, last)
}
