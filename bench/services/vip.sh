#!/usr/bin/env bash
# Requests per second through a ClusterIP against the same pods by their
# own IPs, same run (bench/services/vip/main.go): starts `gureum server`
# with its agent on free ports, builds a busybox-static httpd image,
# deploys 2 replicas behind a Service, and alternates trials. Needs root.
# The client runs in a pod (the usual path of Service traffic) and on the
# node itself (CLIENT=pod, node, or both, the default: pod first).
#   [TRIALS=3] [DURATION=5s] [CLIENT=both] bench/services/vip.sh [--quick]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
GUREUM=${GUREUM:-$root/bin/gureum}
TRIALS=${TRIALS:-3} DURATION=${DURATION:-5s} CLIENT=${CLIENT:-both}
if [[ "${1:-}" == "--quick" ]]; then TRIALS=1 DURATION=1s; fi
case "$CLIENT" in pod | node | both) ;; *) echo "vip.sh: CLIENT must be pod, node or both" >&2; exit 2 ;; esac
[[ $(id -u) -eq 0 ]] || { echo "vip.sh needs root (containerd, CNI, nftables)" >&2; exit 1; }
work=$(mktemp -d)
server=""
cleanup() {
	if [[ -n "${KUBECONFIG:-}" && -s "${KUBECONFIG:-}" ]]; then
		# Wait for the pods themselves: their sandboxes are torn down
		# (CNI DEL) before the server stops.
		kubectl delete pod vip-client --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true
		kubectl delete deployment web --wait=true --timeout=60s >/dev/null 2>&1 || true
		kubectl wait --for=delete pod -l app=web --timeout=60s >/dev/null 2>&1 || true
	fi
	[[ -n "$server" ]] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
	for shim in $(pgrep -f "containerd-shim.*$work" || true); do pkill -9 -P "$shim" || true; kill -9 "$shim" 2>/dev/null || true; done
	pkill -f "$work" 2>/dev/null || true
	sleep 1
	grep -F "$work" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l 2>/dev/null || true
	for ns in $(ip netns list | awk '/^cni-/{print $1}'); do
		[[ -z "$(ip netns pids "$ns")" ]] && { ip netns exec "$ns" ip link del eth0 2>/dev/null; ip netns del "$ns"; } || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$GUREUM" server --data-dir "$work/server" --bind-address 127.0.0.1 --https-port "$(free_port)" \
	--etcd-client-port "$(free_port)" --etcd-peer-port "$(free_port)" --agent-port "$(free_port)" \
	--cluster-dns-port "$(free_port)" --log-level warn >"$work/server.log" 2>&1 &
server=$!
export KUBECONFIG=$work/server/kubeconfig.yaml
for _ in $(seq 300); do kubectl get nodes 2>/dev/null | grep -q " Ready " && break; sleep 0.2; done
mkdir -p "$work/rootfs/bin" "$work/rootfs/www"
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/httpd"
echo ok >"$work/rootfs/www/index.html"
"$GUREUM" image build --rootfs "$work/rootfs" --tag vip-httpd:1 --entrypoint /bin/httpd >/dev/null
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: web
        image: vip-httpd:1
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
YAML
kubectl rollout status deployment/web --timeout=120s >/dev/null
vip=$(kubectl get service web -o jsonpath='{.spec.clusterIP}')
direct=$(kubectl get pods -l app=web -o jsonpath='{range .items[*]}http://{.status.podIP}:8080/,{end}')
direct=${direct%,}
for _ in $(seq 50); do curl -sf -m 1 "http://$vip/" >/dev/null && break; sleep 0.1; done
args=(-vip "http://$vip/" -direct "$direct" -trials "$TRIALS" -duration "$DURATION")
echo "## ClusterIP vs pod IPs ($(date -u +%F), commit $(git -C "$root" rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
if [[ $CLIENT != node ]]; then
	# The same client, static, in an image of its own, as a pod that
	# runs the trials once and prints the table.
	mkdir -p "$work/client/bin"
	(cd "$root" && CGO_ENABLED=0 go build -o "$work/client/bin/vip" ./bench/services/vip)
	"$GUREUM" image build --rootfs "$work/client" --tag vip-client:1 --entrypoint /bin/vip >/dev/null
	json_args=$(printf '"%s",' "${args[@]}")
	kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: vip-client}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - {name: vip, image: vip-client:1, args: [${json_args%,}]}
YAML
	secs=$(python3 -c 'import re,sys; v,u=re.fullmatch(r"([0-9.]+)(ms|s|m)",sys.argv[1]).groups(); print(int(float(v)*{"ms":0.001,"s":1,"m":60}[u])+1)' "$DURATION")
	deadline=$((SECONDS + TRIALS * 2 * (secs + 5) + 120))
	phase=""
	until [[ $phase == Succeeded || $phase == Failed || $SECONDS -gt $deadline ]]; do
		sleep 1
		phase=$(kubectl get pod vip-client -o jsonpath='{.status.phase}' 2>/dev/null || true)
	done
	if [[ $phase != Succeeded ]]; then
		echo "vip.sh: the client pod ended $phase" >&2
		kubectl logs vip-client >&2 || true
		exit 1
	fi
	echo
	echo "### client in a pod ($(kubectl get pod vip-client -o jsonpath='{.status.podIP}'))"
	echo
	kubectl logs vip-client
	kubectl delete pod vip-client --wait=true --timeout=60s >/dev/null
fi
if [[ $CLIENT != pod ]]; then
	echo
	echo "### client on the node"
	echo
	(cd "$root" && go run ./bench/services/vip "${args[@]}")
fi
