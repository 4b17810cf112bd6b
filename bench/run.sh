#!/usr/bin/env bash
# Runs every benchmark: each bench/*/run.sh that exists, in name order.
# Arguments (for example --quick) are passed to each of them. Each prints a
# markdown report on stdout; a benchmark that fails is reported and the
# others still run. Exits non-zero if any failed.
#
#   bench/run.sh            # full runs
#   bench/run.sh --quick    # smoke test
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
failed=()
current=""
child=""
interrupted() {
  echo "interrupted during bench/$current" >&2
  if [[ -n "$child" ]]; then
    kill -TERM "$child" 2>/dev/null # its own trap stops its servers and cleans up
    wait "$child"
  fi
  exit 130
}
trap interrupted INT TERM HUP

shopt -s nullglob
for script in bench/*/run.sh; do
  name="$(basename "$(dirname "$script")")"
  current="$name"
  echo "=== bench/$name ===" >&2
  bash "$script" "$@" &
  child=$!
  wait "$child"
  rc=$?
  child=""
  if ((rc != 0)); then
    echo "=== bench/$name FAILED ===" >&2
    failed+=("$name")
  fi
  echo
done

if ((${#failed[@]})); then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
