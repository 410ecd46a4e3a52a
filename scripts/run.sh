#!/usr/bin/env bash
# The command behind `make run`: PostgreSQL, schema, demo data, then the development server.
#   - DATABASE_URL when it is set; else the embedded PostgreSQL in var/postgres
#     (config/embedded_db.py), started if it is not running, reused if it is. A server
#     this command started is stopped when it ends (Ctrl-C); `make db-stop` stops one
#     left running. RECON_EMBEDDED_PG=1 takes the embedded path even with DATABASE_URL.
#   - `manage.py run_demo`, one Python process: migrate when a migration is pending, load
#     the demo data (idempotent), serve HOST:PORT with runserver.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv 2>/dev/null || echo "python3 -m uv")
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"

if [ "${RECON_EMBEDDED_PG:-0}" = "1" ]; then
  unset DATABASE_URL
fi
if [ -z "${DATABASE_URL:-}" ]; then
  if ! $UV run --frozen python -m config.embedded_db status 2>/dev/null; then
    echo "make run: starting the embedded PostgreSQL (var/postgres)"
    trap '$UV run --frozen python -m config.embedded_db stop 2>/dev/null &&
          echo "make run: stopped the embedded PostgreSQL"' EXIT
  fi
  DATABASE_URL=$($UV run --frozen python -m config.embedded_db start)
  export DATABASE_URL
fi
$UV run --frozen python manage.py run_demo --host "$HOST" --port "$PORT"
