#!/bin/sh
# Start the PGlite+pgvector test server in the background unless something
# already answers on its port, and wait until it accepts connections.
#
#   tools/pglite/start.sh [DATADIR]
#
# PGLITE_PORT sets the port (default 55432). The server's log goes to
# PGLITE_LOG (default tools/pglite/server.log), its pid to PGLITE_PIDFILE
# (default tools/pglite/.pid).
set -eu
cd "$(dirname "$0")"
port="${PGLITE_PORT:-55432}"
log="${PGLITE_LOG:-$(pwd)/server.log}"
pidfile="${PGLITE_PIDFILE:-$(pwd)/.pid}"

answering() {
	node -e "require('net').connect($port, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))"
}

if answering; then
	echo "pglite: already answering on 127.0.0.1:$port"
	exit 0
fi

# npm ci is slow-ish; skip it when node_modules matches the lock file.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.moegate-lock; then
	npm ci --no-audit --no-fund --loglevel=error
	cp package-lock.json node_modules/.moegate-lock
fi

PGLITE_PORT="$port" nohup node server.mjs "$@" >"$log" 2>&1 &
echo $! >"$pidfile"

i=0
while ! answering; do
	i=$((i + 1))
	if [ "$i" -gt 100 ]; then
		echo "pglite: did not start within 30s; see $log" >&2
		exit 1
	fi
	sleep 0.3
done
echo "pglite: started on 127.0.0.1:$port (pid $(cat "$pidfile"))"
