#!/usr/bin/env bash
# Regenerates internal/apiserver/openapi/zz_generated.openapi.go: the OpenAPI
# definitions (schemas with field descriptions, patch strategies, list types)
# of every Go type the API server serves, produced by kube-openapi's
# openapi-gen at the exact kube-openapi version go.mod pins, so the generator
# and the runtime builders agree on the format.
#
#   hack/update-openapi.sh           regenerate in place
#   hack/update-openapi.sh --verify  fail if the committed file is stale (CI)
#
# Also runnable as `go generate ./internal/apiserver/openapi/`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

OUT_DIR=internal/apiserver/openapi
OUT_PKG=github.com/gureum/gureum/$OUT_DIR
OUT_FILE=zz_generated.openapi.go

verify=false
if [[ "${1:-}" == "--verify" ]]; then
  verify=true
fi

# The API packages we serve. Keep in step with internal/api.DefaultResources
# (TestEveryServedKindHasASchema and New fail when a served kind is missing).
# autoscaling/v1 and policy/v1 also give the Scale and Eviction
# subresources their schemas, authentication/v1 the TokenRequest one.
packages=(
  k8s.io/apimachinery/pkg/apis/meta/v1
  k8s.io/apimachinery/pkg/runtime
  k8s.io/apimachinery/pkg/util/intstr
  k8s.io/apimachinery/pkg/api/resource
  k8s.io/apimachinery/pkg/version
  k8s.io/api/core/v1
  k8s.io/api/apps/v1
  k8s.io/api/batch/v1
  k8s.io/api/autoscaling/v1
  k8s.io/api/autoscaling/v2
  k8s.io/api/networking/v1
  k8s.io/api/discovery/v1
  k8s.io/api/coordination/v1
  k8s.io/api/storage/v1
  k8s.io/api/rbac/v1
  k8s.io/api/authorization/v1
  k8s.io/api/authentication/v1
  k8s.io/api/policy/v1
  k8s.io/api/flowcontrol/v1
  k8s.io/api/admissionregistration/v1
  k8s.io/api/scheduling/v1
  k8s.io/api/node/v1
  k8s.io/api/certificates/v1
  k8s.io/api/events/v1
  k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1
  k8s.io/kube-aggregator/pkg/apis/apiregistration/v1
)

# Gureum's own API groups: every pkg/apis/<group>/<version>. A package is
# included once it compiles, so the script stays usable while a group is
# being written; the warning says so. Only packages whose doc.go says
# `// +k8s:openapi-gen=true` produce definitions.
shopt -s nullglob
for dir in ./pkg/apis/*/*/; do
  pkg=${dir%/}
  if go build "$pkg" 2>/dev/null; then
    packages+=("github.com/gureum/gureum/${pkg#./}")
  else
    echo "WARNING: $pkg does not compile; generating without it (rerun when it builds)" >&2
  fi
done

# Build the generator at the kube-openapi version the server's go.mod
# requires, from the tools/openapi-gen module (see its go.mod for why it is a
# separate module). Follow the server's version when it moves.
version=$(go list -m -f '{{.Version}}' k8s.io/kube-openapi)
tool_version=$(go -C tools/openapi-gen list -m -f '{{.Version}}' k8s.io/kube-openapi)
if [[ "$version" != "$tool_version" ]]; then
  echo "tools/openapi-gen: kube-openapi $tool_version -> $version" >&2
  go -C tools/openapi-gen get -tool "k8s.io/kube-openapi/cmd/openapi-gen@$version"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go -C tools/openapi-gen build -o "$tmp/bin/openapi-gen" k8s.io/kube-openapi/cmd/openapi-gen

gen_dir="$tmp/out"
mkdir -p "$gen_dir"
# k8s.io/api has known API-rule violations (Kubernetes keeps an exception
# list for them); writing the report to a file keeps them from failing the
# run. They are not ours to fix. gotypesalias=0: this gengo predates Go's
# alias types and warns about each alias in k8s.io/api (the output is the
# same either way).
GODEBUG=gotypesalias=0 "$tmp/bin/openapi-gen" \
  --output-dir "$gen_dir" \
  --output-pkg "$OUT_PKG" \
  --output-file "$OUT_FILE" \
  --go-header-file hack/boilerplate.go.txt \
  --report-filename "$tmp/api-rule-violations.list" \
  "${packages[@]}"

if $verify; then
  if ! diff -q "$gen_dir/$OUT_FILE" "$OUT_DIR/$OUT_FILE" >/dev/null; then
    echo "$OUT_DIR/$OUT_FILE is stale: run hack/update-openapi.sh" >&2
    exit 1
  fi
  echo "$OUT_DIR/$OUT_FILE is up to date"
  exit 0
fi

mkdir -p "$OUT_DIR"
cp "$gen_dir/$OUT_FILE" "$OUT_DIR/$OUT_FILE"
echo "wrote $OUT_DIR/$OUT_FILE ($(grep -c '^func schema_' "$OUT_DIR/$OUT_FILE") definitions, from ${#packages[@]} packages)"
