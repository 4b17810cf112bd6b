#!/usr/bin/env bash
# The cluster's brain at scale, on hollow nodes: `gureum server
# --disable-agent` plus `gureum simulate nodes --count 1000`, then
# bench/controllers (main.go): 100 Deployments × 100 replicas until every
# pod is Running, and a rolling update of a 1,000-replica Deployment; then
# the server's RSS and CPU while all of it sits idle. Prints markdown.
#
#   bench/controllers/run.sh           # 1,000 nodes, 10,000 pods, 1,000-replica rollout
#   bench/controllers/run.sh --quick   # 50 nodes, 10 × 20 pods, 100-replica rollout
#
# Environment: GUREUM (binary, default bin/gureum), IDLE (seconds, 150: the server hands
# free heap back every 2 minutes, so the window holds at least one such moment), RUNS (1).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
GUREUM=${GUREUM:-$root/bin/gureum}
IDLE=${IDLE:-150}
RUNS=${RUNS:-1}
NODES=1000 DEPLOYS=100 REPLICAS=100 ROLLING=1000 MAXU=100
if [[ "${1:-}" == "--quick" ]]; then NODES=50 DEPLOYS=10 REPLICAS=20 ROLLING=100 MAXU=10 IDLE=5; fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS:/{printf "%.0f", $2/1024}' "/proc/$1/status"; }
tck=$(getconf CLK_TCK)
(cd "$root" && go build -o "$work/bench-controllers" ./bench/controllers)

echo "## Controllers and scheduler on $NODES simulated nodes ($(date -u +%F), commit $(git -C "$root" rev-parse --short HEAD), $(nproc) cores)"
echo
for run in $(seq "$RUNS"); do
	"$GUREUM" server --disable-agent --data-dir "$work/server$run" --bind-address 127.0.0.1 \
		--https-port "$(free_port)" --etcd-client-port "$(free_port)" --etcd-peer-port "$(free_port)" \
		--log-level warn >"$work/server$run.log" 2>&1 &
	server=$!
	pids+=("$server")
	export KUBECONFIG=$work/server$run/kubeconfig.yaml
	for _ in $(seq 150); do [[ -s $KUBECONFIG ]] && kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 0.2; done
	# 10,000 pods × 100m on 1,000 nodes: 1 CPU of each node's 8.
	"$GUREUM" simulate nodes --count "$NODES" --name-prefix "sim$run-" --kubeconfig "$KUBECONFIG" --log-level warn >"$work/sim$run.log" 2>&1 &
	sim=$!
	pids+=("$sim")
	for _ in $(seq 600); do
		ready=$(kubectl get nodes --no-headers 2>/dev/null | grep -c " Ready " || true)
		[[ $ready -ge $NODES ]] && break
		sleep 0.5
	done
	[[ $ready -ge $NODES ]] || { echo "only $ready of $NODES nodes Ready" >&2; exit 1; }
	echo "Run $run, load at start $(cut -d' ' -f1-3 /proc/loadavg):"
	echo
	"$work/bench-controllers" --kubeconfig "$KUBECONFIG" --deployments "$DEPLOYS" --replicas "$REPLICAS" \
		--rolling "$ROLLING" --max-unavailable "$MAXU" --max-surge "$MAXU"
	# Counted before the idle window: listing 11,000 pods is itself a
	# burst of allocation, which would otherwise be in the RSS read after it.
	pods=$(kubectl get pods -A --no-headers 2>/dev/null | wc -l)
	sleep 10
	c0=$(cpu_ticks "$server"); w0=$(date +%s.%N)
	sleep "$IDLE"
	c1=$(cpu_ticks "$server"); w1=$(date +%s.%N)
	rss=$(rss_mib "$server")
	python3 -c "import sys; c0,c1,t,w0,w1=map(float,sys.argv[1:]); print(f'| idle with $NODES nodes and $pods pods | server (API + etcd + controllers) RSS $rss MiB | CPU {100*(c1-c0)/t/(w1-w0):.1f}% of one core over {w1-w0:.0f}s | simulator RSS $(rss_mib "$sim") MiB |')" "$c0" "$c1" "$tck" "$w0" "$w1"
	echo
	kill "$sim" "$server"; wait "$sim" "$server" 2>/dev/null || true
done
