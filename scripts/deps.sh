#!/usr/bin/env bash
# Installs the Debian 12 packages Portcullis needs to build, test and benchmark.
# Only what is missing is installed, so a second run costs a few dpkg queries.
set -euo pipefail

BUILD_PKGS=(build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libssl-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libsqlite3-dev libpq-dev libhiredis-dev zlib1g-dev libgtest-dev libgoogle-perftools-dev
  clang-14 libclang-rt-14-dev python3 curl openssl)
# The integration tests start a real PostgreSQL 15 (tests/integration/pg.py: initdb and
# pg_ctl from /usr/lib/postgresql/15/bin, as an unprivileged user when run as root), and
# nginx as the https upstream of the upstream TLS tests (tests/integration/nginx_tls.py;
# also the benchmark's peer), and Redis for the shared rate-limit store (tests/integration/redis.py
# starts redis-server on a free port in a temporary directory; the package's own service is
# not used).
TEST_PKGS=(postgresql nginx-light redis-server)
BENCH_PKGS=(haproxy wrk)

want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")
[ "${1:-}" = "--bench" ] && want+=("${BENCH_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
