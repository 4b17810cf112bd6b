#!/usr/bin/env bash
# Measures what `gureum simulate nodes` costs: the simulator process's RSS
# and CPU while it holds N idle nodes (default 1,000) against a server.
#
#   bench/simnodes/run.sh                    # starts its own server (--disable-agent)
#   KUBECONFIG=... bench/simnodes/run.sh     # uses a running cluster instead
#
# Environment: GUREUM (binary, default bin/gureum), COUNT (1000), IDLE
# (seconds of idle measurement, 60), RUNS (1).
#
# CPU is (utime+stime) from /proc/PID/stat over the idle window, divided by
# the window: the share of one core. RSS is VmRSS from /proc/PID/status,
# sampled every 5s (max and last reported). The idle window starts once all
# nodes are Ready and 15s have passed, so registration is not counted.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
GUREUM=${GUREUM:-$root/bin/gureum}
COUNT=${COUNT:-1000}
IDLE=${IDLE:-60}
RUNS=${RUNS:-1}
KUBECTL=${KUBECTL:-kubectl}
tck=$(getconf CLK_TCK)

if ! "$GUREUM" simulate nodes --help >/dev/null 2>&1; then
	echo "error: $GUREUM has no 'simulate nodes' command; build it with 'make build' (or set GUREUM)" >&2
	exit 1
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

server_pid=""
if [[ -z "${KUBECONFIG:-}" ]]; then
	"$GUREUM" server --disable-agent --data-dir "$work/server" --bind-address 127.0.0.1 \
		--https-port "$(free_port)" --etcd-client-port "$(free_port)" --etcd-peer-port "$(free_port)" \
		--log-level warn >"$work/server.log" 2>&1 &
	server_pid=$!
	pids+=("$server_pid")
	export KUBECONFIG=$work/server/kubeconfig.yaml
	for _ in $(seq 300); do
		[[ -s $KUBECONFIG ]] && "$KUBECTL" get --raw /readyz >/dev/null 2>&1 && break
		sleep 0.2
	done
	"$KUBECTL" get --raw /readyz >/dev/null || { echo "server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
fi

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

for run in $(seq "$RUNS"); do
	prefix="bench$run-"
	t0=$(date +%s.%N)
	"$GUREUM" simulate nodes --count "$COUNT" --name-prefix "$prefix" --delete-on-exit \
		--kubeconfig "$KUBECONFIG" --log-level warn >"$work/sim$run.log" 2>&1 &
	sim=$!
	pids+=("$sim")
	for _ in $(seq 600); do
		ready=$("$KUBECTL" get nodes -l node.gureum.io/simulated=true --no-headers 2>/dev/null | grep -c "^$prefix[0-9]* *Ready " || true)
		[[ $ready -ge $COUNT ]] && break
		kill -0 "$sim" 2>/dev/null || { echo "simulator exited:" >&2; cat "$work/sim$run.log" >&2; exit 1; }
		sleep 0.5
	done
	t1=$(date +%s.%N)
	[[ $ready -ge $COUNT ]] || { echo "only $ready of $COUNT nodes Ready" >&2; exit 1; }
	sleep 15 # let registration settle; measure steady state only

	c0=$(cpu_ticks "$sim"); s0=${server_pid:+$(cpu_ticks "$server_pid")}
	w0=$(date +%s.%N)
	max_rss=0
	for _ in $(seq $((IDLE / 5))); do
		sleep 5
		r=$(rss_kib "$sim"); ((r > max_rss)) && max_rss=$r
	done
	w1=$(date +%s.%N)
	c1=$(cpu_ticks "$sim"); s1=${server_pid:+$(cpu_ticks "$server_pid")}
	last_rss=$(rss_kib "$sim")
	# Leases renewed within the last 20s (two renew intervals): proof the
	# heartbeats kept up, even where no node lifecycle controller watches.
	leases=$("$KUBECTL" get leases -n kube-node-lease -o jsonpath='{range .items[*]}{.metadata.name} {.spec.renewTime}{"\n"}{end}' |
		python3 -c '
import sys, datetime
now = datetime.datetime.now(datetime.timezone.utc)
fresh = 0
for line in sys.stdin:
    name, _, ts = line.strip().partition(" ")
    if name.startswith(sys.argv[1]) and ts:
        t = datetime.datetime.strptime(ts[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        fresh += (now - t).total_seconds() < 20
print(fresh)' "$prefix")
	stale=$("$KUBECTL" get nodes -l node.gureum.io/simulated=true --no-headers | grep "^$prefix" | grep -vc " Ready " || true)

	python3 - "$COUNT" "$t0" "$t1" "$w0" "$w1" "$c0" "$c1" "$tck" "$max_rss" "$last_rss" "$leases" "$stale" "${s0:-}" "${s1:-}" "${server_pid:+$(rss_kib "$server_pid")}" <<'PY'
import sys
a = sys.argv[1:]
count, t0, t1, w0, w1 = int(a[0]), float(a[1]), float(a[2]), float(a[3]), float(a[4])
c0, c1, tck, max_rss, last_rss, leases, stale = int(a[5]), int(a[6]), int(a[7]), int(a[8]), int(a[9]), int(a[10]), int(a[11])
win = w1 - w0
print(f"nodes={count} all-ready-after={t1-t0:.1f}s leases-renewed-in-last-20s={leases} not-ready={stale}")
print(f"simulator idle: cpu={100*(c1-c0)/tck/win:.1f}% of one core over {win:.0f}s, rss max={max_rss/1024:.1f}MiB last={last_rss/1024:.1f}MiB")
if a[12]:
    s0, s1, srss = int(a[12]), int(a[13]), int(a[14])
    print(f"server (same window, for context): cpu={100*(s1-s0)/tck/win:.1f}% of one core, rss={srss/1024:.1f}MiB")
PY
	kill "$sim"
	wait "$sim" || true
done
