#!/bin/sh
# Service proxy benchmark: compute + apply for 1,000 services / 10,000
# endpoints, and endpoint change -> kernel latency (p50/p99), RUNS times,
# then the median of each figure. Needs root (it creates a private network
# namespace; the host's nftables rules are never touched).
#   bench/services/run.sh [RUNS] [extra flags for the benchmark binary]
set -eu
cd "$(dirname "$0")/../.."
QUICK=""
if [ "${1:-}" = "--quick" ]; then
	QUICK=--quick
	shift
	set -- 1 "$@"
fi
RUNS=${1:-5}
[ $# -gt 0 ] && shift
if [ "$(id -u)" != 0 ]; then
	echo "run.sh: must run as root (creates a network namespace)" >&2
	exit 1
fi
BIN=$(mktemp -d)/svcbench
go build -o "$BIN" ./bench/services
OUT=$(mktemp)
i=1
while [ "$i" -le "$RUNS" ]; do
	"$BIN" "$@" | tee -a "$OUT"
	i=$((i + 1))
done
echo "--- medians of $RUNS runs ($(nproc) CPUs, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
for key in compute_ms cold_apply_ms rebuild_apply_ms warm_compute_apply_ms_median p50 p99; do
	grep -o "$key=[0-9.]*" "$OUT" | cut -d= -f2 | sort -n |
		awk -v k="$key" '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%s median=%s (runs: %d)\n", k, m, NR}'
done
rm -f "$OUT" "$BIN"
# Traffic through a ClusterIP against the pods' own IPs, on a real node.
bash "$(dirname "$0")/vip.sh" $QUICK
