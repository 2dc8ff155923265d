#!/usr/bin/env bash
# Installs the identity-provider test tools (npm oidc-provider and jose, pinned by
# tests/idp/package-lock.json) into tests/idp/node_modules, only when that folder is missing
# or older than the lock file. The integration tests that run a real issuer need it.
#
#   bash scripts/idp-deps.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IDP="$ROOT/tests/idp"

command -v node >/dev/null || { echo "idp-deps: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "idp-deps: npm is not installed" >&2; exit 1; }

if [ -d "$IDP/node_modules" ] && [ "$IDP/node_modules" -nt "$IDP/package-lock.json" ]; then
  exit 0
fi
echo "idp-deps: npm ci in tests/idp"
npm ci --prefix "$IDP" --no-audit --no-fund --loglevel=error
touch "$IDP/node_modules"
