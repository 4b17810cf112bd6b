#!/usr/bin/env bash
# Installs what Gureum needs on a Debian machine and is missing: Go (must
# already be on PATH), containerd, runc, CNI plugins, nftables, iproute2,
# iptables (the CNI bridge and portmap plugins program it), curl for
# readiness checks, and a static busybox that tests pack into images.
# Safe to run repeatedly.
set -euo pipefail

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd containerd || need+=(containerd)
have_cmd runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] || need+=(containernetworking-plugins)
have_cmd nft || need+=(nftables)
have_cmd ip || need+=(iproute2)
have_cmd curl || need+=(curl)
have_cmd iptables || need+=(iptables)
# Debian's dynamically linked busybox also owns /bin/busybox, but it cannot
# run inside an image without a libc: require the static package itself.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! have_cmd go; then
  if [ -x /usr/local/go/bin/go ]; then
    echo "Go is at /usr/local/go/bin; add it to PATH" >&2
  else
    echo "Go 1.24 or newer is required: https://go.dev/doc/install" >&2
  fi
  exit 1
fi
