#!/usr/bin/env bash
# Compares the engine with llama.cpp on files written by `gateway modelgen`,
# where llama.cpp is installed (it is a measurement tool, not a test
# dependency: CI never runs this). LLAMACPP_RUN is the command that runs a
# llama.cpp tool by name: default env, i.e. llama-bench and the others from
# PATH; the figures in the README came from a wrapper running Debian sid's
# llama.cpp 0.7.0 (build 11669) with sid's own glibc on Debian 12.
#
#   scripts/llamacpp-compare.sh golden   # rewrite engine/model/testdata/llamacpp-greedy.json
#   scripts/llamacpp-compare.sh embed    # rewrite engine/testdata/llamacpp-embed.json
#   scripts/llamacpp-compare.sh benchcpu [tiny|large] [TYPES] [THREADS]  # tokens per CPU second (robust to load), default one thread
#   scripts/llamacpp-compare.sh bench [TYPES]  # speed table (llama-bench default backend, haswell vs gateway bench local) into $BENCH_OUT
#
# The haswell (AVX2) CPU backend is forced with a private mount namespace
# (unshare -m, root) that hides every other backend variant; where haswell
# is the variant llama.cpp picks anyway (an AVX2 CPU without AVX-512) it runs once.
set -euo pipefail
case "${1:-}" in
golden | embed | benchcpu | bench) ;;
-h | --help)
	sed -n '2,16s/^# \{0,1\}//p' "$0"
	exit 0
	;;
*)
	sed -n '2,16s/^# \{0,1\}//p' "$0" >&2
	exit 2
	;;
esac
cd "$(dirname "$0")/.."
RUN=${LLAMACPP_RUN:-env}
BACKENDS=/usr/lib/x86_64-linux-gnu/ggml/backends0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/gateway" ./cmd/gateway
mkdir "$tmp/haswell" && cp "$BACKENDS/libggml-cpu-haswell.so" "$tmp/haswell/"

case "${1:-}" in
golden)
	python3 scripts/llamacpp-golden.py "$tmp/gateway" "$RUN" engine/model/testdata/llamacpp-greedy.json
	;;
embed)
	python3 scripts/llamacpp-embed.py "$tmp/gateway" "$RUN" engine/testdata/llamacpp-embed.json
	;;
benchcpu)
	shift
	python3 scripts/llamacpp-benchcpu.py "$tmp/gateway" "$RUN" "$tmp/haswell" "${BENCH_OUT:-llamacpp-benchcpu.md}" "$@"
	cat "${BENCH_OUT:-llamacpp-benchcpu.md}"
	;;
bench)
	shift
	python3 scripts/llamacpp-bench.py "$tmp/gateway" "$RUN" "$tmp/haswell" "${BENCH_OUT:-llamacpp-bench.md}" "$@"
	cat "${BENCH_OUT:-llamacpp-bench.md}"
	;;
*)
	echo "usage: $0 golden|embed|benchcpu|bench" >&2
	exit 2
	;;
esac
