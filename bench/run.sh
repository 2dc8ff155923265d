#!/usr/bin/env bash
# Benchmarks Portcullis side by side with nginx and HAProxy, all on loopback:
#
#   bash bench/run.sh
#
#   upstream  nginx answering 200 {"ok":true} on 9001 (bench/peers/upstream.conf)
#   gateway   Portcullis (Release, 1 worker, access log off) on 9010, admin 9911
#   nginx     nginx reverse proxy on 9003 (bench/peers/nginx-proxy.conf)
#   haproxy   HAProxy plain proxying on 9004 (bench/peers/haproxy-jwt.cfg.in; the same
#             HAProxy checks an RS256 JWT on 9002, target haproxy-jwt)
#   haproxy-fwd  the same HAProxy on 9005 sending the upstream the request Portcullis sends
#             (identity headers stripped, Host rewritten, X-Forwarded-For/-Proto/-Host and a
#             32-hex-digit X-Request-Id added): like for like with the gateway target, whose
#             bigger upstream request costs the upstream itself more to read than the bare
#             one HAProxy plain forwards
#   idp       only with an oauth2 target: the test IdP (tests/idp, npm oidc-provider) on 9100;
#             portcullis-oauth2 sends one opaque token (cached after the first request),
#             portcullis-oauth2-nocache rotates through 500 tokens (oidc-provider's
#             in-memory store keeps 1,000) on a provider with cache_s: 0 (one introspection
#             per request), idp-introspect sends the same calls to the IdP directly: its
#             own capacity
#   jwt       portcullis-jwt: RS256 tokens checked by the gateway against the same public key
#             as haproxy-jwt, one repeated token (verified-token cache on);
#             portcullis-jwt-nocache: a provider with token_cache_entries: 0 and a different
#             token on every request (bench/peers/jwt-tokens.lua cycles through JWT_TOKENS
#             pre-minted tokens, made with tests/idp/jwt_keys.mjs); gateway-bearer: the
#             auth: none route sent the same Authorization header, to separate the cost of a
#             ~600-byte header from the cost of checking it
#   tls       (bench/tls.sh, issue 12) one self-signed ECDSA P-256 certificate made with the
#             openssl CLI for all of them, TLS 1.3: gateway-tls (a second Portcullis
#             terminating TLS on 9443) against haproxy-tls (the same HAProxy, `bind ... ssl
#             crt` on 9444), keep-alive; gateway-tls-jwt and gateway-tls-bearer (the jwt route
#             and auth: none with the same header, over TLS); gateway-tls-close against
#             haproxy-tls-close: a full handshake per request (wrk sends Connection: close;
#             both served by processes of their own that resume no session, 9445 and 9446).
#             With IDLE_CONNS, idle TLS connections are held to gateway-tls and haproxy-tls in
#             turn and both RSS are reported, then the OpenSSL versions and what each side
#             negotiated. E.g.
#               TARGETS="gateway-tls haproxy-tls gateway-tls-close haproxy-tls-close \
#                 gateway-tls-jwt gateway-tls-bearer" bash bench/run.sh
#
# Each target gets `wrk -t1 -c32 -d${DURATION}s --latency` REPEAT times, interleaved
# (all targets once, then all again); the table shows the medians. Then bench/idle_conns.py
# holds IDLE_CONNS idle keep-alive connections to the gateway and reports its memory.
#
# Environment:
#   DURATION=6      seconds per wrk run
#   REPEAT=3        runs per target
#   CONNS=32        wrk connections
#   TARGETS="upstream gateway nginx haproxy"   targets to run, in order (see TARGET_* below)
#   IDLE_CONNS=5000 idle connections for the memory measurement (0 skips it)
#   JWT_TOKEN_COUNT=4000  distinct tokens portcullis-jwt-nocache cycles through
#   ratelimit portcullis-ratelimit: the gateway's auth: none route /limited/ with a local rate
#             limit (key: ip) high enough never to refuse, against portcullis-nolimit (the
#             same route, /nolimit/ with its prefix stripped the same way, without limits):
#             the cost of counting every request; e.g.
#               TARGETS="portcullis-nolimit portcullis-ratelimit" bash bench/run.sh
#   ctx       portcullis-apikey-ctx: the portcullis-apikey route (one repeated API key) on a
#             second gateway (port 9012, 1 worker) that adds identity.signed_context (EdDSA,
#             cached per identity and upstream); portcullis-apikey-ctx-rq: a third (9013) that
#             signs every request (per_request: true). Compared with portcullis-apikey, the
#             same route without signing, in the same run:
#               TARGETS="portcullis-apikey portcullis-apikey-ctx portcullis-apikey-ctx-rq"
#
#   JOBS, VERBOSE   as for scripts/build.sh (the Release build goes to build-release/)
#   PORTCULLIS_BIN  a gateway binary to measure instead of building one (to compare builds)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${DURATION:-6}"
REPEAT="${REPEAT:-3}"
CONNS="${CONNS:-32}"
TARGETS="${TARGETS:-upstream gateway nginx haproxy}"
IDLE_CONNS="${IDLE_CONNS:-5000}"
BUILD_DIR=build-release
PEERS="$ROOT/bench/peers"

