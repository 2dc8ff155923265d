#!/usr/bin/env bash
# Installs the identity-provider test tools (npm oidc-provider and jose, pinned by
# tests/idp/package-lock.json) into tests/idp/node_modules, only when that folder is missing
# or older than the lock file. The integration tests that run a real issuer need it. The
# pinned versions run on Node.js 18 and later, Debian 12's own nodejs (18.20) included;
# PORTCULLIS_NODE picks the node the tests run (tests/integration/harness.py).
#
#   bash scripts/idp-deps.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IDP="$ROOT/tests/idp"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  # The project's machines come with Node 20; elsewhere fall back to Debian's packages
  # (Debian 12: nodejs 18.20).
  echo "idp-deps: installing nodejs and npm from Debian"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 18 ]; then
  echo "idp-deps: node $(node --version) is too old: the test identity providers need Node.js 18 or later" >&2
  exit 1
fi

if [ -d "$IDP/node_modules" ] && [ "$IDP/node_modules" -nt "$IDP/package-lock.json" ]; then
  exit 0
fi
echo "idp-deps: npm ci in tests/idp"
npm ci --prefix "$IDP" --no-audit --no-fund --loglevel=error
touch "$IDP/node_modules"
