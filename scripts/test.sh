#!/usr/bin/env bash
# Builds Portcullis with its tests and runs them all (unit and integration) with CTest, then
# again under AddressSanitizer + UndefinedBehaviorSanitizer, then a short run of every fuzzer.
#
#   bash scripts/test.sh
#
# 1. dev preset (warnings as errors, tests, build/): the whole CTest suite.
# 2. asan preset (ASan+UBSan+LeakSanitizer, tests, build-asan/): the whole CTest suite again;
#    the integration tests then run the sanitized gateway (CTest passes its path), and a
#    sanitizer report makes the gateway exit non-zero, which the tests assert against.
# 3. fuzz preset (clang libFuzzer, build-fuzz/): each target for FUZZ_SECONDS (default 20).
#
# Environment: JOBS, VERBOSE, PORTCULLIS_BUILD_LOCK as for scripts/build.sh; SANITIZERS=0
# stops after step 1 (a quick local run; CI runs all three); FUZZ_SECONDS. Exits non-zero
# when a build fails, a test fails, no test ran, a sanitizer reports or a fuzzer finds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Each preset has its own folder; an inherited BUILD_DIR would make them share one.
unset BUILD_DIR

elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

bash scripts/deps.sh
# The real identity provider (npm oidc-provider) and token minting (npm jose) for the
# JWT and OAuth2 integration tests.
bash scripts/idp-deps.sh

t0=$(date +%s)
PRESET=dev bash scripts/build.sh
if ! ctest --test-dir build --output-on-failure --no-tests=error -j "${JOBS:-2}"; then
  echo "test: FAILED (see the output above)" >&2
  exit 1
fi
echo "test: dev build and suite passed in $(elapsed "$t0")"
[ "${SANITIZERS:-1}" = 0 ] && exit 0

t1=$(date +%s)
PRESET=asan bash scripts/build.sh
# Any finding is fatal: ASan stops at the first error, UBSan too (the build also has
# -fno-sanitize-recover), LeakSanitizer reports at exit and turns the exit code non-zero.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:strict_init_order=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

if ! ctest --test-dir build-asan --output-on-failure --no-tests=error -j "${JOBS:-2}"; then
  echo "test: FAILED under ASan/UBSan (see the output above)" >&2
  exit 1
fi
echo "test: asan build and suite passed in $(elapsed "$t1")"

t2=$(date +%s)
if ! bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"; then
  echo "test: FAILED: a fuzzer found something (see the output above)" >&2
  exit 1
fi
echo "test: fuzz build and smoke passed in $(elapsed "$t2")"
