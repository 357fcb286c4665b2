#!/usr/bin/env bash
# A KMM-Hub fleet on kind, for people with Docker: a kind hub and N kind spokes, OCM installed with
# clusteradm (init, join, accept) and its policy framework addons, the images loaded into every
# node, the hub installed, and the spoke edition installed by the Policy of policies/ as users do.
# Writes <dir>/fleet.json for the e2e suites:
#   KMM_E2E_FLEET=<dir>/fleet.json npx vitest run --project e2e
# Not exercised in CI (kind cannot run on the CI machine); e2e/controlplane is what CI uses.
#
#   e2e/kind/up.sh [--spokes N] [--dir DIR] (--registry HOST[:PORT]/PREFIX [--tls-verify=false] | --manifests DIR)
# The hub and the Policy come from the manifests `npm run images -- --registry … --push --manifests DIR`
# renders, every image pinned by digest: with --registry this script runs that command (the kind
# nodes must reach the registry), with --manifests it applies what an earlier run wrote.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
spokes=2
dir=$root/.cache/kind-fleet
registry=
tls_verify=true
manifests=
usage="usage: $0 [--spokes N] [--dir DIR] (--registry HOST[:PORT]/PREFIX [--tls-verify=false] | --manifests DIR)"
while [ $# -gt 0 ]; do
  case $1 in
    --spokes) spokes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --registry) registry=$2; shift 2 ;;
    --tls-verify=*) tls_verify=${1#--tls-verify=}; shift ;;
    --manifests) manifests=$2; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
if [ -n "$registry" ] && [ -n "$manifests" ]; then echo "up.sh: give --registry or --manifests, not both" >&2; exit 2; fi
if [ -z "$registry" ] && [ -z "$manifests" ]; then echo "up.sh: the images are needed: $usage" >&2; exit 2; fi
[[ $spokes =~ ^[1-9][0-9]*$ ]] || { echo "up.sh: --spokes must be a positive number, got '$spokes'" >&2; exit 2; }
for tool in docker kind kubectl clusteradm; do
  command -v "$tool" >/dev/null || { echo "up.sh: $tool is required" >&2; exit 1; }
done
if [ -n "$registry" ]; then
  manifests=$dir/manifests
  (cd "$root" && npm run --silent images -- --registry "$registry" --tls-verify="$tls_verify" --push --manifests "$manifests")
fi
for f in kmm-hub.yaml install-kmm-spoke.yaml; do
  [ -f "$manifests/$f" ] || { echo "up.sh: $manifests/$f is missing: write it with npm run images -- --registry … --push --manifests $manifests" >&2; exit 1; }
done

hub=kmm-hub
spoke_names=()
for i in $(seq 1 "$spokes"); do spoke_names+=("spoke$i"); done
mkdir -p "$dir/logs"

kubeconfig() { echo "$dir/$1.kubeconfig"; }
ctx() { echo "kind-$1"; }

create() { # <kind name> <config>
  if kind get clusters | grep -qx "$1"; then
    echo "kind cluster $1 exists"
  else
    kind create cluster --name "$1" --config "$2" --wait 120s
  fi
  kind get kubeconfig --name "$1" >"$(kubeconfig "$1")"
}

create "$hub" "$here/hub.yaml"
for s in "${spoke_names[@]}"; do create "$s" "$here/spoke.yaml"; done

# OCM: the cluster manager on the hub, a klusterlet per spoke, accepted on the hub.
clusteradm init --wait --context "$(ctx "$hub")"
token=$(clusteradm get token --context "$(ctx "$hub")" | sed -n 's/.*--hub-token \([^ ]*\).*/\1/p' | head -n1)
apiserver=$(clusteradm get token --context "$(ctx "$hub")" | sed -n 's/.*--hub-apiserver \([^ ]*\).*/\1/p' | head -n1)
if [ -z "$token" ] || [ -z "$apiserver" ]; then echo "up.sh: could not read the join token from clusteradm" >&2; exit 1; fi
for s in "${spoke_names[@]}"; do
  clusteradm join --hub-token "$token" --hub-apiserver "$apiserver" --cluster-name "$s" \
    --force-internal-endpoint-lookup --wait --context "$(ctx "$s")"
done
spoke_list=$(IFS=,; echo "${spoke_names[*]}")
clusteradm accept --clusters "$spoke_list" --wait --context "$(ctx "$hub")"

# The policy framework: propagator on the hub, framework addon and config policy controller on the spokes.
clusteradm install hub-addon --names governance-policy-framework --context "$(ctx "$hub")"
clusteradm addon enable --names governance-policy-framework,config-policy-controller --clusters "$spoke_list" --context "$(ctx "$hub")"

# The hub, then the spoke edition through the Policy, both as rendered with the images' digests.
hubctl() { kubectl --kubeconfig "$(kubeconfig "$hub")" "$@"; }
hubctl apply --server-side -f "$root/crds/"
hubctl apply --server-side -f "$manifests/kmm-hub.yaml"
hubctl apply --server-side -f "$manifests/install-kmm-spoke.yaml"
hubctl -n kmm-hub-policies wait policy/install-kmm-spoke --for=jsonpath='{.status.compliant}'=Compliant --timeout=300s

# fleet.json, in the shape of e2e/fleet-types.ts (no extra users: kind has no static tokens).
server() { kubectl --kubeconfig "$(kubeconfig "$1")" config view --minify -o jsonpath='{.clusters[0].cluster.server}'; }
cluster_json() { # <kind name> <fleet name>
  printf '{ "name": "%s", "kubeconfig": "%s", "server": "%s", "logDir": "%s", "users": {} }' \
    "$2" "$(kubeconfig "$1")" "$(server "$1")" "$dir/logs"
}
{
  printf '{\n  "dir": "%s",\n  "hub": %s,\n  "spokes": [' "$dir" "$(cluster_json "$hub" hub)"
  sep=""
  for s in "${spoke_names[@]}"; do printf '%s\n    %s' "$sep" "$(cluster_json "$s" "$s")"; sep=","; done
  printf '\n  ]\n}\n'
} >"$dir/fleet.json"
echo "fleet ready: KMM_E2E_FLEET=$dir/fleet.json npx vitest run --project e2e"
