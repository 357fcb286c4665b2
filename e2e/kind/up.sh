#!/usr/bin/env bash
# A KMM-Hub fleet on kind, for people with Docker: a kind hub and N kind spokes, OCM installed with
# clusteradm (init, join, accept) and its policy framework addons, the images loaded into every
# node, the hub installed, and the spoke edition installed by the Policy of policies/ as users do.
# Writes <dir>/fleet.json for the e2e suites:
#   KMM_E2E_FLEET=<dir>/fleet.json npx vitest run --project e2e
# Not exercised in CI (kind cannot run on the CI machine); e2e/controlplane is what CI uses.
#
#   e2e/kind/up.sh [--spokes N] [--dir DIR]
#   images: KMM_HUB_IMAGE, KMM_SPOKE_IMAGE, KMM_WORKER_IMAGE (local Docker images, loaded with `kind load`)
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
[[ $spokes =~ ^[1-9][0-9]*$ ]] || { echo "up.sh: --spokes must be a positive number, got '$spokes'" >&2; exit 2; }
for tool in docker kind kubectl clusteradm; do
  command -v "$tool" >/dev/null || { echo "up.sh: $tool is required" >&2; exit 1; }
done
hub_image=${KMM_HUB_IMAGE:-}
spoke_image=${KMM_SPOKE_IMAGE:-}
worker_image=${KMM_WORKER_IMAGE:-}

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

for image in "$hub_image" "$spoke_image" "$worker_image"; do
  [ -n "$image" ] || continue
  for c in "$hub" "${spoke_names[@]}"; do kind load docker-image "$image" --name "$c"; done
done

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

# The hub, then the spoke edition through the Policy (with the loaded images when given).
hubctl() { kubectl --kubeconfig "$(kubeconfig "$hub")" "$@"; }
hubctl apply --server-side -f "$root/crds/"
hubctl apply --server-side -f "$root/hub/deploy/rbac.yaml" -f "$root/hub/deploy/deployment.yaml"
if [ -n "$hub_image" ]; then hubctl -n kmm-hub set image deployment/kmm-hub "*=$hub_image"; fi
policy=$root/policies/install-kmm-spoke.yaml
if [ -n "$spoke_image" ] || [ -n "$worker_image" ]; then
  policy=$dir/install-kmm-spoke.yaml
  args=()
  [ -n "$spoke_image" ] && args+=(--image "$spoke_image")
  [ -n "$worker_image" ] && args+=(--worker-image "$worker_image")
  (cd "$root" && npm run --silent gen:policy -- "${args[@]}" --out "$policy")
fi
hubctl apply --server-side -f "$policy"
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
