#!/usr/bin/env bash
# Puts the images the API-machinery conformance specs run into a Gureum
# cluster's own registry, since no machine here can reach registry.k8s.io:
# agnhost (built from the k8s.io/kubernetes module the suite is built from)
# as registry.k8s.io/e2e-test-images/agnhost:2.53, and the same binary as
# registry.k8s.io/pause:3.10 (`agnhost pause`). Nodes mirror registry.k8s.io
# to the cluster's registry, so the suite's pods pull them unchanged.
#
#   KUBECONFIG=/var/lib/gureum/kubeconfig.yaml hack/conformance-images.sh
#
# Then run the suite against that cluster (it needs its agent for the pods):
#   KUBECONFIG=... CONFORMANCE_NODELESS=0 make conformance
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${KUBECONFIG:?set KUBECONFIG to the cluster that should hold the images}"
GUREUM=${GUREUM_BIN:-$ROOT/bin/gureum}
[[ -x $GUREUM ]] || (cd "$ROOT" && go build -o bin/gureum ./cmd/gureum)

# agnhost is a tool of the conformance module, at the suite's version.
(cd "$ROOT/tools/conformance" && CGO_ENABLED=0 go build -o bin/agnhost k8s.io/kubernetes/test/images/agnhost)
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
cp "$ROOT/tools/conformance/bin/agnhost" "$rootfs/agnhost"
"$GUREUM" image build --rootfs "$rootfs" --tag registry.k8s.io/e2e-test-images/agnhost:2.53 \
  --entrypoint /agnhost --kubeconfig "$KUBECONFIG"
"$GUREUM" image build --rootfs "$rootfs" --tag registry.k8s.io/pause:3.10 \
  --entrypoint /agnhost --cmd pause --kubeconfig "$KUBECONFIG"
