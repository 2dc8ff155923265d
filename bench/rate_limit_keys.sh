#!/usr/bin/env bash
# Memory of the local rate limiter with many distinct limited keys (issue 13):
#
#   bash bench/rate_limit_keys.sh
#
# One Release gateway (1 worker) in front of portcullis-echo, with a route limited per client
# address (`key: ip`, a budget never reached) and the loopback peer trusted as a proxy, so
# each request's X-Forwarded-For is its client address. wrk sends COUNT requests, each from
# another address (bench/peers/distinct-ip.lua counts through 10.0.0.0/8 and on), so the
# limiter tracks COUNT keys. The gateway's resident memory (VmRSS) is read before, after, and
# with the same traffic on an unlimited route, which separates the limiter's share from
# the rest of the gateway (buffers, the allocator's caches). /metrics' portcullis_rate_limit_keys
# confirms how many keys were tracked.
#
# Environment: COUNT=1000000 distinct keys; PORTCULLIS_BIN (a built gateway; its folder must
# hold portcullis-echo) instead of building build-release/; JOBS/VERBOSE as scripts/build.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COUNT="${COUNT:-1000000}"
[[ "$COUNT" =~ ^[0-9]+$ ]] && [ "$COUNT" -ge 1 ] || { echo "COUNT must be a positive number" >&2; exit 2; }
die() { echo "rate_limit_keys: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk is needed (bash scripts/deps.sh --bench)"

if [ -z "${PORTCULLIS_BIN:-}" ]; then
  PRESET=release bash scripts/build.sh >/dev/null
  PORTCULLIS_BIN=build-release/portcullis
fi
GATEWAY="$PORTCULLIS_BIN"
ECHO_BIN="$(dirname "$GATEWAY")/portcullis-echo"
[ -x "$GATEWAY" ] && [ -x "$ECHO_BIN" ] || die "$GATEWAY or $ECHO_BIN is missing"

GW_PORT=9020 ADMIN_PORT=9920 ECHO_PORT=9021
tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-rl-keys.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/gateway.yaml" <<EOF
server:
  listen: 127.0.0.1:$GW_PORT
  workers: 1
  trusted_proxies: [127.0.0.1/32]
admin:
  listen: 127.0.0.1:$ADMIN_PORT
upstreams:
  up: { url: http://127.0.0.1:$ECHO_PORT }
rate_limits:
  per-address: { requests: 1000000000, per: 1h, key: ip }
rate_limit_local: { max_keys: $((COUNT + 1000)), state_file: off }
routes:
  - { name: limited, match: { path_prefix: /limited }, upstream: up, auth: none, rate_limits: [per-address] }
  - { name: open, match: { path_prefix: / }, upstream: up, auth: none }
log: { level: warn, access: off }
EOF
"$GATEWAY" check -c "$tmp/gateway.yaml" >/dev/null || die "the gateway refused its config"

"$ECHO_BIN" --listen "127.0.0.1:$ECHO_PORT" >"$tmp/echo.log" 2>&1 &
pids+=($!)
"$GATEWAY" run -c "$tmp/gateway.yaml" >"$tmp/gateway.log" 2>&1 &
GW_PID=$!
pids+=($GW_PID)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null || die "the gateway did not become ready"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$GW_PID/status"; }
tracked() {
  curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk '/^portcullis_rate_limit_keys / { printf "%d", $2 }'
}
answered() {  # requests the gateway has answered on route $1, from /metrics
  curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk -v r="route=\"$1\"" 'index($0, "portcullis_requests_total{") == 1 && index($0, r) { n += $2 }
                              END { printf "%d", n }'
}
# COUNT requests over 16 connections, each from its own address. wrk's threads stop sending
# once COUNT answers came back (the Lua script counts), but wrk itself waits for its -d: the
# gateway's request counter says when the route has answered COUNT, and wrk is stopped then.
send() {
  local route="$1" path="$2"
  COUNT="$COUNT" wrk -t1 -c16 -d3600s -s bench/peers/distinct-ip.lua \
    "http://127.0.0.1:$GW_PORT$path" >"$tmp/wrk-$route.log" 2>&1 &
  local wrk_pid=$! start=$SECONDS
  while [ "$(answered "$route")" -lt "$COUNT" ]; do
    kill -0 "$wrk_pid" 2>/dev/null || die "wrk ended early: $(cat "$tmp/wrk-$route.log")"
    sleep 0.5
  done
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" 2>/dev/null || true
  echo "$route: $COUNT requests in $((SECONDS - start)) s"
}

base=$(rss_kib)
send open /open/
after_open=$(rss_kib)
send limited /limited/
after_limited=$(rss_kib)
keys=$(tracked)

echo "distinct addresses sent:       $COUNT"
echo "keys tracked (metric):         $keys"
echo "RSS at start:                  $((base / 1024)) MiB"
echo "RSS after $COUNT on /open/:    $((after_open / 1024)) MiB"
echo "RSS after $COUNT on /limited/: $((after_limited / 1024)) MiB"
if [ "${keys:-0}" -gt 0 ]; then
  echo "limiter share:                 $(((after_limited - after_open) * 1024 / keys)) bytes per key"
fi
