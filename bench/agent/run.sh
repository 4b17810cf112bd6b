#!/usr/bin/env bash
# Pod startup on one real node (containerd, runc, CNI), and the agent's
# footprint. Starts `gureum server --disable-agent` and a separate
# `gureum agent` (so the agent's RSS and CPU are its own), builds a busybox
# image, then runs bench/agent (main.go): API create→Ready for a burst of
# pods and a Deployment, beside a bare `ctr run --rm` of the same image in
# the same containerd (the floor). Needs root. Prints a markdown report.
#
#   bench/agent/run.sh            # 50 pods x 3 runs, 20 replicas, 100 pods held for the idle window
#   bench/agent/run.sh --quick    # 10 pods x 1 run
#
# Environment: GUREUM (binary, default bin/gureum), IDLE (seconds, 30).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
GUREUM=${GUREUM:-$root/bin/gureum}
IDLE=${IDLE:-30}
PODS=50 RUNS=3 HOLD=100
if [[ "${1:-}" == "--quick" ]]; then PODS=10 RUNS=1 HOLD=10 IDLE=5; fi
[[ $(id -u) -eq 0 ]] || { echo "bench/agent needs root (containerd, CNI)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	# Containers outlive their shims unless killed with them.
	for shim in $(pgrep -f "containerd-shim.*$work" || true); do pkill -9 -P "$shim" || true; kill -9 "$shim" 2>/dev/null || true; done
	pkill -f "$work" 2>/dev/null || true
	sleep 1
	for ns in $(ip netns list | awk '/^cni-/{print $1}'); do
		[[ -z "$(ip netns pids "$ns")" ]] && { ip netns exec "$ns" ip link del eth0 2>/dev/null; ip netns del "$ns"; } || true
	done
	grep -F "$work" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS:/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
tck=$(getconf CLK_TCK)

"$GUREUM" server --disable-agent --data-dir "$work/server" --bind-address 127.0.0.1 \
	--https-port "$(free_port)" --etcd-client-port "$(free_port)" --etcd-peer-port "$(free_port)" \
	--log-level warn >"$work/server.log" 2>&1 &
pids+=($!)
export KUBECONFIG=$work/server/kubeconfig.yaml
for _ in $(seq 150); do [[ -s $KUBECONFIG ]] && kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 0.2; done
url=$(awk '/server:/{print $2; exit}' "$KUBECONFIG")
"$GUREUM" agent --server "$url" --token-file "$work/server/token" --ca-file "$work/server/tls/ca.crt" \
	--data-dir "$work/agent" --agent-port "$(free_port)" --node-name bench-node --log-level warn >"$work/agent.log" 2>&1 &
agent=$!
pids+=("$agent")
for _ in $(seq 300); do kubectl get node bench-node 2>/dev/null | grep -q " Ready " && break; sleep 0.2; done
kubectl get node bench-node | grep -q " Ready " || { echo "node not Ready:" >&2; tail -20 "$work/agent.log" >&2; exit 1; }
sleep 5
idle0_rss=$(rss_mib "$agent")

mkdir -p "$work/rootfs/bin"
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
for a in sh sleep true; do ln -s busybox "$work/rootfs/bin/$a"; done
"$GUREUM" image build --rootfs "$work/rootfs" --tag bench-busybox:1 --kubeconfig "$KUBECONFIG" >/dev/null

echo "## Agent: pod startup on one node ($(date -u +%F), commit $(git -C "$root" rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
mkfifo "$work/hold"
(cd "$root" && go run ./bench/agent --kubeconfig "$KUBECONFIG" --containerd "$work/agent/containerd/containerd.sock" \
	--pods "$PODS" --runs "$RUNS" --hold "$HOLD" <"$work/hold") &
bench=$!
exec 3>"$work/hold"
# Wait until the held pods run, then measure the agent over the idle window.
for _ in $(seq 900); do
	n=$(kubectl get pods -n bench-hold --no-headers 2>/dev/null | grep -c " Running " || true)
	[[ $n -ge $HOLD ]] && break
	kill -0 "$bench" 2>/dev/null || break
	sleep 1
done
sleep 5
c0=$(cpu_ticks "$agent"); w0=$(date +%s.%N)
sleep "$IDLE"
c1=$(cpu_ticks "$agent"); w1=$(date +%s.%N)
held_rss=$(rss_mib "$agent")
exec 3>&-
wait "$bench"
echo
python3 -c "import sys; c0,c1,t,w0,w1=map(float,sys.argv[1:]); print(f'| agent (own process, containerd excluded) | idle RSS, no pods: $idle0_rss MiB | RSS with $HOLD pods: $held_rss MiB | CPU with $HOLD pods: {100*(c1-c0)/t/(w1-w0):.1f}% of one core over {w1-w0:.0f}s |')" "$c0" "$c1" "$tck" "$w0" "$w1"
