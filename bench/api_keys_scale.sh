#!/usr/bin/env bash
# API keys at scale: the gateway with a store of 10 keys and with a store of COUNT keys
# (1,000,000 by default), side by side in one run:
#
#   bash bench/api_keys_scale.sh
#
# For each store: time from start to /readyz answering 200, the gateway's RSS once ready, and
# req/s through an api_key route with one repeated key and with SAMPLES keys rotating on every
# request (bench/peers/api-keys.lua: each request a full checksum + HMAC), `wrk -t1 -c32`,
# REPEAT runs each (median). Stores are made by bench/gen_keys.py (real keys, HMAC with the
# pepper) in a temporary directory and removed at the end.
#
# Environment: COUNT=1000000, SAMPLES=100, DURATION=5, REPEAT=3, JOBS/VERBOSE as scripts/build.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COUNT="${COUNT:-1000000}"
SAMPLES="${SAMPLES:-100}"
DURATION="${DURATION:-5}"
REPEAT="${REPEAT:-3}"
PORT=9010
ADMIN=9911

die() { echo "bench: $*" >&2; exit 1; }
for v in COUNT SAMPLES DURATION REPEAT; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done

bash scripts/deps.sh --bench || die "installing dependencies failed (scripts/deps.sh --bench)"
PRESET=release bash scripts/build.sh
GATEWAY="$ROOT/build-release/portcullis"
for tool in nginx wrk curl python3; do command -v "$tool" >/dev/null || die "$tool not found"; done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-keys.XXXXXX")"
upstream_pid=""
gateway_pid=""
cleanup() {
  [ -z "$gateway_pid" ] || { kill "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; }
  [ -z "$upstream_pid" ] || { kill "$upstream_pid" 2>/dev/null || true; wait "$upstream_pid" 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in 9001 $PORT $ADMIN; do port_in_use "$p" && die "port $p is already in use"; done

export PORTCULLIS_KEY_PEPPER=bench-pepper-0123456789abcdef PORTCULLIS_BIN="$GATEWAY"
for n in 10 "$COUNT"; do
  echo "bench: making a store of $n keys" >&2
  python3 bench/gen_keys.py --store "$tmp/keys-$n.db" --count "$n" --samples "$tmp/samples-$n.txt" \
    --sample-count "$SAMPLES" >&2 || die "bench/gen_keys.py failed"
  cat >"$tmp/gateway-$n.yaml" <<YAML
server: { listen: 127.0.0.1:$PORT, workers: 1 }
admin: { listen: 127.0.0.1:$ADMIN }
upstreams: { up: { url: http://127.0.0.1:9001 } }
api_keys: { store: "sqlite://$tmp/keys-$n.db", pepper: "\${PORTCULLIS_KEY_PEPPER}" }
routes:
  - { name: apikey, match: { path_prefix: / }, upstream: up, auth: [api_key] }
log: { level: warn, access: off }
YAML
done

nginx -e "$tmp/nginx-early.log" -c "$ROOT/bench/peers/upstream.conf" >"$tmp/nginx.log" 2>&1 &
upstream_pid=$!
for _ in $(seq 100); do port_in_use 9001 && break; sleep 0.1; done

median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }

declare -A READY RSS ONE MANY
for ((r = 1; r <= REPEAT; r++)); do
  for n in 10 "$COUNT"; do
    t0=$(date +%s.%N)
    "$GATEWAY" run -c "$tmp/gateway-$n.yaml" >"$tmp/gateway-$n.log" 2>&1 &
    gateway_pid=$!
    until curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null 2>&1; do
      kill -0 "$gateway_pid" 2>/dev/null || { cat "$tmp/gateway-$n.log" >&2; die "the gateway exited"; }
      sleep 0.02
    done
    t1=$(date +%s.%N)
    READY[$n]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') "
    RSS[$n]+="$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$gateway_pid/status") "
    key="$(head -1 "$tmp/samples-$n.txt")"
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $key" "http://127.0.0.1:$PORT/")"
    [ "$code" = 200 ] || die "a sample key of the $n-key store answered $code"
    wrk -t1 -c32 -d"${DURATION}s" -H "X-API-Key: $key" "http://127.0.0.1:$PORT/" >"$tmp/one.txt"
    API_KEYS="$tmp/samples-$n.txt" wrk -t1 -c32 -d"${DURATION}s" -s bench/peers/api-keys.lua \
      "http://127.0.0.1:$PORT/" >"$tmp/many.txt"
    for f in one many; do
      ! grep -qE '^ *(Non-2xx|Socket errors)' "$tmp/$f.txt" || { cat "$tmp/$f.txt" >&2; die "errors in the $f-key run"; }
    done
    ONE[$n]+="$(rps "$tmp/one.txt") "
    MANY[$n]+="$(rps "$tmp/many.txt") "
    kill "$gateway_pid"
    wait "$gateway_pid" 2>/dev/null || true
    gateway_pid=""
  done
done

printf '\nAPI keys at scale: wrk -t1 -c32 -d%ss, median of %s run(s), %s cores\n\n' "$DURATION" "$REPEAT" "$(nproc)"
printf '%-12s | %9s | %8s | %14s | %18s\n' keys "ready (s)" "RSS MiB" "one key req/s" "$SAMPLES keys req/s"
printf '%-12s-|-%9s-|-%8s-|-%14s-|-%18s\n' ------------ --------- -------- -------------- ------------------
for n in 10 "$COUNT"; do
  printf '%-12s | %9s | %8s | %14.0f | %18.0f\n' "$n" "$(median "${READY[$n]}")" "$(median "${RSS[$n]}")" \
    "$(median "${ONE[$n]}")" "$(median "${MANY[$n]}")"
done
awk -v a="$(median "${ONE[$COUNT]}")" -v b="$(median "${ONE[10]}")" -v c="$(median "${MANY[$COUNT]}")" \
  -v d="$(median "${MANY[10]}")" -v n="$COUNT" \
  'BEGIN { printf "\n%s keys / 10 keys: one key %.2fx, rotating keys %.2fx\n", n, a / b, c / d }'
