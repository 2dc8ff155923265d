# The TLS targets of bench/run.sh (issue 12), sourced by it after the plain targets are
# declared. Not a script of its own.
#
#   gateway-tls        a second Portcullis (same config, 1 worker) terminating TLS on 9443
#                      (admin 9912), the same nginx upstream in clear
#   haproxy-tls        the same HAProxy (nbthread 1) terminating TLS on 9444 (`bind ... ssl crt`)
#   gateway-tls-jwt    the jwt route of gateway-tls, one repeated RS256 token (compare with
#                      gateway-tls-bearer: the auth: none route sent the same header)
#   gateway-tls-close, haproxy-tls-close
#                      a new TLS connection per request: wrk sends `Connection: close`, both
#                      close after the answer and wrk connects again. wrk keeps each
#                      connection's SSL object (SSL_clear) and so offers its last session
#                      back: to measure full handshakes, these two targets have processes of
#                      their own that resume nothing, a third Portcullis on 9445 (admin 9913,
#                      session_timeout_s: 0) and a second HAProxy on 9446 (tune.ssl.cachesize
#                      0, no-tls-tickets); the gateway's handshake counter and HAProxy's
#                      SslFrontendSessionReuse_pct show that nothing was resumed
#
# Both sides use one ECDSA P-256 certificate made here with the openssl CLI (no key is kept),
# TLS 1.3 (OpenSSL's default ciphersuite order, X25519 key exchange: what wrk offers first).
# The idle measurement holds IDLE_CONNS idle TLS connections to each in turn
# (bench/idle_conns.py --tls) and reports both processes' RSS.

GATEWAY_TLS_PORT=9443
GATEWAY_TLS_ADMIN_PORT=9912
HAPROXY_TLS_PORT=9444
GATEWAY_FULL_PORT=9445
GATEWAY_FULL_ADMIN_PORT=9913
HAPROXY_FULL_PORT=9446

TARGET_LABEL+=(
  [gateway-tls]="Portcullis TLS"
  [haproxy-tls]="HAProxy TLS"
  [gateway-tls-jwt]="Portcullis TLS jwt"
  [gateway-tls-bearer]="Portcullis TLS +Bearer"
  [gateway-tls-close]="Portcullis TLS full hs"
  [haproxy-tls-close]="HAProxy TLS full hs"
)
TARGET_PORT+=(
  [gateway-tls]=$GATEWAY_TLS_PORT
  [haproxy-tls]=$HAPROXY_TLS_PORT
  [gateway-tls-jwt]=$GATEWAY_TLS_PORT
  [gateway-tls-bearer]=$GATEWAY_TLS_PORT
  [gateway-tls-close]=$GATEWAY_FULL_PORT
  [haproxy-tls-close]=$HAPROXY_FULL_PORT
)
TARGET_PATH+=([gateway-tls-jwt]=/jwt/)
TARGET_HEADER+=(
  [gateway-tls-jwt]='Authorization: Bearer @JWT@'
  [gateway-tls-bearer]='Authorization: Bearer @JWT@'
  [gateway-tls-close]='Connection: close'
  [haproxy-tls-close]='Connection: close'
)
declare -A TARGET_TLS=([gateway-tls]=1 [haproxy-tls]=1 [gateway-tls-jwt]=1 [gateway-tls-bearer]=1
  [gateway-tls-close]=1 [haproxy-tls-close]=1)

USE_GATEWAY_TLS=0
USE_HAPROXY_TLS=0
USE_GATEWAY_FULL=0
USE_HAPROXY_FULL=0
for t in $TARGETS; do
  case "$t" in
    gateway-tls-close) USE_GATEWAY_FULL=1 ;;
    haproxy-tls-close) USE_HAPROXY_FULL=1 ;;
    gateway-tls*) USE_GATEWAY_TLS=1 ;;
    haproxy-tls*) USE_HAPROXY_TLS=1 ;;
  esac
done
USE_TLS=$((USE_GATEWAY_TLS | USE_HAPROXY_TLS | USE_GATEWAY_FULL | USE_HAPROXY_FULL))

# One self-signed ECDSA P-256 certificate for both (HAProxy wants certificate and key in one
# file).
make_tls_certificate() {
  [ "$USE_TLS" = 1 ] || return 0
  mkdir -p "$tmp/tls"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$tmp/tls/bench.key" -out "$tmp/tls/bench.pem" 2>/dev/null ||
    die "openssl could not make the TLS certificate"
  cat "$tmp/tls/bench.pem" "$tmp/tls/bench.key" >"$tmp/tls/haproxy.pem"
}

