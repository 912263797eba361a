package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moegate/moegate/internal/loadgen"
)

func cmdBenchOverhead(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench overhead", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	var cfg loadgen.Config
	fs.DurationVar(&cfg.Duration, "duration", 2*time.Second, "length of each closed-loop and each open-loop `phase`")
	fs.IntVar(&cfg.Reps, "reps", 3, "`repetitions`; setups alternate within each and medians are reported")
	fs.IntVar(&cfg.Conns, "conns", 32, "closed-loop `connections`")
	fs.IntVar(&cfg.Rate, "rate", 1000, "open-loop `requests per second`")
	fs.IntVar(&cfg.Experts, "experts", 10, "`number` of experts behind the gateway")
	fs.StringVar(&cfg.UpstreamURL, "upstream", "", "use the OpenAI-compatible upstream at this `URL` instead of starting the instant one")
	fs.StringVar(&cfg.ProxyURL, "proxy", "", "use the reverse proxy at this `URL` instead of starting one")
	only := fs.String("only", "", "comma-separated `substrings`: run only the setups whose names contain one (the upstream baselines always run)")
	fs.StringVar(&cfg.ProfileDir, "profile", "", "write a CPU profile and, when it stops, a heap profile of each gateway into `directory` (go tool pprof -top gateway DIR/moegate.pprof; DIR/moegate.heap)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	quiet := fs.Bool("q", false, "no progress on stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway bench overhead [flags]

Measures what a caller pays for moegate over a plain reverse proxy, through
real HTTP on loopback. It starts, each as its own process: an instant
OpenAI-compatible upstream, the standard library's reverse proxy in front of
it, and this gateway binary (in-memory cache on, and off) with the given
number of experts on that upstream. Each setup (upstream alone, proxy,
moegate by expert name, moegate with model "auto", with the cache off,
streaming) is driven by a closed-loop generator (saturated throughput; CPU
of the serving process per request from /proc) and an open-loop generator at
a fixed rate (latency from each request's due time), alternating setups in
every repetition. Added latency is against the upstream alone in the same
repetition. A second table sets each gateway setup against the proxy of its
kind (streaming or not): CPU per request and saturated RPS as ratios, added
p99 as a difference, each the median of the repetitions' own. The machine's
load average and, on a virtual machine, the share of CPU time its
hypervisor took during the phases (steal) are printed: on a shared machine,
compare rows of one run, not runs.

The gateways inherit the environment, so MOEGATE_* variables configure
them: MOEGATE_ROUTER_FEATURES=ngrams measures the cheaper router,
MOEGATE_CACHE_SEMANTIC_THRESHOLD=2 a cache of exact matches only.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	var err error
	if cfg.Binary, cfg.Log, err = benchProcess(*quiet); err != nil {
		return err
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	return writeReport(rep, *asJSON, rep.WriteTable)
}

// benchProcess returns what a benchmark that starts this binary's
// processes needs: the binary, and where its progress goes (nil when
// quiet).
func benchProcess(quiet bool) (binary string, log io.Writer, err error) {
	if binary, err = os.Executable(); err != nil {
		return "", nil, err
	}
	if !quiet {
		log = os.Stderr
	}
	return binary, log, nil
}

// writeReport prints a benchmark's report on stdout: indented JSON, or
// its table.
func writeReport(rep any, asJSON bool, table func(io.Writer) error) error {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return table(os.Stdout)
}

func cmdBenchUpstream(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench upstream", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	addr := fs.String("addr", "127.0.0.1:8090", "listen `address`")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gateway bench upstream [flags]\n\nServes an instant OpenAI-compatible /v1/chat/completions (JSON or SSE) for benchmarks.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serveUntilDone(ctx, *addr, loadgen.Upstream())
}

func cmdBenchProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench proxy", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	addr := fs.String("addr", "127.0.0.1:8091", "listen `address`")
	target := fs.String("target", "", "`URL` to proxy to (required)")
	conns := fs.Int("conns", 32, "idle upstream `connections` to keep")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gateway bench proxy [flags]\n\nA trivial reverse proxy (net/http/httputil) for comparison with the gateway.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--target: %q is not a URL", *target)
	}
	return serveUntilDone(ctx, *addr, loadgen.Proxy(u, *conns))
}

func serveUntilDone(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ErrorLog: nil}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func cmdBenchInstructions(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench instructions", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	var cfg loadgen.InstructionsConfig
	fs.IntVar(&cfg.Requests, "requests", 300, "measured `requests` per path")
	fs.IntVar(&cfg.Warm, "warm", 100, "routed warm-up `requests` (half as many streamed and by name)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "the questions' `seed`: the same seed asks the same questions, so two builds can be compared")
	fs.IntVar(&cfg.Experts, "experts", 10, "`number` of experts behind the gateway")
	fs.StringVar(&cfg.Valgrind, "valgrind", "valgrind", "the valgrind `command`")
	routes := fs.String("routes", "", "write each measured routed and streamed answer's route object, a line each, to `file` (to compare two builds' decisions)")
	fs.StringVar(&cfg.Keep, "keep", "", "keep the callgrind dumps (auto.out, stream.out, byname.out) in `directory`, for callgrind_annotate")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	quiet := fs.Bool("q", false, "no progress on stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: gateway bench instructions [flags]

Counts the instructions this gateway binary executes per request, under
valgrind's callgrind, over real HTTP on loopback: it starts the instant
OpenAI-compatible upstream and the gateway (cache on, the given number of
experts, as bench overhead does) with garbage collection off, warms it up,
then counts routed ("auto"), streamed and by-name requests, each path a
separate set of never-seen questions. Instruction counts do not depend on
the machine's load: they measure changes of a few percent that CPU time in
bench overhead cannot resolve. Needs valgrind (Debian: apt-get install
valgrind); the gateway runs about 50 times slower under it.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if cfg.Binary, cfg.Log, err = benchProcess(*quiet); err != nil {
		return err
	}
	var routesFile *os.File
	var routesBuf *bufio.Writer
	if *routes != "" {
		if routesFile, err = os.Create(*routes); err != nil {
			return err
		}
		defer routesFile.Close()
		routesBuf = bufio.NewWriter(routesFile)
		cfg.Routes = routesBuf
	}
	rep, err := loadgen.Instructions(ctx, cfg)
	if err != nil {
		return err
	}
	if routesBuf != nil {
		// A routes file cut short would compare as other decisions.
		if err := routesBuf.Flush(); err != nil {
			return fmt.Errorf("write %s: %w", *routes, err)
		}
		if err := routesFile.Close(); err != nil {
			return fmt.Errorf("write %s: %w", *routes, err)
		}
	}
	return writeReport(rep, *asJSON, rep.WriteTable)
}
