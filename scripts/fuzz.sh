#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, the `fuzz` preset: clang, ASan+UBSan, build-fuzz/)
# and runs each for a while.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS  per target (default 30). TARGET: request_head path jwt api_key introspection
#          upstream_response config proxy_protocol client_cert store_url redis_reply
#          signing_key (default:
#          all of them, one after the other).
#
# Each target starts from its seed corpus (tests/fuzz/corpus/TARGET, committed) plus what
# earlier runs found (build-fuzz/corpus/TARGET, not committed; new inputs go there). A crash,
# leak, sanitizer report, timeout or out-of-memory stops that target, leaves the input in
# build-fuzz/artifacts/TARGET/ and makes the script exit non-zero after the other targets ran.
# Reproduce with: build-fuzz/tests/fuzz/TARGET_fuzz build-fuzz/artifacts/TARGET/crash-...
#
# Environment: JOBS and PORTCULLIS_BUILD_LOCK as for scripts/build.sh; FUZZ_ARGS, more
# libFuzzer flags for every target (e.g. "-only_ascii=1").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL=(request_head path jwt api_key introspection upstream_response config proxy_protocol client_cert store_url redis_reply
  signing_key)
SECONDS_PER_TARGET="${1:-30}"
[[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a number" >&2; exit 2; }
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${ALL[@]}")
for t in "${targets[@]}"; do
  [ -d "tests/fuzz/corpus/$t" ] || { echo "fuzz: unknown target '$t' (${ALL[*]})" >&2; exit 2; }
done

command -v clang++ >/dev/null || { echo "fuzz: clang++ is missing: run 'bash scripts/deps.sh'" >&2; exit 1; }
PRESET=fuzz bash scripts/build.sh

dir=build-fuzz
# Any sanitizer report is fatal; leaks are findings too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t"
  log="$dir/fuzz-$t.log"
  # -timeout: one input taking longer than 10 s is a finding (a hang), not a slow machine.
  # shellcheck disable=SC2086
  if "$dir/tests/fuzz/${t}_fuzz" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t/" \
      ${FUZZ_ARGS:-} "$dir/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $t ok (${runs:-?} runs in ${SECONDS_PER_TARGET}s)"
  else
    echo "fuzz: $t FAILED (log: $log)" >&2
    grep -E "ERROR|runtime error|SUMMARY|Test unit written|==[0-9]+==" "$log" | head -n 20 >&2 || true
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs in $dir/artifacts/)" >&2
  exit 1
fi
