#!/usr/bin/env bash
# Compares the engine with llama.cpp on files written by `gateway modelgen`,
# where llama.cpp is installed (it is a measurement tool, not a test
# dependency: CI never runs this). LLAMACPP_RUN is the command that runs a
# llama.cpp tool by name (default /work/llamacpp/run.sh, a wrapper running
# Debian sid's llama.cpp 0.7.0 with its own glibc).
#
#   scripts/llamacpp-compare.sh golden   # rewrite engine/model/testdata/llamacpp-greedy.json
#   scripts/llamacpp-compare.sh embed    # rewrite engine/testdata/llamacpp-embed.json
#   scripts/llamacpp-compare.sh bench    # speed table: llama-bench (zen4, haswell) vs gateway bench local
#
# The haswell (AVX2) CPU backend is forced with a private mount namespace
# (unshare -m, root) that hides every other backend variant.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${LLAMACPP_RUN:-/work/llamacpp/run.sh}
BACKENDS=/usr/lib/x86_64-linux-gnu/ggml/backends0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/gateway" ./cmd/gateway
mkdir "$tmp/haswell" && cp "$BACKENDS/libggml-cpu-haswell.so" "$tmp/haswell/"

haswell() { unshare -m sh -c "mount --bind $tmp/haswell $BACKENDS && exec \"\$@\"" sh "$@"; }

case "${1:-}" in
golden)
	python3 scripts/llamacpp-golden.py "$tmp/gateway" "$RUN" engine/model/testdata/llamacpp-greedy.json
	;;
*)
	echo "usage: $0 golden|embed|bench" >&2
	exit 2
	;;
esac