# The gateway's config with TLS on another port (and its own admin port); `extra`: one more
# server.tls line.
gateway_tls_config() {
  local port="$1" admin="$2" extra="$3"
  awk -v port="$port" -v admin="$admin" -v dir="$tmp/tls" -v extra="$extra" '
    $1 == "listen:" && !done_listen { sub(/:[0-9]+$/, ":" port); print; done_listen = 1
      print "  tls:"
      print "    certificates: [{ cert_file: " dir "/bench.pem, key_file: " dir "/bench.key }]"
      if (extra != "") print "    " extra
      next }
    $1 == "listen:" { sub(/:[0-9]+$/, ":" admin) }
    { print }' "$tmp/gateway.yaml"
}
write_gateway_tls_config() {
  [ "$USE_GATEWAY_TLS" = 0 ] ||
    gateway_tls_config "$GATEWAY_TLS_PORT" "$GATEWAY_TLS_ADMIN_PORT" "" >"$tmp/gateway-tls.yaml"
  [ "$USE_GATEWAY_FULL" = 0 ] || gateway_tls_config "$GATEWAY_FULL_PORT" "$GATEWAY_FULL_ADMIN_PORT" \
    "session_timeout_s: 0" >"$tmp/gateway-full.yaml"
}

# The HAProxy that resumes no session, for haproxy-tls-close.
write_haproxy_full_config() {
  [ "$USE_HAPROXY_FULL" = 1 ] || return 0
  cat >"$tmp/haproxy-full.cfg" <<EOF
global
  nbthread 1
  maxconn 4000
  tune.ssl.cachesize 0
  stats socket $tmp/haproxy-full.sock
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend full
  bind 127.0.0.1:$HAPROXY_FULL_PORT ssl crt $tmp/tls/haproxy.pem alpn http/1.1 no-tls-tickets
  default_backend upstream
backend upstream
  server up 127.0.0.1:9001
EOF
  haproxy -c -q -f "$tmp/haproxy-full.cfg" >"$tmp/haproxy-full-check.log" 2>&1 ||
    { cat "$tmp/haproxy-full-check.log" >&2; die "HAProxy rejected its no-resumption config"; }
}

# HAProxy's TLS frontend, appended to its config. Its idle connections must outlive the idle
# measurement, as the gateway's do (idle_timeout_s: 600).
haproxy_tls_frontend() {
  [ "$USE_HAPROXY_TLS" = 1 ] || return 0
  cat <<EOF
frontend tls
  bind 127.0.0.1:$HAPROXY_TLS_PORT ssl crt $tmp/tls/haproxy.pem alpn http/1.1
  maxconn $((IDLE_CONNS + 1000))
  timeout client 600s
  timeout http-keep-alive 600s
  default_backend upstream
EOF
}

start_tls_processes() {
  local name
  for name in gateway-tls gateway-full; do
    [ -f "$tmp/$name.yaml" ] || continue
    "$GATEWAY" check -c "$tmp/$name.yaml" >"$tmp/$name-check.log" 2>&1 ||
      { cat "$tmp/$name-check.log" >&2; die "the gateway rejected the TLS bench config $name.yaml"; }
  done
  if [ "$USE_GATEWAY_TLS" = 1 ]; then
    start gateway-tls "$GATEWAY_TLS_PORT" "$GATEWAY" run -c "$tmp/gateway-tls.yaml"
    GATEWAY_TLS_PID="${pids[-1]}"
  fi
  [ "$USE_GATEWAY_FULL" = 0 ] ||
    start gateway-full "$GATEWAY_FULL_PORT" "$GATEWAY" run -c "$tmp/gateway-full.yaml"
  write_haproxy_full_config
  [ "$USE_HAPROXY_FULL" = 0 ] || start haproxy-full "$HAPROXY_FULL_PORT" haproxy -f "$tmp/haproxy-full.cfg"
}

# What both sides negotiate with a default OpenSSL client (as wrk's): version, cipher, group.
tls_parameters() {
  local port="$1"
  openssl s_client -connect "127.0.0.1:$port" -servername localhost </dev/null 2>/dev/null |
    awk '/^New, / { v = $2; c = $5 } /^Server Temp Key:/ { sub(/^Server Temp Key: /, ""); k = $0 }
      /^Peer signature type:/ { s = $4 } /^Peer signing digest:/ { d = $4 }
      END { printf "%s %s, key exchange %s, signature %s with %s", v, c, k, s, d }'
}

