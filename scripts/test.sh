#!/usr/bin/env bash
# The test command behind `make test`. PostgreSQL when DATABASE_URL is set or 127.0.0.1:5432
# answers; otherwise SQLite, with PostgreSQL-only tests skipped (and said so).
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

if [ -z "${DATABASE_URL:-}" ] && port_open 127.0.0.1 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
fi
if [ -n "${DATABASE_URL:-}" ]; then
  echo "make test: PostgreSQL (${DATABASE_URL%%\?*})"
else
  echo "make test: PostgreSQL is not reachable -- running on SQLite; PostgreSQL-only tests are SKIPPED"
fi
if [ -z "${REDIS_URL:-}" ] && [ -z "${TEST_REDIS_URL:-}" ] && port_open 127.0.0.1 6379; then
  export TEST_REDIS_URL="redis://127.0.0.1:6379/15"
fi
# A fresh test database every run: a schema left by an older checkout must not leak in.
exec $UV run --frozen pytest --create-db "$@"
