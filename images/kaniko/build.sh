#!/usr/bin/env bash
# Builds kaniko's executor (github.com/GoogleContainerTools/kaniko/cmd/executor, the version pinned
# in this folder's go.mod) from the Go module proxy, statically, as upstream's Makefile does.
# Cached under .cache/kaniko/<stamp>/executor; a second run only checks the stamp. Prints the path.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${KMM_CACHE_DIR:-$root/.cache}/kaniko

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

version=$(sed -n 's/^[[:space:]]*github.com\/GoogleContainerTools\/kaniko \(v[^ ]*\).*/\1/p' "$here/go.mod")
[ -n "$version" ] || { echo "kaniko/build.sh: no kaniko version in $here/go.mod" >&2; exit 1; }
stamp=$(cat "$here/go.mod" "$here/go.sum" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
out=$cache/$stamp
if [ -x "$out/executor" ]; then
  ln -sfn "$stamp" "$cache/current"
  echo "$out/executor"
  exit 0
fi

command -v go >/dev/null || { echo "kaniko/build.sh: Go is required (go >= 1.24)" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
(cd "$here" && go build -trimpath \
  -ldflags "-s -w -X github.com/GoogleContainerTools/kaniko/pkg/version.version=$version" \
  -o "$tmp/executor" github.com/GoogleContainerTools/kaniko/cmd/executor) >&2
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
ln -sfn "$stamp" "$cache/current"
echo "kaniko executor $version built in $(( $(date +%s) - start )) s" >&2
echo "$out/executor"
