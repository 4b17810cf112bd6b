#!/usr/bin/env bash
# Regenerates the deep-copy functions of Gureum's own API types
# (pkg/apis/<group>/<version>/zz_generated.deepcopy.go) with
# k8s.io/code-generator's deepcopy-gen, at the code-generator release that
# matches k8s.io/apimachinery in go.mod. It runs `go run pkg@version`, which
# leaves go.mod and go.sum alone.
#
#   hack/update-codegen.sh           regenerate in place
#   hack/update-codegen.sh --verify  fail if a committed file is stale (CI)
#
# The packages are every pkg/apis/*/* whose doc.go says
# `// +k8s:deepcopy-gen=package`. OpenAPI definitions are
# hack/update-openapi.sh's job.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

verify=false
if [[ "${1:-}" == "--verify" ]]; then
  verify=true
fi

mapfile -t pkgs < <(grep -l '^// +k8s:deepcopy-gen=package' pkg/apis/*/*/doc.go | xargs -n1 dirname)
if [[ ${#pkgs[@]} -eq 0 ]]; then
  echo "no API packages under pkg/apis" >&2
  exit 1
fi

version=$(go list -m -f '{{.Version}}' k8s.io/apimachinery)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "// Regenerate with hack/update-codegen.sh; do not edit by hand." >"$tmp/header.txt"

# Generate into a copy so that --verify can compare without touching the tree.
for pkg in "${pkgs[@]}"; do
  mkdir -p "$tmp/orig/$pkg"
  if [[ -f "$pkg/zz_generated.deepcopy.go" ]]; then
    cp "$pkg/zz_generated.deepcopy.go" "$tmp/orig/$pkg/"
  fi
done

GOFLAGS=-mod=mod go run "k8s.io/code-generator/cmd/deepcopy-gen@$version" \
  --go-header-file "$tmp/header.txt" \
  --output-file zz_generated.deepcopy.go \
  "${pkgs[@]/#/./}"

stale=()
for pkg in "${pkgs[@]}"; do
  gofmt -w "$pkg/zz_generated.deepcopy.go"
  if ! diff -q "$pkg/zz_generated.deepcopy.go" "$tmp/orig/$pkg/zz_generated.deepcopy.go" >/dev/null 2>&1; then
    stale+=("$pkg/zz_generated.deepcopy.go")
  fi
done

if $verify; then
  # Put the committed files back: --verify only reports.
  for pkg in "${pkgs[@]}"; do
    if [[ -f "$tmp/orig/$pkg/zz_generated.deepcopy.go" ]]; then
      cp "$tmp/orig/$pkg/zz_generated.deepcopy.go" "$pkg/"
    else
      rm -f "$pkg/zz_generated.deepcopy.go"
    fi
  done
  if [[ ${#stale[@]} -gt 0 ]]; then
    echo "stale, run hack/update-codegen.sh: ${stale[*]}" >&2
    exit 1
  fi
  echo "deep-copy functions are up to date (${#pkgs[@]} packages)"
  exit 0
fi
echo "wrote deep-copy functions for ${#pkgs[@]} packages (${#stale[@]} changed)"
