#!/usr/bin/env bash
# Runs moegate's whole test suite on this machine: installs and starts what
# the tests talk to (Redis, PostgreSQL, a Postgres+pgvector wire server),
# idempotently, then runs `go test ./...`. Extra arguments go to go test.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -run Chat  # a subset
set -euo pipefail
case "${1:-}" in
-h | --help)
	sed -n '2,7s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v node >/dev/null || need_apt+=(nodejs npm)
# engine/tensor TestGEMMGenerated runs gemm_gen.py, the GEMM kernels' generator.
command -v python3 >/dev/null || need_apt+=(python3)
# Headless Chromium for the web console's browser tests (cmd/gateway
# TestConsoleInBrowser, which fails without it).
command -v chromium >/dev/null || [ -n "${MOEGATE_CHROMIUM:-}" ] || need_apt+=(chromium)
# valgrind for `gateway bench instructions` (cmd/gateway TestBenchInstructions).
command -v valgrind >/dev/null || need_apt+=(valgrind)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "installing: ${need_apt[*]}"
	# Wait for another apt (a machine's own first-boot installs) rather than fail on its lock.
	as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need_apt[@]}" >/dev/null
fi

# Redis on 127.0.0.1:6379 (limits, cache, shared state tests).
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
	echo "starting redis"
	as_root mkdir -p /var/lib/redis /var/log/redis
	as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
	for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# PostgreSQL on 127.0.0.1:5432, trust auth, database test (registry and tenant stores).
ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$ver" ]; then
	echo "postgresql is installed but has no cluster" >&2
	exit 1
fi
hba=/etc/postgresql/$ver/main/pg_hba.conf
if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
	as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$hba"
	pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
	echo "starting postgresql"
	as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
	for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
	psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null
fi

# Postgres with pgvector for the knowledge store tests: a PGlite server
# (over the wire protocol) of this run's own, on a free port, stopped when
# the run ends, so that nothing a long-running server kept from earlier
# runs slows or blocks this one. MOEGATE_TEST_PGVECTOR_URL, when set,
# names a server to use instead.
if [ -z "${MOEGATE_TEST_PGVECTOR_URL:-}" ]; then
	pglite_dir=$(mktemp -d)
	trap '[ -f "$pglite_dir/pid" ] && kill "$(cat "$pglite_dir/pid")" 2>/dev/null; rm -rf "$pglite_dir"' EXIT
	pglite_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	PGLITE_PORT=$pglite_port PGLITE_LOG=$pglite_dir/log PGLITE_PIDFILE=$pglite_dir/pid tools/pglite/start.sh
	export MOEGATE_TEST_PGVECTOR_URL="postgres://postgres@127.0.0.1:$pglite_port/postgres?sslmode=disable&default_query_exec_mode=exec"
fi

# The official OpenAI SDK for Node, for the API-fidelity checks (cmd/gateway TestOfficialSDK).
if [ ! -f tools/sdkcheck/node_modules/openai/package.json ]; then
	(cd tools/sdkcheck && npm ci --no-audit --no-fund >/dev/null)
fi

go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go test -count=1 -timeout 20m ./... "$@"
