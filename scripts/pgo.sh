#!/usr/bin/env bash
# Regenerates cmd/gateway/default.pgo, the CPU profile that `go build` uses
# for profile-guided optimisation of the gateway (every build of
# ./cmd/gateway picks it up). The profile is the gateway's own hot path:
# `gateway bench overhead --only moegate --profile` drives a gateway with the
# cache on (by name, routed, streamed) and one with it off, and their CPU
# profiles are merged. Run it on an otherwise idle machine after changes to
# the hot path.
#
#   scripts/pgo.sh          # 15 s phases, about 3 minutes
#   scripts/pgo.sh 30s      # longer phases
set -euo pipefail
case "${1:-}" in
-h | --help)
	sed -n '2,11s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac
cd "$(dirname "$0")/.."
phase=${1:-15s}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building the gateway" >&2
go build -o "$work/gateway" ./cmd/gateway
echo "profiling the gateway under load (phases of $phase)" >&2
"$work/gateway" bench overhead --reps 1 --duration "$phase" --only moegate --profile "$work/prof" >&2
go tool pprof -proto "$work/prof/moegate.pprof" "$work/prof/moegate-nocache.pprof" >"$work/default.pgo"
mv "$work/default.pgo" cmd/gateway/default.pgo
echo "wrote cmd/gateway/default.pgo ($(wc -c <cmd/gateway/default.pgo) bytes)" >&2
