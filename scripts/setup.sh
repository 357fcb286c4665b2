#!/usr/bin/env bash
# Sets up a fresh Debian machine for KMM-Hub: the Debian packages the tests use, the npm
# dependencies (Node 24 comes from npm), and the local control plane built from Go modules.
# Safe to run again: each step skips what is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' .ci/apt-packages.txt | grep -v '^$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v go >/dev/null || { echo "setup: Go (>= 1.25) is required to build the local control plane" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup: npm is required (any Node.js with npm; Node 24 itself comes from npm)" >&2; exit 1; }

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash e2e/controlplane/build.sh
# kaniko's executor for the hub's build Jobs, from its Go module (cached by a stamp like the above).
bash images/kaniko/build.sh >/dev/null
