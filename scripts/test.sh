#!/usr/bin/env bash
# The test command behind `make test`, always on PostgreSQL:
#   1. DATABASE_URL when it is set;
#   2. else the server on 127.0.0.1:5432 when one answers (user postgres, no password);
#   3. else an embedded PostgreSQL (config/embedded_db.py, data in var/postgres-test),
#      started here and stopped when the run ends.
# RECON_EMBEDDED_PG=1 takes the embedded path whatever is set or running.
# TEST_DATABASE_NAME names the test database, TEST_REDIS_URL the worker tests' Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv 2>/dev/null || echo "python3 -m uv")

port_open() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

if [ "${RECON_EMBEDDED_PG:-0}" = "1" ]; then
  unset DATABASE_URL
elif [ -z "${DATABASE_URL:-}" ] && port_open 127.0.0.1 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
fi
if [ -z "${DATABASE_URL:-}" ]; then
  started=""
  if ! $UV run --frozen python -m config.embedded_db status --test 2>/dev/null; then
    echo "make test: starting the embedded PostgreSQL (var/postgres-test)"
    started=1
  fi
  DATABASE_URL=$($UV run --frozen python -m config.embedded_db start --test --database postgres)
  export DATABASE_URL
  if [ -n "$started" ]; then
    # Stop what this run started (a server that was already running is left running).
    trap '$UV run --frozen python -m config.embedded_db stop --test 2>/dev/null || true' EXIT
  fi
fi
echo "make test: PostgreSQL (${DATABASE_URL%%\?*})"
if [ -z "${REDIS_URL:-}" ] && [ -z "${TEST_REDIS_URL:-}" ] && port_open 127.0.0.1 6379; then
  export TEST_REDIS_URL="redis://127.0.0.1:6379/15"
fi
# A fresh test database every run: a schema left by an older checkout must not leak in.
$UV run --frozen pytest --create-db "$@"