GATEWAY_PORT=9010
GATEWAY_ADMIN_PORT=9911

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# --- targets --------------------------------------------------------------------------------
# To add a target: give it a label and a port, optionally a path and a request header
# (in TARGET_HEADER, @JWT@ stands for a valid RS256 token signed by the bench key), and
# make sure the process serving it is started below. Gateway routes for API keys or JWT go into
# write_gateway_config.
declare -A TARGET_LABEL=(
  [upstream]="upstream directly"
  [gateway]="Portcullis"
  [nginx]="nginx proxy"
  [haproxy]="HAProxy plain"
  [haproxy-fwd]="HAProxy same headers"
  [haproxy-jwt]="HAProxy + jwt_verify"
  [haproxy-jwt-fresh]="HAProxy jwt fresh tokens"
  [portcullis-oauth2]="Portcullis oauth2 cached"
  [portcullis-oauth2-nocache]="Portcullis oauth2 no cache"
  [idp-introspect]="IdP introspection"
  [portcullis-apikey]="Portcullis api_key"
  [gateway-bearer]="Portcullis none+Bearer"
  [portcullis-jwt]="Portcullis jwt cached"
  [portcullis-jwt-nocache]="Portcullis jwt nocache"
  [portcullis-ratelimit]="Portcullis local limit"
  [portcullis-nolimit]="Portcullis same, no limit"
  [portcullis-apikey-ctx]="Portcullis api_key ctx"
  [portcullis-apikey-ctx-rq]="api_key ctx per-request"
)
declare -A TARGET_PORT=(
  [upstream]=9001
  [gateway]=$GATEWAY_PORT
  [nginx]=9003
  [haproxy]=9004
  [haproxy-fwd]=9005
  [haproxy-jwt]=9002
  [haproxy-jwt-fresh]=9002
  [portcullis-oauth2]=$GATEWAY_PORT
  [portcullis-oauth2-nocache]=$GATEWAY_PORT
  [idp-introspect]=9100
  [portcullis-apikey]=$GATEWAY_PORT
  [gateway-bearer]=$GATEWAY_PORT
  [portcullis-jwt]=$GATEWAY_PORT
  [portcullis-jwt-nocache]=$GATEWAY_PORT
  [portcullis-ratelimit]=$GATEWAY_PORT
  [portcullis-nolimit]=$GATEWAY_PORT
  [portcullis-apikey-ctx]=9012
  [portcullis-apikey-ctx-rq]=9013
)
declare -A TARGET_PATH=(
  [portcullis-oauth2]=/oauth2/
  [portcullis-oauth2-nocache]=/oauth2-nocache/
  [idp-introspect]=/token/introspection
  [portcullis-apikey]=/apikey/
  [portcullis-jwt]=/jwt/
  [portcullis-jwt-nocache]=/jwt-nocache/
  [portcullis-ratelimit]=/limited/
  [portcullis-nolimit]=/nolimit/
  [portcullis-apikey-ctx]=/apikey/
  [portcullis-apikey-ctx-rq]=/apikey/
)
# @OPAQUE@ stands for an opaque access token from the test IdP.
declare -A TARGET_HEADER=(
  [haproxy-jwt]='Authorization: Bearer @JWT@'
  [haproxy-jwt-fresh]='Authorization: Bearer @JWT@'
  [portcullis-oauth2]='Authorization: Bearer @OPAQUE@'
  [portcullis-apikey]='X-API-Key: @APIKEY@'
  [portcullis-apikey-ctx]='X-API-Key: @APIKEY@'
  [portcullis-apikey-ctx-rq]='X-API-Key: @APIKEY@'
  [portcullis-oauth2-nocache]='Authorization: Bearer @OPAQUE@'  # probe; the script rotates
  [gateway-bearer]='Authorization: Bearer @JWT@'
  [portcullis-jwt]='Authorization: Bearer @JWT@'
  [portcullis-jwt-nocache]='Authorization: Bearer @JWT@'
)
# A wrk script for targets that are not a plain GET (and the curl options of their probe).
declare -A TARGET_SCRIPT=([idp-introspect]="$ROOT/bench/peers/introspect.lua"
  [portcullis-oauth2-nocache]="$ROOT/bench/peers/bearer_tokens.lua"
  [portcullis-jwt-nocache]="$ROOT/bench/peers/jwt-tokens.lua"
  [haproxy-jwt-fresh]="$ROOT/bench/peers/jwt-tokens.lua")
