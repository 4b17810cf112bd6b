#!/usr/bin/env bash
# Stops the server `make up` started; its data stays in DATA_DIR.
set -euo pipefail
pidfile=$1/gureum.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  kill "$(cat "$pidfile")"
  while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.1; done
  echo "Gureum stopped."
else
  echo "Gureum is not running."
fi
rm -f "$pidfile"
