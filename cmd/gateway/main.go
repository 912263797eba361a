// Command gateway is the moegate LLM gateway: an OpenAI-compatible server
// that routes each query to domain experts, and the tools around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// command is one subcommand; args excludes the subcommand's own name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":       {"run the gateway (default)", cmdServe},
		"generate":    {"generate text with the local MoE engine from a GGUF file", cmdGenerate},
		"modelgen":    {"write small GGUF models with random weights (demo and tests)", cmdModelgen},
		"bench":       {"benchmarks: 'bench local' (MoE engine), 'bench retrieval' (vector index), 'bench overhead' (gateway vs proxy)", cmdBench},
		"route-eval":  {"train a router on one JSONL file and evaluate it on another", cmdRouteEval},
		"router":      {"router tools: 'router train'", cmdRouter},
		"ingest":      {"ingest a folder of text and Markdown files into the retrieval store", cmdIngest},
		"healthcheck": {"probe a running gateway (exit status 0 when ready)", cmdHealthcheck},
		"repair":      {"salvage the retrieval store's log after corruption stopped the gateway", cmdRepair},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, `moegate gateway: an OpenAI-compatible LLM gateway that routes queries to domain experts.

Usage:
  gateway [command] [flags]

Commands:
`)
	for _, name := range []string{"serve", "generate", "modelgen", "bench", "route-eval", "router", "ingest", "healthcheck"} {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", name, commands()[name].summary)
	}
	fmt.Fprintf(os.Stderr, "\nWith no command, serve is run. 'gateway <command> --help' describes each command's flags.\n")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	args := os.Args[1:]
	if helpAsked(args) {
		// Help asked for is the output, not a diagnostic: every command's
		// usage (flag sets print to stderr) goes to stdout.
		os.Stderr = os.Stdout
	}
	name := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "--help" || a == "help":
			usage()
			return
		case len(a) > 0 && a[0] != '-':
			name, args = a, args[1:]
		}
	}
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "gateway: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	if err := cmd.run(ctx, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "gateway %s: %v\n", name, err)
		os.Exit(1)
	}
}

// helpAsked reports whether args ask for help rather than run anything.
func helpAsked(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "-h" || a == "-help" || a == "--help" || (i == 0 && a == "help"):
			return true
		}
	}
	return false
}

// subcommand dispatches to a nested command such as "bench local".
func subcommand(ctx context.Context, parent string, args []string, subs map[string]command) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(os.Stderr, "Usage: gateway %s <command> [flags]\n\nCommands:\n", parent)
		names := slices.Sorted(maps.Keys(subs))
		width := len(slices.MaxFunc(names, func(a, b string) int { return len(a) - len(b) }))
		for _, name := range names {
			fmt.Fprintf(os.Stderr, "  %-*s %s\n", max(width, 10), name, subs[name].summary)
		}
		if len(args) == 0 {
			return fmt.Errorf("missing command")
		}
		return flag.ErrHelp
	}
	c, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.run(ctx, args[1:])
}

func cmdBench(ctx context.Context, args []string) error {
	return subcommand(ctx, "bench", args, map[string]command{
		"local":        {"prompt-processing and generation speed of the local MoE engine", cmdBenchLocal},
		"retrieval":    {"build, recall and query speed of the vector index (embedded and pgvector)", cmdBenchRetrieval},
		"overhead":     {"what moegate adds over a plain reverse proxy, through real HTTP", cmdBenchOverhead},
		"instructions": {"instructions per request under callgrind (valgrind), through real HTTP", cmdBenchInstructions},
		"upstream":     {"serve an instant OpenAI-compatible upstream (for benchmarks)", cmdBenchUpstream},
		"proxy":        {"serve a trivial reverse proxy (for benchmarks)", cmdBenchProxy},
	})
}

func cmdRouter(ctx context.Context, args []string) error {
	return subcommand(ctx, "router", args, map[string]command{
		"train": {"train the learned router from a JSONL file and save it", cmdRouterTrain},
	})
}
