#!/usr/bin/env bash
# Runs the upstream Kubernetes v1.33.13 e2e [sig-api-machinery] [Conformance]
# specs against a gureum server. See docs/CONFORMANCE.md.
#
#   hack/conformance.sh            build, start a throwaway gureum server (unless
#                                  KUBECONFIG is set), run the specs, print counts
#   hack/conformance.sh list       dry run: list the selected specs and rewrite the
#                                  table in docs/CONFORMANCE.md ("not yet run")
#   hack/conformance.sh [run|list] -- EXTRA e2e.test FLAGS
#
# Environment:
#   KUBECONFIG                 run against this cluster instead of starting a server
#   GUREUM_BIN                 gureum binary to start (default: go build ./cmd/gureum -> bin/gureum)
#   GUREUM_SERVER_ARGS         extra `gureum server` flags (default: --bind-address 127.0.0.1)
#   CONFORMANCE_FOCUS          ginkgo focus regexp (default '\[sig-api-machinery\].*\[Conformance\]')
#   CONFORMANCE_SKIP           ginkgo skip regexp (default: none)
#   CONFORMANCE_PARALLEL       N>1 runs N ginkgo processes via the ginkgo CLI ([Serial] specs
#                              still run alone, at the end) (default 1)
#   CONFORMANCE_TIMEOUT        ginkgo suite timeout (default 2h)
#   CONFORMANCE_NODELESS       1 (default): --allowed-not-ready-nodes=-1 --num-nodes=0, so the
#                              suite setup does not wait for nodes or kube-system pods;
#                              0 without KUBECONFIG: the throwaway server runs its agent (real
#                              pods on this machine: needs root, containerd, runc, CNI),
#                              listens on 0.0.0.0 so pods reach it, and gets the suite's images
#                              (hack/conformance-images.sh); its pods are deleted at the end
#   CONFORMANCE_REPORT_DIR     where junit_01.xml, report.json, e2e.log, results.md go
#                              (default tools/conformance/report/<timestamp>)
#   CONFORMANCE_ALLOW_FAIL=1   exit 0 even when specs fail
#   CONFORMANCE_UPDATE_DOCS=1  after a run, write the results into docs/CONFORMANCE.md
#   CONFORMANCE_SKIP_BUILD=1   use the binaries already in tools/conformance/bin
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/tools/conformance
BIN=$TOOLS/bin
DOC=$ROOT/docs/CONFORMANCE.md

FOCUS=${CONFORMANCE_FOCUS:-'\[sig-api-machinery\].*\[Conformance\]'}
SKIP=${CONFORMANCE_SKIP:-}
PARALLEL=${CONFORMANCE_PARALLEL:-1}
TIMEOUT=${CONFORMANCE_TIMEOUT:-2h}
NODELESS=${CONFORMANCE_NODELESS:-1}
REPORT_DIR=${CONFORMANCE_REPORT_DIR:-$TOOLS/report/$(date +%Y%m%d-%H%M%S)}

