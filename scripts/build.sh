#!/usr/bin/env bash
# Installs what is missing (scripts/deps.sh), configures when needed and builds Portcullis.
#
#   bash scripts/build.sh [-DOPTION=VALUE ...]
#
# Environment:
#   BUILD_DIR             build folder, relative to the repo root or absolute (default: build)
#   BUILD_TYPE            CMAKE_BUILD_TYPE (default: RelWithDebInfo)
#   JOBS                  parallel compile jobs (default: 2)
#   VERBOSE=1             stream the compiler output instead of keeping it in BUILD_DIR/build.log
#   PORTCULLIS_BUILD_LOCK if set, a file to hold with flock(1) while compiling, so that
#                         several builds sharing one machine compile one at a time
#
# CMake is re-run only when the build folder has not been configured yet, or when the build
# type or one of the -D options given differs from what the folder was configured with
# (Ninja itself re-runs CMake when a CMakeLists.txt changes). ccache is used when installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD_DIR="${BUILD_DIR:-build}"
BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
JOBS="${JOBS:-2}"

die() { echo "build: $*" >&2; exit 1; }

for a in "$@"; do
  [[ "$a" == -D*=* ]] || die "unexpected argument '$a' (only -DOPTION=VALUE is accepted)"
done

bash scripts/deps.sh || die "installing dependencies failed (scripts/deps.sh)"

mkdir -p "$BUILD_DIR"
cache="$BUILD_DIR/CMakeCache.txt"

# A cache written by another generator or for another source tree (the repo was moved)
# cannot be reused: CMake would refuse it.
if [ -f "$cache" ]; then
  if ! grep -qx "CMAKE_GENERATOR:INTERNAL=Ninja" "$cache" ||
     ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$ROOT" "$cache"; then
    rm -rf "$cache" "$BUILD_DIR/CMakeFiles"
  fi
fi

# Does the cache already hold KEY=VALUE (written as KEY:TYPE=VALUE)?
cache_has() {
  local key="$1" value="$2"
  awk -v k="$key" -v v="$value" '
    index($0, k ":") == 1 { sub(/^[^=]*=/, ""); if ($0 == v) found = 1 }
    END { exit !found }' "$cache"
}

needs_configure=0
if [ ! -f "$cache" ] || [ ! -f "$BUILD_DIR/build.ninja" ]; then
  needs_configure=1
else
  for a in "-DCMAKE_BUILD_TYPE=$BUILD_TYPE" "$@"; do
    kv="${a#-D}"
    key="${kv%%=*}"; key="${key%%:*}"
    cache_has "$key" "${kv#*=}" || { needs_configure=1; break; }
  done
fi

if [ "$needs_configure" = 1 ]; then
  log="$BUILD_DIR/configure.log"
  if ! cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" >"$log" 2>&1; then
    cat "$log" >&2
    die "cmake configure failed (log: $BUILD_DIR/configure.log)"
  fi
fi

build_cmd=(cmake --build "$BUILD_DIR" -j "$JOBS")
if [ -n "${PORTCULLIS_BUILD_LOCK:-}" ]; then
  build_cmd=(flock "$PORTCULLIS_BUILD_LOCK" "${build_cmd[@]}")
fi

# Say something before a long compile; stay quiet when everything is up to date.
if ! ninja -C "$BUILD_DIR" -n 2>/dev/null | grep -q "^ninja: no work to do"; then
  echo "build: compiling in $BUILD_DIR ($BUILD_TYPE, -j$JOBS)"
fi

if [ "${VERBOSE:-0}" = 1 ]; then
  "${build_cmd[@]}" || die "build failed"
else
  log="$BUILD_DIR/build.log"
  if ! "${build_cmd[@]}" >"$log" 2>&1; then
    # Ninja prints the failing command and the compiler's diagnostics; show the tail.
    tail -n 200 "$log" >&2
    die "build failed (full log: $BUILD_DIR/build.log)"
  fi
fi