declare -A TARGET_PROBE=([idp-introspect]='-u gateway:bench-gateway-secret -d token=@OPAQUE@')
# The ratio line compares these two.
RATIO_NUM=gateway
RATIO_DEN=haproxy
# The TLS targets (issue 12) and their processes.
# shellcheck source=bench/tls.sh
source "$ROOT/bench/tls.sh"

for t in $TARGETS; do
  [ -n "${TARGET_PORT[$t]:-}" ] || die "unknown target '$t' (known: ${!TARGET_PORT[*]})"
done
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer"
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer (seconds)"
[[ "$IDLE_CONNS" =~ ^[0-9]+$ ]] || die "IDLE_CONNS must be a number"

# --- build and tools ------------------------------------------------------------------------
bash scripts/deps.sh --bench || die "installing dependencies failed (scripts/deps.sh --bench)"
# The release preset: what a packager builds (warnings are not errors there).
if [ -n "${PORTCULLIS_BIN:-}" ]; then
  GATEWAY="$PORTCULLIS_BIN"
else
  BUILD_DIR="$BUILD_DIR" PRESET=release bash scripts/build.sh
  GATEWAY="$ROOT/$BUILD_DIR/portcullis"
fi
[ -x "$GATEWAY" ] || die "$GATEWAY was not built"
for tool in nginx haproxy wrk openssl curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found after scripts/deps.sh --bench"
done

# Many connections need many descriptors; every process started below inherits this.
want_fds=65536
if ! ulimit -n "$want_fds" 2>/dev/null; then
  hard="$(ulimit -Hn)"
  [ "$hard" = unlimited ] || ulimit -n "$hard"
  note "could not raise the open-files limit to $want_fds, using $(ulimit -n)"
fi
if [ "$IDLE_CONNS" -gt 0 ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 200)) ]; then
  die "open-files limit $(ulimit -n) is too low for IDLE_CONNS=$IDLE_CONNS"
fi

# --- processes ------------------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")"
pids=()
names=()

