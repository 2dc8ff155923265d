#!/usr/bin/env bash
# Builds Portcullis with its tests and runs them all (unit and integration) with CTest.
#
#   bash scripts/test.sh
#
# Installs what is missing (scripts/deps.sh), builds with the dev preset (warnings as errors,
# tests) and runs CTest. Environment: BUILD_DIR, JOBS, VERBOSE, PORTCULLIS_BUILD_LOCK as for
# scripts/build.sh. Exits non-zero when the build fails, a test fails, or no test ran.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD_DIR="${BUILD_DIR:-build}"
export BUILD_DIR

bash scripts/deps.sh
PRESET=dev bash scripts/build.sh
# The real identity provider (npm oidc-provider) and token minting (npm jose) for the
# JWT and OAuth2 integration tests.
bash scripts/idp-deps.sh

if ! ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j "${JOBS:-2}"; then
  echo "test: FAILED (see the output above)" >&2
  exit 1
fi
