#!/usr/bin/env bash
# Runs a command with DATABASE_URL set: as given, else the embedded PostgreSQL of
# `make run` (config/embedded_db.py, var/postgres), started if it is not running and left
# running for the next command (`make db-stop` stops it). DB_NAME names the database on
# the embedded server (default recon); RECON_EMBEDDED_PG=1 takes the embedded path even
# with DATABASE_URL set.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv 2>/dev/null || echo "python3 -m uv")
if [ "${RECON_EMBEDDED_PG:-0}" = "1" ]; then
  unset DATABASE_URL
fi
if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL=$($UV run --frozen python -m config.embedded_db start --database "${DB_NAME:-recon}")
  export DATABASE_URL
fi
exec "$@"