cleanup() {
  trap - EXIT INT TERM
  local i j
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    for ((j = 0; j < 100; j++)); do
      kill -0 "${pids[$i]}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      note "${names[$i]} did not stop within 10s, killing it"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
    wait "${pids[$i]}" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo; note "interrupted"; exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME PORT COMMAND...: runs COMMAND in the background (output to $tmp/NAME.log) and
# waits until it accepts connections on PORT.
start() {
  local name="$1" port="$2" i
  shift 2
  port_in_use "$port" && die "port $port is already in use (needed by $name; is another bench or quickstart running?)"
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
  for ((i = 0; i < 100; i++)); do
    port_in_use "$port" && return 0
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      cat "$tmp/$name.log" >&2
      die "$name exited during startup (its output is above)"
    fi
    sleep 0.1
  done
  cat "$tmp/$name.log" >&2
  die "$name did not listen on 127.0.0.1:$port within 10s"
}

write_gateway_config() {
  cat >"$tmp/gateway.yaml" <<EOF
server:
  listen: 127.0.0.1:$GATEWAY_PORT
  workers: 1
  max_connections: $((IDLE_CONNS + 1000))
  idle_timeout_s: 600
admin:
  listen: 127.0.0.1:$GATEWAY_ADMIN_PORT
upstreams:
  up: { url: http://127.0.0.1:${TARGET_PORT[upstream]} }
$(jwt_gateway_providers)
$(apikey_gateway_section)
$(oauth2_gateway_config)
$(jwt_gateway_routes)
$(apikey_gateway_route)
  - { name: limited, match: { path_prefix: /limited }, upstream: up, auth: none, strip_prefix: /limited, rate_limits: [bench-never] }
  - { name: nolimit, match: { path_prefix: /nolimit }, upstream: up, auth: none, strip_prefix: /nolimit }
  - { name: all, match: { path_prefix: / }, upstream: up, auth: none }
rate_limits:
  bench-never: { requests: 1000000000000, per: 1m, key: ip }
rate_limit_local: { state_file: off }
log: { level: warn, access: off }
EOF
}

# The oauth2 providers and routes (with the `routes:` line), when an oauth2 target runs.
USE_IDP=0
[[ " $TARGETS " == *" portcullis-oauth2"* || " $TARGETS " == *" idp-introspect "* ]] && USE_IDP=1
oauth2_gateway_config() {
  if [ "$USE_IDP" = 1 ]; then
    local idp=http://127.0.0.1:${TARGET_PORT[idp-introspect]}/token/introspection
    echo "oauth2_providers:"
    echo "  idp: { introspection_endpoint: $idp, client_id: gateway, client_secret: \"file:$tmp/idp.secret\", cache_s: 300 }"
    echo "  idp_nocache: { introspection_endpoint: $idp, client_id: gateway, client_secret: \"file:$tmp/idp.secret\", cache_s: 0, negative_cache_s: 0, timeout_ms: 5000 }"
    echo "routes:"
    echo "  - { name: oauth2, match: { path_prefix: /oauth2 }, upstream: up, auth: [oauth2:idp], strip_prefix: /oauth2 }"
    echo "  - { name: oauth2-nocache, match: { path_prefix: /oauth2-nocache }, upstream: up, auth: [oauth2:idp_nocache], strip_prefix: /oauth2-nocache }"
  else
    echo "routes:"
  fi
}

# portcullis-apikey: a key store in $tmp with one key (created below), and its route.
USE_APIKEY=0
[[ " $TARGETS " == *" portcullis-apikey"* ]] && USE_APIKEY=1
export PORTCULLIS_KEY_PEPPER=bench-pepper-0123456789abcdef
apikey_gateway_section() {
  [ "$USE_APIKEY" = 1 ] || return 0
  echo "api_keys: { store: \"sqlite://$tmp/keys.db\", pepper: \"\${PORTCULLIS_KEY_PEPPER}\" }"
}
apikey_gateway_route() {
  [ "$USE_APIKEY" = 1 ] || return 0
  echo "  - { name: apikey, match: { path_prefix: /apikey }, upstream: up, auth: [api_key], strip_prefix: /apikey }"
}

# The signed-context gateways: the main config on other ports, with identity.signed_context.
# write_ctx_gateway_config NAME PORT ADMIN_PORT PER_REQUEST
write_ctx_gateway_config() {
  sed -e "s|listen: 127.0.0.1:$GATEWAY_PORT|listen: 127.0.0.1:$2|" \
    -e "s|listen: 127.0.0.1:$GATEWAY_ADMIN_PORT|listen: 127.0.0.1:$3|" "$tmp/gateway.yaml" >"$tmp/$1.yaml"
  cat >>"$tmp/$1.yaml" <<EOF
identity:
  signed_context:
    issuer: https://gateway.bench.test
    algorithm: EdDSA
    keys: [ { key_file: "file:$tmp/ctx.pem", kid: bench } ]
    ttl_s: 60
    per_request: $4
EOF
}

# The jwt providers and routes: the key, issuer and audience HAProxy's jwt_verify checks.
jwt_gateway_providers() {
  echo "jwt_providers:"
  echo "  bench: { issuer: https://issuer.test, audiences: [api://orders], algorithms: [RS256], public_key_file: $tmp/jwt.pub }"
  echo "  bench_nocache: { issuer: https://issuer.test, audiences: [api://orders], algorithms: [RS256], public_key_file: $tmp/jwt.pub, token_cache_entries: 0 }"
}
jwt_gateway_routes() {
  echo "  - { name: jwt, match: { path_prefix: /jwt }, upstream: up, auth: [jwt:bench], strip_prefix: /jwt }"
  echo "  - { name: jwt-nocache, match: { path_prefix: /jwt-nocache }, upstream: up, auth: [jwt:bench_nocache], strip_prefix: /jwt-nocache }"
}

# An RSA-2048 key pair for HAProxy's jwt_verify frontend, and an RS256 token it accepts.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/jwt.key" 2>/dev/null ||
  die "openssl could not generate an RSA key"
openssl pkey -in "$tmp/jwt.key" -pubout -out "$tmp/jwt.pub" 2>/dev/null || die "openssl could not write the public key"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt_head="$(printf '{"alg":"RS256","typ":"JWT","kid":"bench"}' | b64url)"
jwt_body="$(printf '{"iss":"https://issuer.test","aud":"api://orders","sub":"bench-user","scope":"orders:read","iat":%d,"exp":%d}' \
  "$(date +%s)" "$(($(date +%s) + 86400))" | b64url)"
jwt_sig="$(printf '%s.%s' "$jwt_head" "$jwt_body" | openssl dgst -sha256 -sign "$tmp/jwt.key" -binary | b64url)"
JWT="$jwt_head.$jwt_body.$jwt_sig"

target_url() {
  local scheme=http
  [ -z "${TARGET_TLS[$1]:-}" ] || scheme=https
  echo "$scheme://127.0.0.1:${TARGET_PORT[$1]}${TARGET_PATH[$1]:-/}"
}
OPAQUE=""
APIKEY=""
target_header() {
  local h="${TARGET_HEADER[$1]:-}"
  h="${h//@JWT@/$JWT}"
  h="${h//@APIKEY@/$APIKEY}"
  echo "${h//@OPAQUE@/$OPAQUE}"
}

make_tls_certificate
haproxy_maxconn=4000
[ "$USE_HAPROXY_TLS" = 0 ] || [ "$IDLE_CONNS" -lt 3000 ] || haproxy_maxconn=$((IDLE_CONNS + 1000))
sed -e "s|@PUBKEY@|$tmp/jwt.pub|g" -e "s|^  maxconn 4000$|  maxconn $haproxy_maxconn|" \
  "$PEERS/haproxy-jwt.cfg.in" >"$tmp/haproxy.cfg"
haproxy_tls_frontend >>"$tmp/haproxy.cfg"
haproxy -c -q -f "$tmp/haproxy.cfg" >"$tmp/haproxy-check.log" 2>&1 ||
  { cat "$tmp/haproxy-check.log" >&2; die "HAProxy rejected bench/peers/haproxy-jwt.cfg.in"; }

if [ "$USE_IDP" = 1 ]; then
  command -v node >/dev/null || die "node not found (the oauth2 targets need Node.js and npm)"
  [ -d tests/idp/node_modules/oidc-provider ] ||
    (cd tests/idp && npm ci --no-audit --no-fund >/dev/null) || die "npm ci in tests/idp failed"
  printf '%s\n' bench-gateway-secret >"$tmp/idp.secret"
fi
# A few thousand distinct RS256 tokens for portcullis-jwt-nocache (signed by jose's Node).
if [[ " $TARGETS " == *" portcullis-jwt-nocache "* || " $TARGETS " == *" haproxy-jwt-fresh "* ]]; then
  command -v node >/dev/null || die "node not found (portcullis-jwt-nocache mints its tokens with Node.js)"
  bash scripts/idp-deps.sh || die "scripts/idp-deps.sh failed"
  node tests/idp/jwt_keys.mjs tokens --key "$tmp/jwt.key" --kid bench --iss https://issuer.test \
    --aud api://orders --count "${JWT_TOKEN_COUNT:-4000}" >"$tmp/jwt-tokens.txt" ||
    die "could not mint the benchmark tokens"
  export JWT_TOKENS="$tmp/jwt-tokens.txt"
fi
if [ "$USE_APIKEY" = 1 ]; then
  APIKEY="$("$GATEWAY" keys --store "sqlite://$tmp/keys.db" create --client bench --scopes orders:read --json 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')" || die "could not create an API key"
fi
write_gateway_config
write_gateway_tls_config
"$GATEWAY" check -c "$tmp/gateway.yaml" >"$tmp/gateway-check.log" 2>&1 ||
  { cat "$tmp/gateway-check.log" >&2; die "the gateway rejected the bench config"; }

start upstream 9001 nginx -e "$tmp/nginx-upstream-early.log" -c "$PEERS/upstream.conf"
start gateway "$GATEWAY_PORT" "$GATEWAY" run -c "$tmp/gateway.yaml"
GATEWAY_PID="${pids[-1]}"
if [[ " $TARGETS " == *" portcullis-apikey-ctx"* ]]; then
  openssl genpkey -algorithm ed25519 -out "$tmp/ctx.pem" 2>/dev/null || die "openssl could not make an Ed25519 key"
  write_ctx_gateway_config gateway-ctx "${TARGET_PORT[portcullis-apikey-ctx]}" 9922 false
  write_ctx_gateway_config gateway-ctx-rq "${TARGET_PORT[portcullis-apikey-ctx-rq]}" 9923 true
  for g in gateway-ctx gateway-ctx-rq; do
    "$GATEWAY" check -c "$tmp/$g.yaml" >"$tmp/$g-check.log" 2>&1 ||
      { cat "$tmp/$g-check.log" >&2; die "the gateway rejected $tmp/$g.yaml"; }
  done
  start gateway-ctx "${TARGET_PORT[portcullis-apikey-ctx]}" "$GATEWAY" run -c "$tmp/gateway-ctx.yaml"
  start gateway-ctx-rq "${TARGET_PORT[portcullis-apikey-ctx-rq]}" "$GATEWAY" run -c "$tmp/gateway-ctx-rq.yaml"
fi
start nginx 9003 nginx -e "$tmp/nginx-proxy-early.log" -c "$PEERS/nginx-proxy.conf"
start_tls_processes
start haproxy 9004 haproxy -f "$tmp/haproxy.cfg"
HAPROXY_PID="${pids[-1]}"
port_in_use 9002 || die "HAProxy is not listening on 9002"
port_in_use 9005 || die "HAProxy is not listening on 9005"
[ "$USE_HAPROXY_TLS" = 0 ] || port_in_use "$HAPROXY_TLS_PORT" || die "HAProxy is not listening on $HAPROXY_TLS_PORT"
if [ "$USE_IDP" = 1 ]; then
  export IDP_GATEWAY_SECRET=bench-gateway-secret IDP_ACCESS_TOKEN_TTL=86400
  start idp "${TARGET_PORT[idp-introspect]}" node tests/idp/oauth2_idp.mjs --port "${TARGET_PORT[idp-introspect]}"
  for ((i = 0; i < 100; i++)); do grep -q '^listening' "$tmp/idp.log" && break; sleep 0.1; done
  OPAQUE="$(curl -s -u test-client:test-client-secret -d grant_type=client_credentials \
    -d scope=orders:read "http://127.0.0.1:${TARGET_PORT[idp-introspect]}/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')" ||
    die "could not get an access token from the test IdP"
  python3 bench/peers/mint_tokens.py "http://127.0.0.1:${TARGET_PORT[idp-introspect]}" 500 \
    >"$tmp/tokens.txt" || die "could not mint tokens at the test IdP"
  export OAUTH2_TOKENS="$tmp/tokens.txt" BASIC="$(printf 'gateway:bench-gateway-secret' | openssl base64 -A)"
fi

# Every target must answer 200 before it is measured.
for t in $TARGETS; do
  url="$(target_url "$t")"
  hdr="$(target_header "$t")"
  args=(-s -o "$tmp/probe.out" -w '%{http_code}' --max-time 5)
  [ -z "${TARGET_TLS[$t]:-}" ] || args+=(--cacert "$tmp/tls/bench.pem")
  [ -z "$hdr" ] || args+=(-H "$hdr")
  probe="${TARGET_PROBE[$t]:-}"
  # shellcheck disable=SC2206 # word splitting wanted: the probe's curl options
  [ -z "$probe" ] || args+=(${probe//@OPAQUE@/$OPAQUE})
  code="$(curl "${args[@]}" "$url" || true)"
  [ "$code" = 200 ] || die "$t ($url) answered '$code' instead of 200: $(head -c 300 "$tmp/probe.out" 2>/dev/null)"
done

# --- wrk rounds -----------------------------------------------------------------------------
# wrk prints latencies as 312.00us, 1.25ms or 1.02s; these become milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

declare -A RPS=() P50=() P99=()
warnings=()
total=$(($(wc -w <<<"$TARGETS") * REPEAT))
done_runs=0
for ((r = 1; r <= REPEAT; r++)); do
  for t in $TARGETS; do
    done_runs=$((done_runs + 1))
    [ ! -t 2 ] || printf '\rbench: run %d/%d (%s, round %d)        ' "$done_runs" "$total" "$t" "$r" >&2
    url="$(target_url "$t")"
    hdr="$(target_header "$t")"
    args=(-t1 -c"$CONNS" -d"${DURATION}s" --latency)
    [ -z "$hdr" ] || args+=(-H "$hdr")
    [ -z "${TARGET_SCRIPT[$t]:-}" ] || args+=(-s "${TARGET_SCRIPT[$t]}")
    out="$tmp/wrk-$t-$r.txt"
    wrk "${args[@]}" "$url" >"$out" 2>&1 || { echo >&2; cat "$out" >&2; die "wrk failed against $t"; }
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50="$(awk '$1 == "50%" {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ]; then
      echo >&2; cat "$out" >&2; die "could not read wrk's output for $t"
    fi
    RPS[$t]+="$rps "
    P50[$t]+="$(to_ms "$p50") "
    P99[$t]+="$(to_ms "$p99") "
    if grep -qE '^ *(Non-2xx or 3xx responses|Socket errors):' "$out"; then
      warnings+=("$t round $r: $(grep -E '^ *(Non-2xx or 3xx responses|Socket errors):' "$out" | sed 's/^ *//' | paste -sd ';' -)")
    fi
  done
done
[ ! -t 2 ] || printf '\r%*s\r' 60 '' >&2

median() {
  tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# 225668.4 -> 225,668
thousands() {
  local s out=""
  s="$(LC_ALL=C printf '%.0f' "$1")"
  while [ ${#s} -gt 3 ]; do
    out=",${s: -3}$out"
    s="${s:0:${#s}-3}"
  done
  echo "$s$out"
}

declare -A MED_RPS=() MED_P99=()
printf '\nwrk -t1 -c%s -d%ss --latency, median of %s run(s), %s cores\n\n' "$CONNS" "$DURATION" "$REPEAT" "$(nproc)"
printf '%-22s | %10s | %9s | %9s\n' target req/s p50 p99
printf '%-22s-|-%10s-|-%9s-|-%9s\n' '----------------------' '----------' '---------' '---------'
for t in $TARGETS; do
  MED_RPS[$t]="$(median "${RPS[$t]}")"
  MED_P99[$t]="$(median "${P99[$t]}")"
  printf '%-22s | %10s | %6.2f ms | %6.2f ms\n' "${TARGET_LABEL[$t]}" \
    "$(thousands "${MED_RPS[$t]}")" \
    "$(median "${P50[$t]}")" "${MED_P99[$t]}"
done
# The rounds are interleaved (every target once, then again), so round i of two targets ran
# minutes apart at most: the median of the per-round ratios follows the machine's load less
# than the ratio of the two medians does. Both are printed.
paired() {
  paste -d' ' <(tr ' ' '\n' <<<"$1" | awk 'NF') <(tr ' ' '\n' <<<"$2" | awk 'NF') |
    awk '$2 > 0 { print $1 / $2 }' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR < 2) exit;
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
      printf "; paired rounds: median %.2fx (%.2f-%.2f)", m, v[1], v[NR] }'
}
if [ -n "${MED_RPS[$RATIO_NUM]:-}" ] && [ -n "${MED_RPS[$RATIO_DEN]:-}" ]; then
  awk -v a="${MED_RPS[$RATIO_NUM]}" -v b="${MED_RPS[$RATIO_DEN]}" -v c="${MED_P99[$RATIO_NUM]}" -v d="${MED_P99[$RATIO_DEN]}" \
    -v na="${TARGET_LABEL[$RATIO_NUM]}" -v nb="${TARGET_LABEL[$RATIO_DEN]}" \
    -v pr="$(paired "${RPS[$RATIO_NUM]}" "${RPS[$RATIO_DEN]}")" \
    'BEGIN { printf "\n%s / %s: req/s %.2fx, p99 %.2fx%s\n", na, nb, a / b, (d > 0 ? c / d : 0), pr }'
fi
# The oauth2 figures: a cached token against the gateway's own auth: none throughput, and
# introspection on every request against what the IdP can introspect by itself.
ratio_line() {
  [ -n "${MED_RPS[$1]:-}" ] && [ -n "${MED_RPS[$2]:-}" ] || return 0
  awk -v a="${MED_RPS[$1]}" -v b="${MED_RPS[$2]}" -v c="${MED_P99[$1]}" -v d="${MED_P99[$2]}" \
    -v na="${TARGET_LABEL[$1]}" -v nb="${TARGET_LABEL[$2]}" -v pr="$(paired "${RPS[$1]}" "${RPS[$2]}")" \
    'BEGIN { printf "%s / %s: req/s %.2fx, p99 %.2fx%s\n", na, nb, a / b, (d > 0 ? c / d : 0), pr }'
}
# Plain proxying against HAProxy sending the same upstream request (haproxy-fwd).
ratio_line gateway haproxy-fwd
ratio_line portcullis-oauth2 gateway
ratio_line portcullis-ratelimit portcullis-nolimit
ratio_line portcullis-ratelimit gateway
# The jwt figures (issue 4): cached against HAProxy's jwt_verify and against auth: none; a fresh
# token per request (no cache) against HAProxy's jwt_verify.
ratio_line portcullis-jwt haproxy-jwt
ratio_line portcullis-jwt gateway
ratio_line portcullis-jwt gateway-bearer
ratio_line portcullis-jwt-nocache haproxy-jwt
# The same wrk Lua script on both sides: a fresh token per request, the client's cost equal.
ratio_line portcullis-jwt-nocache haproxy-jwt-fresh
ratio_line portcullis-apikey gateway
# The signed identity context (issue 15): cached, and signed per request, against no signing.
ratio_line portcullis-apikey-ctx portcullis-apikey
ratio_line portcullis-apikey-ctx-rq portcullis-apikey
ratio_line portcullis-oauth2-nocache idp-introspect
# TLS (issue 12): keep-alive and a full handshake per request against HAProxy; a repeated JWT
# over TLS against auth: none over TLS (with and without the same header).
ratio_line gateway-tls haproxy-tls
ratio_line gateway-tls-close haproxy-tls-close
ratio_line gateway-tls-jwt gateway-tls
ratio_line gateway-tls-jwt gateway-tls-bearer
declare -A seen_runs=()
if [ "$REPEAT" -gt 1 ]; then
  echo
  echo "req/s of each run, in order:"
  for t in $TARGETS; do
    [ -z "${seen_runs[$t]:-}" ] || continue
    seen_runs[$t]=1
    printf '  %-22s %s\n' "$t" "${RPS[$t]}"
  done
fi
for w in "${warnings[@]}"; do
  echo "warning: $w"
done

# --- idle keep-alive connections ------------------------------------------------------------
if [ "$IDLE_CONNS" -gt 0 ] && [[ " $TARGETS " == *" gateway "* ]]; then
  if ! python3 bench/idle_conns.py --port "$GATEWAY_PORT" --pid "$GATEWAY_PID" -n "$IDLE_CONNS" >"$tmp/idle.txt" 2>&1; then
    cat "$tmp/idle.txt" >&2
    die "bench/idle_conns.py failed"
  fi
  rss="$(awk '$1 == "VmRSS:" {print $2}' "$tmp/idle.txt")"
  hwm="$(awk '$1 == "VmHWM:" {print $2}' "$tmp/idle.txt")"
  base="$(awk '$1 == "baseline" && $2 == "VmRSS:" {print $3}' "$tmp/idle.txt")"
  echo
  echo "RSS with $IDLE_CONNS idle keep-alive connections: $rss MiB"
  echo "(before opening them: $base MiB; peak VmHWM over the whole run: $hwm MiB)"
fi

# --- idle TLS connections, and what the TLS targets negotiated ------------------------------
report_idle_tls
report_tls_setup
report_tls_resumption
