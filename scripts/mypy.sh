#!/usr/bin/env bash
# mypy strict (config in pyproject.toml) against mypy-baseline.txt, the errors the code had
# when strict typing was switched on. The baseline only shrinks:
#   - an error that is not in the baseline fails the check (fix it, don't add it);
#   - an error in the baseline that no longer occurs fails it too, until the line is removed:
#     `bash scripts/mypy.sh sync` rewrites the baseline from the current errors (commit it).
# Baseline lines carry no line numbers, so moving code around does not disturb them.
set -uo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv 2>/dev/null || echo "python3 -m uv")

# The django-stubs plugin imports config.settings.test, which refuses to load without a
# DATABASE_URL. Settings only parse it (no connection is made), so a URL that names no
# server keeps the type check independent of any running database.
export DATABASE_URL="postgres://mypy@localhost:5432/mypy"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
$UV run --frozen mypy >"$out"
status=$?
# 0: no errors, 1: type errors (compared below), anything else: mypy itself failed.
if [ "$status" -gt 1 ]; then
  cat "$out"
  echo "mypy failed to run (exit $status)" >&2
  exit "$status"
fi
if [ "${1:-}" = "sync" ]; then
  $UV run --frozen mypy-baseline sync <"$out" >/dev/null
  echo "mypy-baseline.txt: $(grep -c . mypy-baseline.txt || true) errors"
  exit 0
fi
$UV run --frozen mypy-baseline filter <"$out"