report_tls_setup() {
  [ "$USE_TLS" = 1 ] || return 0
  echo
  echo "OpenSSL: $(openssl version) (CLI); HAProxy $(haproxy -vv 2>/dev/null |
    awk '/^HAProxy version/ { v = $3 } /^Running on OpenSSL version/ { sub(/^Running on /, ""); o = $0 }
      END { print v ", running on " o }')"
  echo "Portcullis links $(ldd "$GATEWAY" | awk '/libssl/ { print $1 " (" $3 ")" }')"
  [ "$USE_GATEWAY_TLS" = 0 ] || echo "Portcullis TLS: $(tls_parameters "$GATEWAY_TLS_PORT")"
  [ "$USE_HAPROXY_TLS" = 0 ] || echo "HAProxy TLS:    $(tls_parameters "$HAPROXY_TLS_PORT")"
  [ "$USE_GATEWAY_FULL" = 0 ] || echo "Portcullis full handshakes: $(tls_parameters "$GATEWAY_FULL_PORT")"
  [ "$USE_HAPROXY_FULL" = 0 ] || echo "HAProxy full handshakes:    $(tls_parameters "$HAPROXY_FULL_PORT")"
}

# The full-handshake targets resumed nothing: the gateway counts resumed handshakes, HAProxy
# its reuse percentage.
report_tls_resumption() {
  if [ "$USE_GATEWAY_FULL" = 1 ]; then
    curl -s "http://127.0.0.1:$GATEWAY_FULL_ADMIN_PORT/metrics" |
      awk '/^portcullis_tls_handshakes_total/ { print "Portcullis full-handshake target: " $0 }'
  fi
  if [ "$USE_HAPROXY_FULL" = 1 ]; then
    python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show info\n")
data = b""
while chunk := s.recv(65536): data += chunk
print("\n".join("HAProxy full-handshake target: " + l for l in data.decode().splitlines()
                if l.startswith(("SslFrontendSessionReuse_pct", "CumSslConns", "SslFrontendKeyRate"))))' "$tmp/haproxy-full.sock"
  fi
}

# idle_conns.py against one TLS port; prints "<rss> <baseline>" in MiB.
idle_tls() {
  local name="$1" port="$2" pid="$3" out="$tmp/idle-$1.txt"
  if ! python3 bench/idle_conns.py --tls --port "$port" --pid "$pid" -n "$IDLE_CONNS" >"$out" 2>&1; then
    cat "$out" >&2
    die "bench/idle_conns.py --tls failed against $name"
  fi
  awk '$1 == "VmRSS:" { r = $2 } $1 == "baseline" && $2 == "VmRSS:" { b = $3 } END { print r, b }' "$out"
}

report_idle_tls() {
  [ "$IDLE_CONNS" -gt 0 ] || return 0
  local g h
  echo
  if [ "$USE_GATEWAY_TLS" = 1 ]; then
    read -r -a g <<<"$(idle_tls gateway-tls "$GATEWAY_TLS_PORT" "$GATEWAY_TLS_PID")"
    echo "Portcullis RSS with $IDLE_CONNS idle TLS connections: ${g[0]} MiB (before: ${g[1]} MiB)"
  fi
  if [ "$USE_HAPROXY_TLS" = 1 ]; then
    read -r -a h <<<"$(idle_tls haproxy-tls "$HAPROXY_TLS_PORT" "$HAPROXY_PID")"
    echo "HAProxy RSS with $IDLE_CONNS idle TLS connections:    ${h[0]} MiB (before: ${h[1]} MiB)"
  fi
  if [ "$USE_GATEWAY_TLS" = 1 ] && [ "$USE_HAPROXY_TLS" = 1 ]; then
    awk -v g="${g[0]}" -v gb="${g[1]}" -v h="${h[0]}" -v hb="${h[1]}" 'BEGIN {
      printf "Portcullis / HAProxy idle TLS RSS: %.2fx (growth %.1f / %.1f MiB: %.2fx)\n",
        g / h, g - gb, h - hb, (h - hb > 0 ? (g - gb) / (h - hb) : 0) }'
  fi
}
