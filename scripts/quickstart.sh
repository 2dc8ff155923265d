#!/usr/bin/env bash
# Builds Portcullis, then runs it in front of the echo upstream so you can try it with curl:
#
#   bash scripts/quickstart.sh
#
#   127.0.0.1:9001  portcullis-echo: answers with JSON describing the request it received
#   127.0.0.1:8080  the gateway, configured by examples/quickstart.yaml
#   127.0.0.1:9901  the gateway's admin listener (/healthz, /readyz, /metrics)
#
# Stays in the foreground printing the gateway's access log; Ctrl-C (or SIGTERM) stops both.
# Installs what is missing first (scripts/deps.sh). Environment: BUILD_DIR, JOBS, VERBOSE as
# for scripts/build.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD_DIR="${BUILD_DIR:-build}"
export BUILD_DIR
CONFIG=examples/quickstart.yaml
GATEWAY="$BUILD_DIR/portcullis"
ECHO_BIN="$BUILD_DIR/portcullis-echo"
GATEWAY_ADDR=127.0.0.1:8080
ADMIN_ADDR=127.0.0.1:9901
ECHO_ADDR=127.0.0.1:9001

die() { echo "quickstart: $*" >&2; exit 1; }

bash scripts/deps.sh
bash scripts/build.sh
[ -x "$GATEWAY" ] || die "$GATEWAY was not built"
[ -x "$ECHO_BIN" ] || die "$ECHO_BIN was not built"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-quickstart.XXXXXX")"
gateway_pid=""
echo_pid=""

# Stops a child: SIGTERM, up to $2 seconds to exit, then SIGKILL.
stop_pid() {
  local pid="$1" grace="$2" name="$3" i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "quickstart: $name did not stop within ${grace}s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  trap - EXIT INT TERM HUP
  # The gateway first (it drains in-flight requests), then its upstream.
  stop_pid "$gateway_pid" 35 "the gateway"
  stop_pid "$echo_pid" 5 "portcullis-echo"
  gateway_pid=""; echo_pid=""
  rm -rf "$tmp"
}
on_signal() {
  echo
  echo "quickstart: stopping"
  cleanup
  exit 0
}
trap cleanup EXIT
trap on_signal INT TERM HUP

port_in_use() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
for addr in "$ECHO_ADDR" "$GATEWAY_ADDR" "$ADMIN_ADDR"; do
  port_in_use "$addr" && die "$addr is already in use (is another quickstart or bench/run.sh running?)"
done

# The API-key store's pepper (made once, kept in .quickstart/, which git ignores) and a demo
# key for a partner, made on every run: a key is shown only when it is created.
mkdir -p .quickstart
chmod 700 .quickstart
if [ ! -s .quickstart/pepper ]; then
  (umask 077 && openssl rand -hex 32 > .quickstart/pepper)
fi
PORTCULLIS_KEY_PEPPER="$(cat .quickstart/pepper)"
export PORTCULLIS_KEY_PEPPER
if ! "$GATEWAY" check -c "$CONFIG" >"$tmp/check.log" 2>&1; then
  cat "$tmp/check.log" >&2
  die "$CONFIG is not valid"
fi

demo_key="$("$GATEWAY" keys create -c "$CONFIG" --client partner-123 --scopes reports:read \
  --label "quickstart demo" --expires "$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)" --json 2>"$tmp/keys.log" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')" ||
  { cat "$tmp/keys.log" >&2; die "could not create the demo API key"; }

# Both run in sessions of their own (setsid), so that Ctrl-C reaches only this script, which
# then stops them in order: the gateway first (it drains), then its upstream.
# The echo upstream prints "listening HOST:PORT" once it accepts connections.
setsid "$ECHO_BIN" --listen "$ECHO_ADDR" >"$tmp/echo.log" 2>&1 &
echo_pid=$!
for ((i = 0; i < 100; i++)); do
  grep -q "^listening " "$tmp/echo.log" && break
  kill -0 "$echo_pid" 2>/dev/null || { cat "$tmp/echo.log" >&2; echo_pid=""; die "portcullis-echo exited during startup"; }
  sleep 0.1
done
grep -q "^listening " "$tmp/echo.log" || { cat "$tmp/echo.log" >&2; die "portcullis-echo did not start listening within 10s"; }

# The gateway writes its access log (one JSON line per request) to stdout: leave it on the
# terminal so requests show up as you make them.
setsid "$GATEWAY" run -c "$CONFIG" &
gateway_pid=$!
ready=0
for ((i = 0; i < 150; i++)); do
  if ! kill -0 "$gateway_pid" 2>/dev/null; then
    wait "$gateway_pid" && status=0 || status=$?
    gateway_pid=""
    die "the gateway exited during startup (status $status); its messages are above"
  fi
  if curl -fsS -o /dev/null --max-time 1 "http://$ADMIN_ADDR/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
[ "$ready" = 1 ] || die "the gateway did not report ready on http://$ADMIN_ADDR/readyz within 15s"

cat <<EOF

Portcullis is running: gateway http://$GATEWAY_ADDR -> echo upstream http://$ECHO_ADDR
(admin http://$ADMIN_ADDR). Try, from another terminal:

  # A proxied GET. The echo upstream answers with what it received: note the headers
  # the gateway added (X-Request-Id, X-Forwarded-For/-Proto/-Host) and the Host it sent.
  curl -s 'http://$GATEWAY_ADDR/v1/reports?year=2024&token=s3cret' | python3 -m json.tool

  # A client claiming to be someone else: its X-User-Id and X-Scopes are stripped
  # before the request is forwarded, so the upstream never sees them (these routes are
  # auth: none, so no user identity is set either).
  curl -s -H 'X-User-Id: admin' -H 'X-Scopes: admin' http://$GATEWAY_ADDR/v1/reports | python3 -m json.tool

  # A partner route that needs an API key with the reports:read scope. With the demo key
  # (made just now, valid for a day) the upstream sees X-Client-Id: partner-123 and
  # X-Auth-Method: api-key, and never the key itself; without it, a 401.
  curl -s -H 'X-API-Key: $demo_key' http://$GATEWAY_ADDR/v1/partner/reports | python3 -m json.tool
  curl -si http://$GATEWAY_ADDR/v1/partner/reports

  # The gateway's own health and Prometheus metrics on the admin listener.
  curl -s http://$ADMIN_ADDR/readyz
  curl -s http://$ADMIN_ADDR/metrics

The access log follows, one JSON line per request (note the token query value is
redacted). Press Ctrl-C to stop.

EOF

# Stay in the foreground until a signal (handled by on_signal) or until a child exits.
while true; do
  set +e
  wait -n "$gateway_pid" "$echo_pid"
  status=$?
  set -e
  if ! kill -0 "$gateway_pid" 2>/dev/null; then
    gateway_pid=""
    die "the gateway exited unexpectedly (status $status)"
  fi
  if ! kill -0 "$echo_pid" 2>/dev/null; then
    echo_pid=""
    cat "$tmp/echo.log" >&2
    die "portcullis-echo exited unexpectedly (status $status)"
  fi
done
