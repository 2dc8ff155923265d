"""OAuth2 opaque tokens through the running gateway, checked by RFC 7662 introspection at a
real authorization server (npm oidc-provider, tests/idp/oauth2_idp.mjs) on loopback.

One gateway for the class, with providers that differ only where a test needs it:
  idp        cache_s 60, issuer and audience checked: the normal case
  post       client_secret_post instead of client_secret_basic
  idp_short  cache_s 2: revocation is seen once the cache entry ends
  idp_off    cache_s 0: revocation is seen at once
  fragile    timeout_ms 500, its own breaker: the slow / failing provider tests
  down       points at a second IdP that a test stops
  disc       found by discovery (.well-known/openid-configuration)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (Echo, GatewayTestCase, RawConnection, base_config, build_request,
                     gateway_bin, parse_prometheus, route, wait_until)
from oauth2_idp import GATEWAY_SECRET, JWT_RESOURCE, OPAQUE_RESOURCE, OTHER_RESOURCE, Idp


def bearer(token: str) -> list:
    return [("Authorization", f"Bearer {token}")]


def provider(idp: Idp, secret_file: str, **overrides) -> dict:
    p = {"introspection_endpoint": idp.introspection_endpoint, "client_id": "gateway",
         "client_secret": f"file:{secret_file}", "timeout_ms": 1000}
    p.update(overrides)
    return p


class OAuth2Test(GatewayTestCase):
    idp: Idp
    idp_down: Idp

    @classmethod
    def setUpClass(cls) -> None:
        # The IdPs first: the gateway's config names their ports.
        cls.idp_workdir = tempfile.mkdtemp(prefix="portcullis-oauth2-idp-")
        cls.addClassCleanup(shutil.rmtree, cls.idp_workdir, True)
        cls.idp = Idp(cls.idp_workdir, "idp")
        cls.addClassCleanup(cls.idp.stop)
        cls.idp_down = Idp(cls.idp_workdir, "idp-down")
        cls.addClassCleanup(lambda: cls.idp_down.stop())  # whichever instance is current
        super().setUpClass()

    @classmethod
    def make_config(cls, echo: Echo) -> dict:
        secret = os.path.join(cls.idp_workdir, "gateway.secret")
        with open(secret, "w") as f:
            f.write(GATEWAY_SECRET + "\n")
        cfg = base_config(echo.port, routes=[
            route("orders", path_prefix="/v1/orders", auth=["oauth2:idp"],
                  require_scopes=["orders:read"]),
            route("short", path_prefix="/short", auth=["oauth2:idp_short"]),
            route("off", path_prefix="/off", auth=["oauth2:idp_off"]),
            route("fragile", path_prefix="/fragile", auth=["oauth2:fragile"]),
            route("down", path_prefix="/down", auth=["oauth2:down"]),
            route("disc", path_prefix="/disc", auth=["oauth2:disc"]),
            route("post", path_prefix="/post", auth=["oauth2:post"]),
            route("open", path_prefix="/open"),
            route("shielded", path_prefix="/shielded", auth=["oauth2:idp_off"],
                  rate_limits=["guesses"]),
        ])
        cfg["rate_limits"] = {"guesses": {"requests": 10, "per": "1h", "key": "ip",
                                          "count": "failed_auth"}}
        cfg["oauth2_providers"] = {
            "idp": provider(cls.idp, secret, cache_s=60, issuer=cls.idp.issuer,
                            audiences=[OPAQUE_RESOURCE]),
            "post": dict(provider(cls.idp, secret), client_id="gateway-post",
                         auth_method="client_secret_post"),
            "idp_short": provider(cls.idp, secret, cache_s=2, negative_cache_s=1),
            "idp_off": provider(cls.idp, secret, cache_s=0, negative_cache_s=0),
            "fragile": provider(cls.idp, secret, cache_s=0, negative_cache_s=0, timeout_ms=500,
                                breaker_failures=3, breaker_open_s=1),
            "down": provider(cls.idp_down, secret, cache_s=60, breaker_failures=3,
                             breaker_open_s=1),
            "disc": {"discovery": cls.idp.discovery, "client_id": "gateway",
                     "client_secret": f"file:{secret}"},
        }
        # The route of the example: JWTs validated locally, other tokens introspected.
        cfg["jwt_providers"] = {"main": {
            "issuer": cls.idp.issuer, "audiences": [JWT_RESOURCE], "algorithms": ["RS256"],
            "jwks_uri": f"{cls.idp.issuer}/jwks", "typ": "at+jwt"}}
        cfg["routes"].insert(0, route("both", path_prefix="/both",
                                      auth=["jwt:main", "oauth2:idp"]))
        # Sections in an order the YAML writer keeps: providers before routes.
        ordered = {k: v for k, v in cfg.items() if k != "routes"}
        ordered["routes"] = cfg["routes"]
        return ordered

    def setUp(self) -> None:
        self.idp.reset()

    def tearDown(self) -> None:
        self.idp.reset()

    def assert_bearer_error(self, r, status: int, error: str, description: str = "") -> dict:
        body = self.assert_error_json(r, status)
        self.assertEqual(body["error"], error, str(r))
        if description:
            self.assertIn(description, body["error_description"], str(r))
        if status == 401:
            challenge = r.header("WWW-Authenticate") or ""
            self.assertTrue(challenge.startswith("Bearer "), challenge)
            self.assertIn(f'error="{error}"', challenge)
        return body

    # --- the normal case ------------------------------------------------------------------------

    def test_client_credentials_token_reaches_upstream_with_identity(self):
        token = self.idp.token("orders:read orders:write")
        r = self.gateway.request("GET", "/v1/orders/7", bearer(token) + [("X-Request-Id", "oauth2-ok-1")])
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.header("X-Client-Id"), "test-client")
        self.assertEqual(seen.header("X-User-Scopes"), "orders:read orders:write")
        self.assertEqual(seen.header("X-Auth-Method"), "oauth2")
        self.assertIsNone(seen.header("X-User-Id"))  # client credentials: no end user
        self.assertIsNone(seen.header("Authorization"))  # the token is not forwarded
        entry = self.gateway.wait_for_access_log("oauth2-ok-1")
        self.assertEqual(entry["auth_method"], "oauth2")
        self.assertEqual(entry["client_id"], "test-client")
        self.assertNotIn(token, self.gateway.output())

    def test_token_for_another_resource_is_refused_by_audience(self):
        token = self.idp.token("orders:read", resource=OTHER_RESOURCE)
        self.assertEqual(self.idp.introspect(token)["aud"], OTHER_RESOURCE)
        r = self.get("/v1/orders", bearer(token) + [("X-Request-Id", "oauth2-aud-1")])
        self.assert_bearer_error(r, 401, "invalid_token", "another audience")
        # Issue 11: the provider called the token active, so the refusal names its client.
        entry = self.gateway.wait_for_access_log("oauth2-aud-1")
        self.assertEqual((entry["client_id"], entry["auth_method"]), ("test-client", "oauth2"),
                         entry)
        self.assertRegex(entry.get("credential_id", ""), r"^\S+$", entry)
        self.assertNotIn(token, json.dumps(entry))
        # The same token is fine where no audience is required.
        self.assertEqual(self.get("/off", bearer(token)).status, 200)

    def test_client_secret_post(self):
        token = self.idp.token()
        r = self.get("/post", bearer(token))
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().header("X-Client-Id"), "test-client")

    def test_second_request_is_answered_from_the_cache(self):
        token = self.idp.token()
        for _ in range(5):
            self.assertEqual(self.get("/v1/orders", bearer(token)).status, 200)
        self.assertEqual(self.idp.introspections(), 1)

    def test_missing_scope_is_403(self):
        token = self.idp.token("orders:write")
        r = self.get("/v1/orders", bearer(token))
        self.assert_error_json(r, 403)
        self.assertEqual(r.json()["error"], "insufficient_scope")
        self.assertIn('scope="orders:read"', r.header("WWW-Authenticate") or "")

    def test_unknown_token_is_401_inactive(self):
        r = self.get("/v1/orders", bearer("not-a-token-the-idp-issued") +
                     [("X-Request-Id", "oauth2-inactive-1")])
        self.assert_bearer_error(r, 401, "invalid_token", "not active")
        entry = self.gateway.wait_for_access_log("oauth2-inactive-1")
        self.assertEqual((entry["client_id"], entry["auth_method"]), ("", ""), entry)
        self.assertNotIn("credential_id", entry)
        self.assertEqual(self.idp.introspections(), 1)
        # Remembered for negative_cache_s: no second call.
        self.get("/v1/orders", bearer("not-a-token-the-idp-issued"))
        self.assertEqual(self.idp.introspections(), 1)

    def test_no_token_is_401_with_a_bearer_challenge(self):
        r = self.get("/v1/orders")
        self.assert_error_json(r, 401)
        self.assertIn("Bearer", r.header("WWW-Authenticate") or "")
        self.assertEqual(self.idp.introspections(), 0)

    def test_malformed_token_is_refused_without_a_call(self):
        r = self.get("/v1/orders", [("Authorization", 'Bearer a"b')])
        self.assert_bearer_error(r, 401, "invalid_token", "malformed")
        r = self.get("/v1/orders", bearer("a" * 9000))
        self.assert_bearer_error(r, 401, "invalid_token", "too large")
        self.assertEqual(self.idp.introspections(), 0)

    # --- token types ------------------------------------------------------------------------------

    def test_refresh_token_never_calls_an_api(self):
        rt = self.idp.refresh_token()
        self.assertTrue(self.idp.introspect(rt)["active"])  # the IdP says it is a live token...
        r = self.get("/v1/orders", bearer(rt))
        self.assert_bearer_error(r, 401, "invalid_token", "refresh token")
        self.assertIn("refresh token", r.header("WWW-Authenticate"))
        self.assertEqual(self.get("/off", bearer(rt)).status, 401)

    def test_jwt_and_opaque_tokens_on_one_route(self):
        opaque = self.idp.token("orders:read")
        jwt = self.idp.token("orders:read", resource=JWT_RESOURCE)
        self.assertEqual(jwt.count("."), 2)
        r1 = self.get("/both", bearer(opaque))
        self.assertEqual(r1.status, 200, str(r1))
        self.assertEqual(r1.echo().header("X-Auth-Method"), "oauth2")
        calls = self.idp.introspections()
        r2 = wait_until(lambda: (lambda r: r if r.status == 200 else None)(self.get("/both", bearer(jwt))),
                        10, interval=0.2, message="the JWT to be accepted (JWKS fetched)")
        self.assertEqual(r2.echo().header("X-Auth-Method"), "jwt")
        self.assertEqual(self.idp.introspections(), calls)  # a JWT is validated locally

    # --- revocation -----------------------------------------------------------------------------

    def test_revoked_token_is_refused_once_the_cache_entry_ends(self):
        token = self.idp.token()
        self.assertEqual(self.get("/short", bearer(token)).status, 200)
        self.idp.revoke(token)
        self.assertFalse(self.idp.introspect(token)["active"])
        revoked_at = time.monotonic()
        # Within cache_s (2 s) the cached answer stands: that is the trade-off cache_s sets.
        self.assertEqual(self.get("/short", bearer(token)).status, 200)

        def refused():
            r = self.get("/short", bearer(token))
            return r if r.status == 401 else None
        r = wait_until(refused, 5, interval=0.1, message="the revoked token to be refused")
        self.assert_bearer_error(r, 401, "invalid_token")
        self.assertLess(time.monotonic() - revoked_at, 2.5)

    def test_revoked_token_is_refused_at_once_with_the_cache_off(self):
        token = self.idp.token()
        self.assertEqual(self.get("/off", bearer(token)).status, 200)
        self.assertEqual(self.get("/off", bearer(token)).status, 200)
        self.assertEqual(self.idp.introspections(), 2)  # cache_s 0: every request asks
        self.idp.revoke(token)
        r = self.get("/off", bearer(token))
        self.assert_bearer_error(r, 401, "invalid_token", "not active")

    # --- one call for many requests ---------------------------------------------------------------

    def test_thousand_concurrent_requests_with_one_new_token_make_one_call(self):
        token = self.idp.token()
        # The IdP answers slowly, so every connection's first request arrives while the one
        # introspection is in flight: they must wait for it, not make their own.
        self.idp.delay(400)
        conns, per_conn = 50, 20
        request = build_request("GET", "/v1/orders/bulk", bearer(token))
        barrier = threading.Barrier(conns)
        statuses: list = []
        errors: list = []
        lock = threading.Lock()

        def client():
            try:
                with RawConnection(self.gateway.port, timeout=30) as c:
                    barrier.wait(10)
                    c.send(request * per_conn)  # pipelined
                    got = [c.read_response("GET", 30).status for _ in range(per_conn)]
                with lock:
                    statuses.extend(got)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(repr(e))

        threads = [threading.Thread(target=client) for _ in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(statuses), conns * per_conn)
        self.assertEqual(set(statuses), {200})
        self.assertEqual(self.idp.introspections(), 1)
        samples = parse_prometheus(self.gateway.metrics())
        coalesced = sum(v for n, l, v in samples
                        if n == "portcullis_introspection_coalesced_total" and l.get("provider") == "idp")
        self.assertGreaterEqual(coalesced, conns - 1)

    def test_concurrent_guesses_cannot_pass_the_failed_auth_shield_together(self):
        """Issue 13's shield, found by an acceptance check: with authentication waiting on
        the identity provider, guesses sent at once all passed the shield's check before the
        first failure was recorded (101 tokens checked against a shield of 10). An attempt
        still waiting now counts: exactly 10 reach the provider, the rest get 429."""
        self.idp.delay(300)
        conns = [RawConnection(self.gateway.port, timeout=30) for _ in range(30)]
        try:
            for c in conns:
                c.send(build_request("GET", "/shielded/x", bearer(secrets.token_urlsafe(32))))
            statuses = [c.read_response("GET", 30).status for c in conns]
        finally:
            for c in conns:
                c.close()
        self.assertEqual((statuses.count(401), statuses.count(429)), (10, 20), statuses)
        self.assertEqual(self.idp.introspections(), 10)

    # --- the provider failing ----------------------------------------------------------------------

    def test_slow_provider_gives_503_after_timeout_and_other_routes_keep_their_latency(self):
        self.idp.delay(3000)
        results: list = []

        def slow_request(i: int):
            start = time.monotonic()
            r = self.get("/fragile", bearer(f"slow-token-{i}"), timeout=10)
            results.append((r, time.monotonic() - start))

        slow = [threading.Thread(target=slow_request, args=(i,)) for i in range(8)]
        for t in slow:
            t.start()
        # Meanwhile, on the same worker, a route with auth: none.
        latencies = []
        with self.gateway.connect() as c:
            deadline = time.monotonic() + 1.2
            while time.monotonic() < deadline:
                start = time.monotonic()
                c.send(build_request("GET", "/open/ping"))
                r = c.read_response()
                latencies.append(time.monotonic() - start)
                self.assertEqual(r.status, 200)
        for t in slow:
            t.join(15)
        self.assertEqual(len(results), 8)
        for r, took in results:
            self.assert_bearer_error(r, 503, "temporarily_unavailable")
            self.assertNotIn(r.status, (200, 401))
        # The first calls waited for timeout_ms (500 ms); the breaker then answered at once.
        self.assertTrue(any(0.4 <= took < 2.0 for _, took in results), [t for _, t in results])
        self.assertTrue(all(took < 2.5 for _, took in results), [t for _, t in results])
        latencies.sort()
        self.assertGreater(len(latencies), 20)
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        # A worker waiting on the provider would show here as >= timeout_ms (500 ms).
        self.assertLess(p99, 0.2, f"auth: none route slowed down: p99 {p99 * 1000:.1f} ms")
        self.wait_breaker_closed("fragile")

    def wait_breaker_closed(self, name: str) -> None:
        """Lets the next test start with a closed breaker (a trial call closes it)."""
        self.idp.reset()
        token = self.idp.token()

        def ok():
            return self.get(f"/{name}", bearer(token)).status == 200
        wait_until(ok, 10, interval=0.2, message=f"provider {name} to answer again")

    def test_provider_errors_and_nonsense_are_503_never_401(self):
        for status in (500, 502, 401):
            self.idp.fail_with(status)
            r = self.get("/fragile", bearer("any-token"))
            self.assert_bearer_error(r, 503, "temporarily_unavailable")
            self.assertIsNone(r.header("WWW-Authenticate"))
        # The breaker opens after breaker_failures and answers without calling.
        calls = self.idp.introspections()
        for _ in range(5):
            r = self.get("/fragile", bearer("any-token"))
            self.assert_bearer_error(r, 503, "temporarily_unavailable", "paused")
        self.assertEqual(self.idp.introspections(), calls)
        m = parse_prometheus(self.gateway.metrics())
        self.assertIn(("portcullis_introspection_breaker_open", {"provider": "fragile"}, 1.0), m)
        self.wait_breaker_closed("fragile")
        m = parse_prometheus(self.gateway.metrics())
        self.assertIn(("portcullis_introspection_breaker_open", {"provider": "fragile"}, 0.0), m)

    def test_answer_that_would_split_a_header_is_503_and_not_forwarded(self):
        # An active answer whose sub holds CR LF would add a header upstream if forwarded.
        self.idp.answer_with({"active": True, "sub": "x\r\nX-Admin: 1", "client_id": "c",
                              "scope": "orders:read", "token_type": "Bearer"})
        try:
            r = self.get("/fragile", bearer("token-with-a-bad-answer"))
            self.assert_bearer_error(r, 503, "temporarily_unavailable", "could not be read")
        finally:
            self.wait_breaker_closed("fragile")

    def test_scope_item_with_a_space_is_503_and_not_forwarded(self):
        # X-User-Scopes joins items with spaces: upstream would read "orders:read" and
        # "admin" where policy saw the single item "orders:read admin" (issue 10, item 10).
        self.idp.answer_with({"active": True, "sub": "u1", "client_id": "c",
                              "scope": ["orders:read admin"], "token_type": "Bearer"})
        try:
            r = self.get("/fragile", bearer("token-with-a-spaced-scope"))
            # The gateway's own refusal: the echo upstream never saw the request.
            self.assert_bearer_error(r, 503, "temporarily_unavailable", "could not be read")
        finally:
            self.wait_breaker_closed("fragile")

    def test_provider_stopped_is_503_never_200_nor_401(self):
        cached = self.idp_down.token()
        fresh = self.idp_down.token()
        self.assertEqual(self.get("/down", bearer(cached)).status, 200)
        port = self.idp_down.port
        self.idp_down.stop()
        # A token it had vouched for keeps working for its cache entry's life...
        self.assertEqual(self.get("/down", bearer(cached)).status, 200)
        # ...anything else is 503, whatever it is.
        for token in (fresh, "garbage-token", fresh, "another"):
            r = self.get("/down", bearer(token))
            self.assert_bearer_error(r, 503, "temporarily_unavailable")
        # Back on the same address (its tokens were in memory: new ones are needed).
        type(self).idp_down = Idp(self.idp_workdir, "idp-down", port=port)
        token = self.idp_down.token()

        def ok():
            return self.get("/down", bearer(token)).status == 200
        wait_until(ok, 10, interval=0.2, message="the gateway to use the restarted provider")

    # --- discovery, metrics -------------------------------------------------------------------------

    def test_discovered_provider_works(self):
        # /readyz was 200 before the class started: discovery had succeeded.
        token = self.idp.token()
        r = self.get("/disc", bearer(token))
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().header("X-Auth-Method"), "oauth2")

    def test_metrics_count_calls_hits_and_latency_without_tokens(self):
        token = self.idp.token()
        self.get("/v1/orders", bearer(token))
        self.get("/v1/orders", bearer(token))
        self.get("/v1/orders", bearer("unknown-token-for-metrics"))
        self.get("/v1/orders", bearer("unknown-token-for-metrics"))
        text = self.gateway.metrics()
        samples = parse_prometheus(text)

        def value(name, **labels):
            return sum(v for n, l, v in samples
                       if n == name and all(l.get(k) == w for k, w in labels.items()))
        self.assertGreaterEqual(value("portcullis_introspection_calls_total", provider="idp",
                                      result="active"), 1)
        self.assertGreaterEqual(value("portcullis_introspection_calls_total", provider="idp",
                                      result="inactive"), 1)
        self.assertGreaterEqual(value("portcullis_introspection_cache_hits_total", provider="idp",
                                      kind="positive"), 1)
        self.assertGreaterEqual(value("portcullis_introspection_cache_hits_total", provider="idp",
                                      kind="negative"), 1)
        self.assertGreaterEqual(value("portcullis_introspection_latency_seconds_count",
                                      provider="idp"), 2)
        self.assertIn("portcullis_introspection_breaker_open", text)
        self.assertNotIn(token, text)
        self.assertNotIn("unknown-token-for-metrics", text)
        self.assertNotIn(token, self.gateway.output())


class OAuth2ConfigTest(unittest.TestCase):
    """Config errors point at file:line:col."""

    def check(self, text: str) -> subprocess.CompletedProcess:
        path = f"/tmp/portcullis-oauth2-check-{os.getpid()}.yaml"
        with open(path, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return subprocess.run([gateway_bin(), "check", "-c", path], capture_output=True,
                              text=True, timeout=10)

    def test_errors_name_the_line(self):
        r = self.check(
            "upstreams: { u: { url: http://127.0.0.1:9 } }\n"
            "oauth2_providers:\n"
            "  idp:\n"
            "    introspection_endpoint: ftp://idp.test/introspect\n"
            "    client_id: gateway\n"
            "    client_secret: literal-secret\n"
            "    cache_ss: 5\n"
            "routes:\n"
            "  - { name: r, match: { path_prefix: / }, upstream: u, auth: [oauth2:other] }\n")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r":4:29: invalid introspection_endpoint 'ftp:.*expected http")
        self.assertRegex(r.stderr, r":6:20: client_secret must be a reference")
        self.assertRegex(r.stderr, r":7:5: unknown key 'cache_ss'.*did you mean 'cache_s'")
        self.assertRegex(r.stderr, r":9:\d+: auth method 'oauth2:other' names no provider")
        self.assertNotIn("literal-secret", r.stderr)

    def test_valid_provider_checks_ok(self):
        os.environ["PORTCULLIS_TEST_INTROSPECTION_SECRET"] = "s3cret"
        r = self.check(
            "upstreams: { u: { url: http://127.0.0.1:9 } }\n"
            "oauth2_providers:\n"
            "  idp:\n"
            "    introspection_endpoint: http://127.0.0.1:9100/token/introspection\n"
            "    client_id: gateway\n"
            "    client_secret: ${PORTCULLIS_TEST_INTROSPECTION_SECRET}\n"
            "    auth_method: client_secret_post\n"
            "    cache_s: 60\n"
            "routes:\n"
            "  - { name: r, match: { path_prefix: / }, upstream: u, auth: [oauth2:idp] }\n")
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
