#!/usr/bin/env bash
# API benchmarks: Pod creates vs raw etcd puts, lists of many pods, watch
# fan-out, and the server's start time and memory. Starts its own
# `gureum server --disable-agent` processes on free ports under a temporary
# directory and removes everything on exit.
#
#   bench/api/run.sh            # full run, a few minutes
#   bench/api/run.sh --quick    # smoke test, under a minute
#   bench/api/run.sh -only writes -clients 16 -write-duration 10s
#   bench/api/run.sh -only writes -peer-apiserver tools/conformance/bin/kube-apiserver
#                               # adds upstream kube-apiserver on the same etcd
#                               # (build it: bench/README.md, "Peer")
#
# Any argument is passed to the Go program (see `go run ./bench/api -h`).
# The markdown report goes to stdout, progress to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="/usr/local/go/bin:$PATH"
GO="${GO:-go}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gureum-bench-api.XXXXXX")"
BENCH_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n "$BENCH_PID" ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$BENCH_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$BENCH_PID" 2>/dev/null || true
  fi
  # Servers the benchmark started and did not stop (it also kills them on
  # exit, and the kernel does when it dies): only our own PIDs, and only if
  # they are still gureum servers (or the -peer-apiserver kube-apiserver)
  # on our work dir.
  if [[ -f "$WORK/server.pids" ]]; then
    while read -r pid; do
      if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -e "--data-dir $WORK/" -e "--cert-dir=$WORK/"; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$WORK/server.pids"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

echo "building bin/gureum and the benchmark..." >&2
"$GO" build -o bin/gureum ./cmd/gureum
"$GO" build -o "$WORK/bench-api" ./bench/api

"$WORK/bench-api" -bin bin/gureum -work-dir "$WORK" "$@" &
BENCH_PID=$!
wait "$BENCH_PID"
