#!/usr/bin/env bash
# Load test: prepare data, serve the API with gunicorn on a free 127.0.0.1 port, run locust
# headless for a bounded time with a bounded number of users, stop everything, print
# p50/p99, error counts and the gunicorn processes' CPU per request.
#
#   benchmarks/loadtest.sh [DURATION_SECONDS]      (default 60; 600 = full run)
#
# Environment: DATABASE_URL (a local PostgreSQL, required; `make loadtest` sets it),
# USERS (25), RATE (requests/s per user, 2 => ~50 req/s), ROWS (bank entries of the
# matched run the users read, 50000), WORKERS (gunicorn workers, 3), WORKER_CLASS (sync,
# as docker-compose.yml and the Dockerfile serve; gthread to compare), THREADS (per gthread
# worker, 4), KEEP=1 keeps the data.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-60}"
USERS="${USERS:-25}"
RATE="${RATE:-2}"
ROWS="${ROWS:-50000}"
WORKERS="${WORKERS:-3}"
THREADS="${THREADS:-4}"
WORKER_CLASS="${WORKER_CLASS:-sync}"
: "${DATABASE_URL:?set DATABASE_URL to the PostgreSQL database to test against}"
# Loopback or a Unix socket (the embedded server): the load never leaves this machine.
case "$DATABASE_URL" in
  postgres://*@127.0.0.1*|postgres://*@localhost*|postgresql://*@127.0.0.1*|postgresql://*@localhost*) ;;
  postgres://*@%2F*|postgresql://*@%2F*) ;;
  *) echo "loadtest: DATABASE_URL must point at a local PostgreSQL (127.0.0.1 or a socket)" >&2; exit 2 ;;
esac
UV=$(command -v uv 2>/dev/null || echo "python3 -m uv")
export DJANGO_SETTINGS_MODULE=config.settings.local DEBUG=0 BENCHMARK_QUIET=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loadtest.XXXXXX")
STATE="$WORK/state.json"
GUNICORN_PID=""

cleanup() {
  if [ -n "$GUNICORN_PID" ] && kill -0 "$GUNICORN_PID" 2>/dev/null; then
    kill -TERM "$GUNICORN_PID"
    for _ in $(seq 1 30); do kill -0 "$GUNICORN_PID" 2>/dev/null || break; sleep 0.5; done
  fi
  if [ "${KEEP:-0}" != "1" ]; then
    $UV run --frozen python manage.py benchmark --loadtest-cleanup >/dev/null 2>&1 || true
  fi
  echo "loadtest: logs and CSV in $WORK"
}
trap cleanup EXIT

echo "loadtest: preparing $ROWS matched bank entries ..."
$UV run --frozen python manage.py migrate --noinput -v 0
$UV run --frozen python manage.py benchmark --loadtest-setup "$STATE" --rows "$ROWS"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
if [ "$WORKER_CLASS" = gthread ]; then THREAD_ARGS=(--threads "$THREADS"); else THREAD_ARGS=(); fi
$UV run --frozen gunicorn config.wsgi:application \
  --bind "127.0.0.1:$PORT" --workers "$WORKERS" --worker-class "$WORKER_CLASS" "${THREAD_ARGS[@]}" \
  --timeout 120 --access-logfile /dev/null --error-logfile "$WORK/gunicorn.log" &
GUNICORN_PID=$!
for _ in $(seq 1 60); do
  if curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null

# CPU (user + system, clock ticks) the gunicorn processes have used so far. The p99 of this
# test is queueing once the machine's cores are busy, so it moves with whatever else the
# machine does; CPU per request is the figure that says whether the server got cheaper.
gunicorn_ticks() {
  local total=0 pid ticks
  for pid in $(pgrep -f "gunicorn config.wsgi:application" || true); do
    # Fields 14 and 15 of /proc/PID/stat; counted after the ")" that ends the command name.
    ticks=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
    total=$((total + ${ticks:-0}))
  done
  echo "$total"
}

echo "loadtest: gunicorn pid $GUNICORN_PID on 127.0.0.1:$PORT, $WORKERS $WORKER_CLASS workers; $USERS users x $RATE req/s for ${DURATION}s"
TICKS_BEFORE=$(gunicorn_ticks)
LOADTEST_STATE="$STATE" LOADTEST_RATE="$RATE" $UV run --frozen locust \
  -f benchmarks/locustfile.py --headless --only-summary \
  --host "http://127.0.0.1:$PORT" -u "$USERS" -r "$USERS" -t "${DURATION}s" \
  --stop-timeout 15 --csv "$WORK/locust" --loglevel WARNING >"$WORK/locust.log" 2>&1 || true
GUNICORN_CPU_S=$(python3 -c "import os, sys; print((int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf('SC_CLK_TCK'))" "$TICKS_BEFORE" "$(gunicorn_ticks)")

python3 - "$WORK/locust_stats.csv" "$WORK/locust_failures.csv" "$DURATION" "$GUNICORN_CPU_S" <<'PY'
import csv, json, sys
stats, failures, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
gunicorn_cpu_s = float(sys.argv[4])
rows = list(csv.DictReader(open(stats)))
print(f"{'endpoint':40} {'reqs':>7} {'fails':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8}")
for row in rows:
    print(f"{(row['Type'] + ' ' + row['Name'])[:40]:40} {row['Request Count']:>7} "
          f"{row['Failure Count']:>6} {row['50%']:>7} {row['99%']:>7} "
          f"{float(row['Max Response Time']):>8.0f}")
total = next(r for r in rows if r["Name"] == "Aggregated")
summary = {
    "scenario": "loadtest",
    "duration_s": duration,
    "requests": int(total["Request Count"]),
    "req_per_s": round(float(total["Requests/s"]), 1),
    "failures": int(total["Failure Count"]),
    "p50_ms": float(total["50%"]),
    "p99_ms": float(total["99%"]),
    "max_ms": round(float(total["Max Response Time"])),
    "gunicorn_cpu_s": round(gunicorn_cpu_s, 1),
    "gunicorn_cpu_ms_per_request": round(
        1000 * gunicorn_cpu_s / max(1, int(total["Request Count"])), 2
    ),
}
print(json.dumps(summary))
for row in csv.DictReader(open(failures)):
    print("failure:", row["Method"], row["Name"], row["Occurrences"], row["Error"][:200])
PY
