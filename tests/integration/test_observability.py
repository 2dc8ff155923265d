"""Observability: one JSON access-log line per request with the documented keys, secrets
never written to the gateway's output, Prometheus metrics with route and status labels,
and the admin health endpoints."""

import base64
import json
import re
import string
import subprocess
import time
import unittest
import zlib

from harness import (ACCESS_LOG_KEYS, Gateway, GatewayTestCase, base_config, build_request,
                     closed_port, gateway_bin, parse_prometheus, route, wait_until)

PLANTED = ["PLANTED-SECRET-xyz", "PLANTED-COOKIE", "PLANTED-QUERY", "PLANTED-APIKEY"]

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def api_key(key_id: str = "LeakedKey001", secret: str = "S" * 43) -> str:
    """A key of the gateway's format with a valid checksum (auth/api_key/key_format.h):
    recognisable offline, whether or not any store knows it."""
    body = f"ptk_{key_id}_{secret}"
    crc, check = zlib.crc32(body.encode()), ""
    for _ in range(6):
        crc, d = divmod(crc, 62)
        check = BASE62[d] + check
    return body + check


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


JWS = b64url({"alg": "RS256", "typ": "JWT"}) + "." + b64url({"sub": "leaked"}) + ".c2lnbmF0dXJl"


class ObservabilityTest(GatewayTestCase):

    @classmethod
    def make_config(cls, echo):
        return base_config(
            echo.port,
            upstreams={"dead": {"url": f"http://127.0.0.1:{closed_port()}", "timeout_s": 5,
                                "connect_timeout_s": 2}},
            routes=[
                route("echo", path_prefix="/echo"),
                route("fwd", path_prefix="/fwd", forward_authorization=True),
                route("dead", path_prefix="/dead", upstream="dead"),
            ],
            log={"redact_query_params": ["session"]})

    # --- access log -----------------------------------------------------------------------------

    def test_access_log_line_has_all_keys(self):
        """A proxied request produces a JSON line with every documented key and the right
        method, path, status, route, upstream and request_id."""
        r = self.get("/echo/logged?a=1", [("X-Request-Id", "obs-keys-1")])
        self.assertEqual(r.status, 200, str(r))
        entry = self.gateway.wait_for_access_log("obs-keys-1")
        missing = ACCESS_LOG_KEYS - entry.keys()
        self.assertEqual(missing, set(), f"access-log line lacks keys: {entry}")
        self.assertEqual(entry["method"], "GET")
        self.assertTrue(str(entry["path"]).startswith("/echo/logged"), entry)
        self.assertEqual(int(entry["status"]), 200)
        self.assertEqual(entry["route"], "echo")
        self.assertEqual(entry["upstream"], "echo")
        self.assertIsInstance(entry["duration_ms"], (int, float))
        self.assertGreaterEqual(entry["duration_ms"], 0)

    def test_access_log_has_host_user_agent_and_upstream_timing(self):
        """host, user_agent, upstream, upstream_status and upstream_ms: set when forwarded,
        null when the request never reached an upstream."""
        r = self.get("/echo/timed", [("X-Request-Id", "obs-up-1"), ("User-Agent", "probe/1.0"),
                                     ("X-Echo-Delay-Ms", "200")], host="api.example.test")
        self.assertEqual(r.status, 200, str(r))
        e = self.gateway.wait_for_access_log("obs-up-1")
        self.assertEqual(e["host"], "api.example.test")
        self.assertEqual(e["user_agent"], "probe/1.0")
        self.assertEqual(e["upstream"], "echo")
        self.assertEqual(e["upstream_status"], 200)
        self.assertGreaterEqual(e["upstream_ms"], 200)
        self.assertLessEqual(e["upstream_us"], e["duration_us"])

        r = self.get("/nowhere", [("X-Request-Id", "obs-up-2")], host="other.example.test")
        self.assertEqual(r.status, 404, str(r))
        e = self.gateway.wait_for_access_log("obs-up-2")
        self.assertEqual(e["host"], "other.example.test")
        self.assertEqual(e["user_agent"], "")
        self.assertIsNone(e["upstream"])
        self.assertIsNone(e["upstream_status"])
        self.assertIsNone(e["upstream_ms"])
        self.assertIsNone(e["upstream_us"])

        r = self.get("/dead/x", [("X-Request-Id", "obs-up-3")])
        self.assertEqual(r.status, 502, str(r))
        e = self.gateway.wait_for_access_log("obs-up-3")
        self.assertIsNone(e["upstream_status"])
        self.assertGreaterEqual(e["upstream_ms"], 0)

    def test_one_line_per_request(self):
        """Three requests on one keep-alive connection produce exactly one line each."""
        ids = [f"obs-count-{i}" for i in range(3)]
        with self.gateway.connect() as c:
            for rid in ids:
                c.send(build_request("GET", "/echo/count", [("X-Request-Id", rid)]))
                self.assertEqual(c.read_response().status, 200)
        for rid in ids:
            self.gateway.wait_for_access_log(rid)
        for rid in ids:
            lines = [e for e in self.gateway.access_log() if e.get("request_id") == rid]
            self.assertEqual(len(lines), 1, f"{rid}: {lines}")

    def test_error_responses_are_logged(self):
        """A 404 and a 502 are logged with their status (and the 502 with its upstream)."""
        self.assertEqual(self.get("/nowhere", [("X-Request-Id", "obs-404")]).status, 404)
        self.assertEqual(self.get("/dead/x", [("X-Request-Id", "obs-502")]).status, 502)
        self.assertEqual(int(self.gateway.wait_for_access_log("obs-404")["status"]), 404)
        e502 = self.gateway.wait_for_access_log("obs-502")
        self.assertEqual(int(e502["status"]), 502)
        self.assertEqual(e502["route"], "dead")
        self.assertEqual(e502["upstream"], "dead")

    def test_planted_secrets_never_appear_in_output(self):
        """Authorization, Cookie and a token/api_key query value never appear anywhere in
        the gateway's stdout or stderr, while the requests themselves are logged."""
        secret_headers = [("Authorization", "Bearer PLANTED-SECRET-xyz"),
                          ("Cookie", "session=PLANTED-COOKIE")]
        query = "?token=PLANTED-QUERY&api_key=PLANTED-APIKEY&page=2"
        cases = [
            ("obs-secret-ok", "/echo/secret" + query, 200),        # proxied
            ("obs-secret-fwd", "/fwd/secret" + query, 200),        # Authorization forwarded
            ("obs-secret-404", "/unrouted/secret" + query, 404),   # no route
            ("obs-secret-502", "/dead/secret" + query, 502),       # upstream failure
        ]
        for rid, target, status in cases:
            r = self.get(target, [*secret_headers, ("X-Request-Id", rid)])
            self.assertEqual(r.status, status, f"{target}: {r}")
        # A bad request carrying the same secrets (two Authorization headers: 400).
        r = self.gateway.send_raw(build_request("GET", "/echo/bad" + query, [
            ("Authorization", "Bearer PLANTED-SECRET-xyz"), ("Authorization", "Bearer PLANTED-SECRET-xyz"),
            ("Cookie", "session=PLANTED-COOKIE")]))
        self.assertEqual(r.status, 400, str(r))
        for rid, _, _ in cases:
            entry = self.gateway.wait_for_access_log(rid)
            self.assertNotIn("PLANTED", str(entry))
        # The forwarded route proves the secret did travel: it must still not be logged.
        self.assertEqual(self.get("/fwd/x", secret_headers).echo().header("Authorization"),
                         "Bearer PLANTED-SECRET-xyz")
        output = self.gateway.output()
        for secret in PLANTED:
            self.assertNotIn(secret, output, f"{secret} written to the gateway's output")

    def test_redacted_query_keeps_other_parameters(self):
        """Redaction hides only the listed parameters' values: the path is still logged."""
        self.get("/echo/redact?token=PLANTED-QUERY&page=3", [("X-Request-Id", "obs-redact")])
        entry = self.gateway.wait_for_access_log("obs-redact")
        self.assertIn("/echo/redact", entry["path"])
        self.assertNotIn("PLANTED-QUERY", str(entry))

    def test_credentials_in_the_query_are_redacted_by_default(self):
        """Issue 10, item 5: the built-in names are redacted whatever the config lists (it
        lists only `session` here, which extends them), and a key or JWS under any name is
        masked."""
        key = api_key()
        self.get(f"/echo/q?access_token={JWS}&session=PLANTED-QUERY&code=PLANTED-QUERY"
                 f"&page=3&x={key}&y=Bearer%20{JWS}", [("X-Request-Id", "obs-cred-query")])
        entry = self.gateway.wait_for_access_log("obs-cred-query")
        self.assertEqual(entry["query"], "access_token=REDACTED&session=REDACTED&code=REDACTED"
                                         "&page=3&x=REDACTED&y=Bearer%20REDACTED")
        output = self.gateway.output()
        for secret in (key, JWS, "PLANTED-QUERY"):
            self.assertNotIn(secret, output)

    def test_credentials_in_the_path_are_masked(self):
        key = api_key("PathKey00001")
        self.get(f"/echo/keys/{key}/t/{JWS}", [("X-Request-Id", "obs-cred-path")])
        entry = self.gateway.wait_for_access_log("obs-cred-path")
        self.assertEqual(entry["path"], "/echo/keys/REDACTED/t/REDACTED")
        self.assertNotIn(key, self.gateway.output())

    def test_a_key_in_the_query_never_reaches_the_upstream(self):
        """A route without api_key_query_param (here auth: none) still removes a key-shaped
        query parameter before forwarding; the rest of the query is forwarded as it was."""
        key = api_key("QueryKey0001")
        r = self.get(f"/echo/fwd?page=3&api_key={key}&other=ptk_not_a_key",
                     [("X-Request-Id", "obs-cred-fwd")])
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertNotIn(key, json.dumps(seen.query) + seen.target)
        self.assertEqual(seen.target, "/echo/fwd?page=3&other=ptk_not_a_key")

    def test_a_client_that_hangs_up_while_the_upstream_works_is_logged_499(self):
        """Issue 11: client aborts are logged. Found by an acceptance check: a client that
        closed its connection while the gateway waited for a slow upstream was logged 200.
        The sweeper sees the hang-up and calls the wait off: the line is written long before
        the upstream would have answered."""
        with self.gateway.connect() as c:
            c.send(build_request("GET", "/echo/slow", [("X-Request-Id", "obs-client-gone"),
                                                       ("X-Echo-Delay-Ms", "8000")]))
            time.sleep(0.3)
        closed = time.monotonic()
        log = self.gateway.wait_for_access_log("obs-client-gone", timeout=10)
        self.assertEqual((log["status"], log["reason"]), (499, "client_gone"), log)
        self.assertLess(time.monotonic() - closed, 6.0, "called off, not waited out")

    # --- metrics ----------------------------------------------------------------------------------

    def requests_total(self, route_name, status):
        total = 0.0
        for name, labels, value in parse_prometheus(self.gateway.metrics()):
            if (name == "portcullis_requests_total" and labels.get("route") == route_name
                    and labels.get("status") == str(status)):
                total += value
        return total

    def test_metrics_count_requests_by_route_and_status(self):
        """/metrics exposes portcullis_requests_total{route=...,status=...} and it grows by
        the number of requests sent."""
        before = self.requests_total("echo", 200)
        for _ in range(3):
            self.assertEqual(self.get("/echo/metrics").status, 200)
        wait_until(lambda: self.requests_total("echo", 200) >= before + 3, 5,
                   message="portcullis_requests_total{route=echo,status=200} to grow by 3")
        self.assertIn("portcullis_requests_total", self.gateway.metrics())

    def test_metrics_count_errors(self):
        """An upstream failure is counted under its route with status 502."""
        before = self.requests_total("dead", 502)
        self.assertEqual(self.get("/dead/m").status, 502)
        wait_until(lambda: self.requests_total("dead", 502) >= before + 1, 5,
                   message="portcullis_requests_total{route=dead,status=502} to grow")

    def test_metrics_are_prometheus_text(self):
        """/metrics answers 200 in the Prometheus text format (with # TYPE lines)."""
        r = self.gateway.admin_get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn("text/plain", r.header("Content-Type") or "")
        self.assertIn("# TYPE portcullis_requests_total counter", r.body.decode())

    def test_every_family_has_help_and_type(self):
        """Each family in /metrics has a # HELP line with a real description, then its
        # TYPE line, and every sample belongs to a declared family."""
        text = self.gateway.metrics()
        helps = dict(re.findall(r"^# HELP (\S+) (.+)$", text, re.M))
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        self.assertTrue(types)
        self.assertEqual(set(helps), set(types))
        for family, help_text in helps.items():
            self.assertNotEqual(help_text, "Undocumented metric.", family)
        for name, _, _ in parse_prometheus(text):
            family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
            self.assertIn(family, types, name)

    def test_counters_alerts_read_exist_from_the_start(self):
        """Reload and refused-connection counters are present at 0 before anything happened;
        the build and the standard process metrics are there too."""
        samples = parse_prometheus(self.gateway.metrics())

        def value(name, **labels):
            found = [v for n, l, v in samples if n == name and all(l.get(k) == x
                                                                   for k, x in labels.items())]
            self.assertEqual(len(found), 1, f"{name}{labels}: {found}")
            return found[0]

        self.assertEqual(value("portcullis_config_reloads_total", result="applied"), 0)
        self.assertEqual(value("portcullis_config_reloads_total", result="rejected"), 0)
        self.assertEqual(value("portcullis_connections_refused_total"), 0)
        version = subprocess.run([gateway_bin(), "version"], capture_output=True, text=True,
                                 check=True).stdout
        info = [l for n, l, v in samples if n == "portcullis_build_info" and v == 1]
        self.assertEqual(len(info), 1, samples)
        self.assertIn(info[0]["version"], version)
        self.assertIn(f"commit {info[0]['commit']}", version)
        self.assertRegex(info[0]["commit"], r"^([0-9a-f]{4,}|unknown)$")
        self.assertGreater(value("process_open_fds"), 3)
        self.assertGreater(value("process_resident_memory_bytes"), 1 << 20)
        self.assertGreaterEqual(value("process_cpu_seconds_total"), 0)  # ticks of 10 ms

    # --- admin ------------------------------------------------------------------------------------

    def test_admin_health_endpoints(self):
        """The admin listener answers /healthz and /readyz with 200."""
        self.assertEqual(self.gateway.admin_get("/healthz").status, 200)
        self.assertEqual(self.gateway.admin_get("/readyz").status, 200)

    def test_admin_endpoints_are_not_on_the_public_listener(self):
        """/metrics on the public port is routed like any other path (here: 404), so the
        admin surface is not exposed to clients."""
        r = self.get("/metrics")
        self.assertEqual(r.status, 404, str(r))
        self.assertNotIn(b"portcullis_requests_total", r.body)


class ConnectionsRefusedTest(GatewayTestCase):
    """A connection past server.max_connections is closed at once and counted."""

    @classmethod
    def make_config(cls, echo):
        return base_config(echo.port, server={"max_connections": 1})

    def refused(self):
        return sum(v for n, _, v in parse_prometheus(self.gateway.metrics())
                   if n == "portcullis_connections_refused_total")

    def test_connection_over_the_limit_is_counted(self):
        before = self.refused()
        with self.gateway.connect() as first:
            first.send(build_request("GET", "/echo/first"))
            self.assertEqual(first.read_response().status, 200)
            with self.gateway.connect() as second:
                self.assertTrue(second.peer_closed(2), "the second connection was not closed")
            wait_until(lambda: self.refused() >= before + 1, 2,
                       message="portcullis_connections_refused_total to grow")


if __name__ == "__main__":
    unittest.main()
