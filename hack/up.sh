#!/usr/bin/env bash
# Starts `gureum up` in the background, waits until it serves, and prints
# how to use it. The log is DATA_DIR/gureum.log.
set -euo pipefail
data_dir=$1
mkdir -p "$data_dir"
pidfile=$data_dir/gureum.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "Gureum is already running (pid $(cat "$pidfile"))."
else
  nohup bin/gureum up --data-dir "$data_dir" >"$data_dir/gureum.log" 2>&1 &
  echo $! >"$pidfile"
fi
for _ in $(seq 1 300); do
  if curl -ksf https://127.0.0.1:6443/readyz >/dev/null 2>&1 && [ -f "$data_dir/kubeconfig.yaml" ] \
     && grep -q "Gureum is up" "$data_dir/gureum.log" 2>/dev/null; then
    cat <<MSG
Gureum is up (pid $(cat "$pidfile"), log $data_dir/gureum.log).

  export KUBECONFIG=$data_dir/kubeconfig.yaml
  kubectl get namespaces
  kubectl api-resources
  bin/gureum image build --rootfs DIR --tag web:1 --entrypoint /bin/app   # an image, no outside registry
  kubectl create deployment web --image=web:1

Stop it with: make down
MSG
    exit 0
  fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "gureum exited; its log:" >&2
    tail -n 30 "$data_dir/gureum.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "gureum did not become ready in 30s; see $data_dir/gureum.log" >&2
exit 1
