#!/usr/bin/env bash
# Deletes the kind clusters of e2e/kind/up.sh (exporting their logs first) and its folder.
#   e2e/kind/down.sh [--spokes N] [--dir DIR]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
spokes=2
dir=$root/.cache/kind-fleet
while [ $# -gt 0 ]; do
  case $1 in
    --spokes) spokes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "usage: $0 [--spokes N] [--dir DIR]" >&2; exit 2 ;;
  esac
done
[[ $spokes =~ ^[1-9][0-9]*$ ]] || { echo "down.sh: --spokes must be a positive number, got '$spokes'" >&2; exit 2; }

clusters=(kmm-hub)
for i in $(seq 1 "$spokes"); do clusters+=("spoke$i"); done
logs=$(mktemp -d)
for c in "${clusters[@]}"; do
  kind get clusters | grep -qx "$c" || continue
  kind export logs "$logs/$c" --name "$c" >/dev/null || true
  kind delete cluster --name "$c"
done
echo "logs of the deleted clusters: $logs"
rm -rf "$dir"
