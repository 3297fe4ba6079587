#!/usr/bin/env bash
# Makes this checkout ready to run: Debian packages (as root), the Node.js runtime and npm
# packages. Safe to run again; it does only what is missing. Called by `npm test` and `npm run demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg cmd; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done < scripts/debian-packages.txt

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run this as root to install them (sudo $0); without them Aloft runs machines with" >&2
    echo "       the 'process' driver only (no isolation) and the tests that need them are skipped." >&2
  fi
fi

# npm runs on whatever Node the machine has; the project's own runtime (Node 24, the `node`
# package) lands in node_modules/.bin and runs everything else.
# `npm install` rather than `npm ci`: npm 11 refuses some lock files (optional per-platform
# packages of msgpackr) in `ci` that `install` accepts and keeps to.
stamp=node_modules/.package-lock.json
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" || package.json -nt "$stamp" ]]; then
  echo "setup: installing npm packages" >&2
  npm install --no-audit --no-fund --loglevel=error >&2
fi

node_bin=node_modules/.bin/node
major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
if ((major < 24)); then
  echo "setup: node_modules/.bin/node is Node $major; Aloft needs 24 or newer (rm -rf node_modules and run again)" >&2
  exit 1
fi