mode=run
if [[ $# -gt 0 && $1 != -- ]]; then mode=$1; shift; fi
[[ $# -gt 0 && $1 == -- ]] && shift
case $mode in run|list) ;; *) echo "usage: $0 [run|list] [-- e2e.test flags]" >&2; exit 2 ;; esac

log() { echo "conformance.sh: $*" >&2; }

# --- build (Go's build cache makes an unchanged rebuild take about a second) ---
# The e2e binary reports the same version as the server it tests.
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=v1.33.13 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=33"
if [[ ${CONFORMANCE_SKIP_BUILD:-0} != 1 || ! -x $BIN/e2e.test || ! -x $BIN/summarize ]] ||
   [[ $PARALLEL -gt 1 && ! -x $BIN/ginkgo ]]; then
  log "building $BIN/e2e.test (first build takes ~5 min on 2 cores)"
  (
    cd "$TOOLS"
    export GOWORK=off
    go test -c -o bin/e2e.test -ldflags "$LDFLAGS" .
    go build -o bin/summarize ./cmd/summarize
    if [[ $PARALLEL -gt 1 ]]; then go build -o bin/ginkgo github.com/onsi/ginkgo/v2/ginkgo; fi
  )
fi

mkdir -p "$REPORT_DIR"
REPORT_DIR=$(cd "$REPORT_DIR" && pwd)

color=()
[[ -t 1 ]] || color=(--ginkgo.no-color)

# --- the selected specs: a dry run needs no cluster ---
skip_flag=()
[[ -n $SKIP ]] && skip_flag=("--ginkgo.skip=$SKIP")
"$BIN/e2e.test" --provider=skeleton --ginkgo.dry-run "--ginkgo.focus=$FOCUS" "${skip_flag[@]}" \
  --ginkgo.no-color "--ginkgo.json-report=$REPORT_DIR/specs.json" >"$REPORT_DIR/dry-run.log" 2>&1 || {
  cat "$REPORT_DIR/dry-run.log" >&2; log "dry run failed"; exit 1; }

# Replace the spec table of docs/CONFORMANCE.md (between the markers) with $1.
update_doc() {
  local table=$1
  if ! grep -q '^<!-- specs:begin -->' "$DOC" 2>/dev/null; then
    log "no '<!-- specs:begin -->' marker in $DOC; table left in $table"; return
  fi
  awk -v table="$table" '
    /^<!-- specs:begin -->/ { print; while ((getline line < table) > 0) print line; skip=1; next }
    /^<!-- specs:end -->/   { skip=0 }
    !skip' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  log "updated $DOC"
}

if [[ $mode == list ]]; then
  "$BIN/summarize" -specs "$REPORT_DIR/specs.json" -md "$REPORT_DIR/specs.md"
  cat "$REPORT_DIR/specs.md"
  update_doc "$REPORT_DIR/specs.md"
  exit 0
fi

# --- the cluster: given, or a throwaway gureum server ---
server_pid=
netns_before=$(ip netns list 2>/dev/null | awk '{print $1}' | tr '\n' ' ' || true)
agent_port=
data_dir=
runner_pid=
cleanup() {
  if [[ -n $runner_pid ]] && kill -0 "$runner_pid" 2>/dev/null; then
    # The ginkgo CLI waits for its e2e.test processes: stop those (its children) too.
    pkill -TERM -P "$runner_pid" 2>/dev/null || true
    kill "$runner_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$runner_pid" 2>/dev/null || break; sleep 0.2; done
    pkill -KILL -P "$runner_pid" 2>/dev/null || true
    kill -9 "$runner_pid" 2>/dev/null || true
  fi
  if [[ -n $server_pid && -n $agent_port ]] && kill -0 "$server_pid" 2>/dev/null; then
    # Pods outlive their server by design: remove them while it runs, and
    # let the agent finish tearing their sandboxes down.
    kubectl delete pods --all -A --grace-period=1 --wait=true --timeout=120s >/dev/null 2>&1 || true
    local sock=$data_dir/agent/containerd/containerd.sock
    for _ in $(seq 100); do
      [[ -z $(ctr --address "$sock" -n k8s.io containers ls -q 2>/dev/null) ]] && break
      sleep 0.3
    done
  fi
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n $data_dir && -n $agent_port ]]; then
    # Whatever a failed run left under the data dir: shims, containers, mounts,
    # and pod network namespaces nobody deleted (their veths would hold pod
    # addresses on the shared bridge).
    local pid
    for pid in $(pgrep -f "$data_dir" 2>/dev/null); do
      # A shim's children are the containers; they do not name the data dir.
      pkill -KILL -P "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    done
    grep -F "$data_dir" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l 2>/dev/null || true
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
      [[ " $netns_before " == *" $ns "* || -n $(ip netns pids "$ns" 2>/dev/null) ]] && continue
      ip netns exec "$ns" ip link del eth0 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    done
  fi
  [[ -n $data_dir ]] && rm -rf "$data_dir"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ports=()
pick_port() {
  local p
  for _ in $(seq 500); do
    p=$((20000 + RANDOM))
    [[ " ${ports[*]-} " == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then ports+=("$p"); return 0; fi
  done
  log "no free port found"; exit 1
}

if [[ -z ${KUBECONFIG:-} ]]; then
  GUREUM=${GUREUM_BIN:-}
  if [[ -z $GUREUM ]]; then
    log "building $ROOT/bin/gureum"
    (cd "$ROOT" && go build -o bin/gureum ./cmd/gureum) || { log "cannot build gureum"; exit 1; }
    GUREUM=$ROOT/bin/gureum
  fi
  pick_port; pick_port; pick_port
  https_port=${ports[0]}
  data_dir=$(mktemp -d -t gureum-conformance.XXXXXX)
  export KUBECONFIG=$REPORT_DIR/kubeconfig.yaml
  rm -f "$KUBECONFIG"
  node_args=(--disable-agent)
  default_args="--bind-address 127.0.0.1"
  if [[ $NODELESS != 1 ]]; then
    [[ $(id -u) == 0 ]] || { log "CONFORMANCE_NODELESS=0 runs real pods: run as root"; exit 1; }
    pick_port; pick_port
    agent_port=${ports[3]}
    node_args=(--agent-port "$agent_port" --cluster-dns-port "${ports[4]}")
    default_args="--bind-address 0.0.0.0"
  fi
  read -r -a server_args <<<"${GUREUM_SERVER_ARGS-$default_args}"
  log "starting $GUREUM server on https://127.0.0.1:$https_port (log: $REPORT_DIR/gureum.log)"
  "$GUREUM" server "${node_args[@]}" --data-dir "$data_dir" --https-port "$https_port" \
    --etcd-client-port "${ports[1]}" --etcd-peer-port "${ports[2]}" \
    --write-kubeconfig "$KUBECONFIG" "${server_args[@]}" >"$REPORT_DIR/gureum.log" 2>&1 &
  server_pid=$!
  ready=
  for _ in $(seq 120); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      tail -n 30 "$REPORT_DIR/gureum.log" >&2; log "gureum server exited"; exit 1
    fi
    if [[ -s $KUBECONFIG ]] && curl -ksf --max-time 2 "https://127.0.0.1:$https_port/readyz" >/dev/null 2>&1; then
      ready=1; break
    fi
    sleep 0.5
  done
  [[ -n $ready ]] || { tail -n 30 "$REPORT_DIR/gureum.log" >&2; log "gureum server not ready after 60s"; exit 1; }
  log "gureum server ready"
  if [[ -n $agent_port ]]; then
    for _ in $(seq 120); do
      [[ -n $(kubectl get nodes -o name 2>/dev/null) ]] && break
      sleep 0.5
    done
    kubectl wait node --all --for=condition=Ready --timeout=120s >/dev/null ||
      { tail -n 30 "$REPORT_DIR/gureum.log" >&2; log "the server's node did not become Ready"; exit 1; }
    GUREUM_BIN=$GUREUM "$ROOT/hack/conformance-images.sh" >"$REPORT_DIR/images.log" 2>&1 ||
      { tail -n 30 "$REPORT_DIR/images.log" >&2; log "could not put the suite's images into the cluster"; exit 1; }
    log "node Ready, images in the cluster's registry"
  fi
fi

# --- the run ---
e2e_flags=(--kubeconfig "$KUBECONFIG" --provider=skeleton --report-dir "$REPORT_DIR")
[[ $NODELESS == 1 ]] && e2e_flags+=(--allowed-not-ready-nodes=-1 --num-nodes=0)
read -r -a extra <<<"${CONFORMANCE_ARGS:-}"
e2e_flags+=("${extra[@]}" "$@")

log "running the e2e specs (log: $REPORT_DIR/e2e.log)"
if [[ $PARALLEL -gt 1 ]]; then
  cg=()
  [[ -t 1 ]] || cg=(--no-color)
  sk=()
  [[ -n $SKIP ]] && sk=("--skip=$SKIP")
  runner=("$BIN/ginkgo" "--procs=$PARALLEL" "--timeout=$TIMEOUT" "--focus=$FOCUS" "${sk[@]}" -v "${cg[@]}"
    "--json-report=$REPORT_DIR/report.json" "$BIN/e2e.test" -- "${e2e_flags[@]}")
else
  runner=("$BIN/e2e.test" "${e2e_flags[@]}" "--ginkgo.focus=$FOCUS" "${skip_flag[@]}" --ginkgo.v "${color[@]}"
    "--ginkgo.timeout=$TIMEOUT" "--ginkgo.json-report=$REPORT_DIR/report.json")
fi
# In the background so that cleanup (on INT/TERM) can stop it by its pid.
"${runner[@]}" > >(tee "$REPORT_DIR/e2e.log") 2>&1 &
runner_pid=$!
set +e
wait "$runner_pid"
rc=$?
set -e
runner_pid=

echo
log "reports in $REPORT_DIR (junit_01.xml, report.json, results.md, failed.txt)"
[[ -s $REPORT_DIR/report.json ]] || { log "the e2e binary wrote no report (exit $rc)"; [[ $rc != 0 ]] || rc=1; }
if [[ $rc != 0 && ${CONFORMANCE_ALLOW_FAIL:-0} == 1 ]]; then
  log "failures allowed (CONFORMANCE_ALLOW_FAIL=1): exiting 0"
  final=0
else
  final=$rc
fi
if [[ -s $REPORT_DIR/report.json ]]; then
  summary=$("$BIN/summarize" -specs "$REPORT_DIR/specs.json" -report "$REPORT_DIR/report.json" \
    -md "$REPORT_DIR/results.md" -failed "$REPORT_DIR/failed.txt")
  if [[ ${CONFORMANCE_UPDATE_DOCS:-0} == 1 ]]; then update_doc "$REPORT_DIR/results.md"; fi
  # Last line printed: "conformance: N passed, N failed, N skipped".
  printf '%s\n' "$summary"
fi
exit "$final"
