#!/usr/bin/env bash
# Builds the local control plane from Go modules (no downloads of prebuilt binaries):
#   kcp           kube-apiserver, kube-controller-manager, kube-scheduler and etcd (k8s.io/kubernetes)
#   registration  OCM hub registration controller and spoke registration agent
#   work          OCM work agent
#   placement     OCM placement controller (hub)
#   kwok          node and pod simulator
#   governance-policy-propagator, config-policy-controller   the OCM policy framework (go/policy)
# and records where the CRDs and kwok stages live in the Go module cache.
# The result is cached under .cache/controlplane/<stamp>; a second run only checks the stamp.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${KMM_CACHE_DIR:-$root/.cache}/controlplane
src=$here/go

K8S_VERSION=v1.34.4
KWOK=sigs.k8s.io/kwok@v0.7.0
# The policy framework is built from go/policy (pinned there, v0.18.0); its CRDs are read from
# these modules, and PlacementRule's from the subscription module (not built).
POLICY_PROPAGATOR=open-cluster-management.io/governance-policy-propagator@v0.18.0
CONFIG_POLICY=open-cluster-management.io/config-policy-controller@v0.18.0
SUBSCRIPTION=open-cluster-management.io/multicloud-operators-subscription@v0.16.0

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/kcp/main.go" "$src/policy/go.mod" "$src/policy/go.sum" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
# (the pinned versions above are part of this script, so they are part of the stamp)
out=$cache/$stamp
if [ -f "$out/manifest.json" ]; then
  echo "control plane up to date: $out"
  ln -sfn "$stamp" "$cache/current"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: Go is required (go >= 1.25)" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

cd "$src"
echo "building kcp ($K8S_VERSION) …"
go build -trimpath -ldflags "$ldflags" -o "$tmp/kcp" ./kcp
echo "building OCM registration, work and placement …"
go build -trimpath -ldflags "-s -w" -o "$tmp/" \
  open-cluster-management.io/ocm/cmd/registration \
  open-cluster-management.io/ocm/cmd/work \
  open-cluster-management.io/ocm/cmd/placement
policy_start=$(date +%s)
echo "building the policy framework (propagator, config policy controller) …"
(cd "$src/policy" && go build -trimpath -ldflags "-s -w" -o "$tmp/" \
  open-cluster-management.io/governance-policy-propagator \
  open-cluster-management.io/config-policy-controller)
echo "policy framework built in $(( $(date +%s) - policy_start ))s"
echo "building kwok ($KWOK) …"
(cd "$tmp" && GOFLAGS='' GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "${KWOK%@*}/cmd/kwok@${KWOK#*@}")

moddir() { go list -m -f '{{.Dir}}' "$1"; }
dl() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }
ocm_api=$(moddir open-cluster-management.io/api)
ocm=$(moddir open-cluster-management.io/ocm)
kwok_dir=$(cd "$tmp" && dl "$KWOK")
propagator=$(cd "$tmp" && dl "$POLICY_PROPAGATOR")
configpolicy=$(cd "$tmp" && dl "$CONFIG_POLICY")
subscription=$(cd "$tmp" && dl "$SUBSCRIPTION")
for d in "$ocm_api" "$ocm" "$kwok_dir" "$propagator" "$configpolicy" "$subscription"; do
  [ -d "$d" ] || { echo "build.sh: module folder missing: '$d'" >&2; exit 1; }
done

cat > "$tmp/manifest.json" <<JSON
{
  "kubernetesVersion": "$K8S_VERSION",
  "bin": {
    "kcp": "$out/kcp", "registration": "$out/registration", "work": "$out/work", "placement": "$out/placement", "kwok": "$out/kwok",
    "policyPropagator": "$out/governance-policy-propagator", "configPolicyController": "$out/config-policy-controller"
  },
  "modules": {
    "ocmApi": "$ocm_api",
    "ocm": "$ocm",
    "kwok": "$kwok_dir",
    "policyPropagator": "$propagator",
    "configPolicyController": "$configpolicy",
    "subscription": "$subscription"
  }
}
JSON
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
ln -sfn "$stamp" "$cache/current"
# Older builds are of no use once the stamp moved on.
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$stamp" -exec rm -rf {} +
echo "control plane built in $(( $(date +%s) - start ))s: $out ($(du -sh "$out" | cut -f1))"
