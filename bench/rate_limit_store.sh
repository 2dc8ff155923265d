#!/usr/bin/env bash
# Rate limits on the shared store: the same route with no limit, with a limit on the local
# (in-process) store and with a limit on Redis (rate_limit_store), one worker each, in one run:
#
#   bash bench/rate_limit_store.sh
#
# The limits (LIMIT per minute, keyed by the client's address) are high enough never to
# refuse: what is measured is the cost of counting. Two gateways run side by side (the store
# is global): 9010 without a store (routes /none and /local), 9012 with Redis (route /redis;
# redis-server on 9379 in a temporary directory). Each target gets `wrk -t1 -c32 -d${DURATION}s`
# REPEAT times, interleaved; the table shows medians, the ratio to /none, and the Redis calls
# per 1,000 requests (portcullis_redis_calls_total over the requests the Redis gateway served).
#
# Environment: DURATION=5, REPEAT=3, LIMIT=1000000000, JOBS/VERBOSE as scripts/build.sh;
# PORTCULLIS_BIN: use that gateway binary instead of building the release one.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-5}"
REPEAT="${REPEAT:-3}"
LIMIT="${LIMIT:-1000000000}"
LOCAL_PORT=9010
LOCAL_ADMIN=9911
REDIS_GW_PORT=9012
REDIS_GW_ADMIN=9912
REDIS_PORT=9379

die() { echo "bench: $*" >&2; exit 1; }
for v in DURATION REPEAT LIMIT; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done

if [ -n "${PORTCULLIS_BIN:-}" ]; then
  GATEWAY="$PORTCULLIS_BIN"  # a gateway already built (a quick check of this script)
else
  bash scripts/deps.sh --bench || die "installing dependencies failed (scripts/deps.sh --bench)"
  PRESET=release bash scripts/build.sh
  GATEWAY="$ROOT/build-release/portcullis"
fi
for tool in nginx wrk curl redis-server; do command -v "$tool" >/dev/null || die "$tool not found"; done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-rl.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in 9001 $LOCAL_PORT $LOCAL_ADMIN $REDIS_GW_PORT $REDIS_GW_ADMIN $REDIS_PORT; do
  port_in_use "$p" && die "port $p is already in use"
done

nginx -e "$tmp/nginx-early.log" -c "$ROOT/bench/peers/upstream.conf" >"$tmp/nginx.log" 2>&1 &
pids+=($!)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
  --daemonize no --logfile "$tmp/redis.log" &
pids+=($!)
for _ in $(seq 100); do port_in_use 9001 && port_in_use "$REDIS_PORT" && break; sleep 0.1; done

limit="{ requests: $LIMIT, per: 1m, key: ip }"
cat >"$tmp/local.yaml" <<YAML
server: { listen: 127.0.0.1:$LOCAL_PORT, workers: 1 }
admin: { listen: 127.0.0.1:$LOCAL_ADMIN }
upstreams: { up: { url: http://127.0.0.1:9001 } }
rate_limits: { high: $limit }
routes:
  - { name: none, match: { path_prefix: /none }, upstream: up, auth: none }
  - { name: local, match: { path_prefix: /local }, upstream: up, auth: none, rate_limits: [high] }
log: { level: warn, access: off }
YAML
cat >"$tmp/redis.yaml" <<YAML
server: { listen: 127.0.0.1:$REDIS_GW_PORT, workers: 1 }
admin: { listen: 127.0.0.1:$REDIS_GW_ADMIN }
upstreams: { up: { url: http://127.0.0.1:9001 } }
rate_limits: { high: $limit }
rate_limit_store: { url: "redis://127.0.0.1:$REDIS_PORT/0", timeout_ms: 50, on_error: local }
routes:
  - { name: redis, match: { path_prefix: /redis }, upstream: up, auth: none, rate_limits: [high] }
log: { level: warn, access: off }
YAML
for g in local redis; do
  "$GATEWAY" run -c "$tmp/$g.yaml" >"$tmp/gateway-$g.log" 2>&1 &
  pids+=($!)
done
for admin in $LOCAL_ADMIN $REDIS_GW_ADMIN; do
  until curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1; do sleep 0.05; done
done

declare -A URL=([none]="http://127.0.0.1:$LOCAL_PORT/none/" [local]="http://127.0.0.1:$LOCAL_PORT/local/"
  [redis]="http://127.0.0.1:$REDIS_GW_PORT/redis/")
for t in none local redis; do
  code="$(curl -s -o /dev/null -w '%{http_code}' "${URL[$t]}")"
  [ "$code" = 200 ] || die "$t answered $code"
done

median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
metric() { curl -s "http://127.0.0.1:$REDIS_GW_ADMIN/metrics" | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'; }

declare -A RPS
for ((r = 1; r <= REPEAT; r++)); do
  for t in none local redis; do
    wrk -t1 -c32 -d"${DURATION}s" "${URL[$t]}" >"$tmp/$t.txt"
    ! grep -qE '^ *(Non-2xx|Socket errors)' "$tmp/$t.txt" || { cat "$tmp/$t.txt" >&2; die "errors in the $t run"; }
    RPS[$t]+="$(rps "$tmp/$t.txt") "
  done
done
calls="$(metric 'portcullis_redis_calls_total{result="ok"}')"
requests="$(metric 'portcullis_requests_total{route="redis"')"

printf '\nRate limits: wrk -t1 -c32 -d%ss, median of %s run(s), 1 worker, limit %s/1m, %s cores\n\n' \
  "$DURATION" "$REPEAT" "$LIMIT" "$(nproc)"
printf '%-8s | %10s | %8s\n' route "req/s" "vs none"
printf '%-8s-|-%10s-|-%8s\n' -------- ---------- --------
for t in none local redis; do
  printf '%-8s | %10.0f | %7.3fx\n' "$t" "$(median "${RPS[$t]}")" \
    "$(awk -v a="$(median "${RPS[$t]}")" -v b="$(median "${RPS[none]}")" 'BEGIN { print a / b }')"
done
awk -v c="$calls" -v n="$requests" \
  'BEGIN { printf "\nRedis: %d calls for %d requests = %.4f calls per 1,000 requests\n", c, n, n ? 1000 * c / n : 0 }'
