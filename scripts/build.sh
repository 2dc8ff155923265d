#!/usr/bin/env bash
# Configures and builds Portcullis with one of the CMake presets (CMakePresets.json). It
# installs nothing: scripts/deps.sh does (the README's two commands call both).
#
#   bash scripts/build.sh [-DOPTION=VALUE ...]
#
# Environment:
#   PRESET                dev (default: warnings as errors, tests, build/), release
#                         (build-release/), asan (ASan+UBSan, tests, build-asan/), fuzz
#                         (clang, the libFuzzer targets only, build-fuzz/; scripts/fuzz.sh)
#   BUILD_DIR             another build folder for that preset (relative to the repo root)
#   JOBS                  parallel compile jobs (default: 2)
#   VERBOSE=1             stream the compiler output instead of keeping it in the build log
#   PORTCULLIS_BUILD_LOCK if set, a file to hold with flock(1) while compiling, so that
#                         several builds sharing one machine compile one at a time
#
# CMake itself decides whether the folder needs configuring again; ccache is used when
# installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PRESET="${PRESET:-dev}"
JOBS="${JOBS:-2}"

die() { echo "build: $*" >&2; exit 1; }

for a in "$@"; do
  [[ "$a" == -D*=* ]] || die "unexpected argument '$a' (only -DOPTION=VALUE is accepted)"
done
command -v cmake >/dev/null && command -v ninja >/dev/null ||
  die "cmake and ninja are missing: run 'bash scripts/deps.sh' first"

configure=(cmake --preset "$PRESET")
[ -n "${BUILD_DIR:-}" ] && configure+=(-B "$BUILD_DIR")
dir="${BUILD_DIR:-}"
if [ -z "$dir" ]; then
  case "$PRESET" in
    dev) dir=build ;;
    release) dir=build-release ;;
    asan) dir=build-asan ;;
    fuzz) dir=build-fuzz ;;
    *) die "unknown preset '$PRESET' (dev, release, asan, fuzz)" ;;
  esac
fi
mkdir -p "$dir"
log="$dir/configure.log"
if ! "${configure[@]}" "$@" >"$log" 2>&1; then
  cat "$log" >&2
  die "cmake configure failed (log: $log)"
fi

build_cmd=(cmake --build "$dir" -j "$JOBS")
# The fuzz preset builds its fuzzers only, not the gateway and its tests.
[ "$PRESET" = fuzz ] && build_cmd+=(--target fuzzers)
if [ -n "${PORTCULLIS_BUILD_LOCK:-}" ]; then
  build_cmd=(flock "$PORTCULLIS_BUILD_LOCK" "${build_cmd[@]}")
fi

# Say something before a long compile; stay quiet when everything is up to date.
if ! ninja -C "$dir" -n 2>/dev/null | grep -q "^ninja: no work to do"; then
  echo "build: compiling in $dir (preset $PRESET, -j$JOBS)"
fi

if [ "${VERBOSE:-0}" = 1 ]; then
  "${build_cmd[@]}" || die "build failed"
else
  log="$dir/build.log"
  if ! "${build_cmd[@]}" >"$log" 2>&1; then
    # Ninja prints the failing command and the compiler's diagnostics; show the tail.
    tail -n 200 "$log" >&2
    die "build failed (full log: $log)"
  fi
fi
