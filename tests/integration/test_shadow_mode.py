"""Shadow mode (issue 15, docs/shadow-mode.md): a route with `enforcement: shadow` forwards a
request it would refuse, without identity, and records the would-be status and reason in the
access log and a metric. Through the real gateway, the echo upstream and a real OpenID
provider (oidc-provider) issuing the JWTs."""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (Echo, Gateway, base_config, gateway_bin, line_of, parse_prometheus, route,
                     to_yaml, wait_until)
from jwt_idp import OIDC_RESOURCE, JwtOidc, b64u
from test_api_keys import KeysCli  # sets PORTCULLIS_KEY_PEPPER for the gateways and the CLI

IDENTITY_HEADERS = ("X-User-Id", "X-Client-Id", "X-User-Scopes", "X-User-Roles",
                    "X-Auth-Method")
FORGED = [("X-User-Id", "admin"), ("X-Client-Id", "evil"), ("X-User-Scopes", "orders:write"),
          ("X-Auth-Method", "jwt"), ("X_User_Id", "admin2"), ("x-user-roles", "root")]


def bearer(token: str) -> list:
    return [("Authorization", f"Bearer {token}")]


def tampered(token: str) -> str:
    """The provider's token with its signature changed: it no longer verifies."""
    head, payload, sig = token.split(".")
    return ".".join([head, payload, ("A" if sig[0] != "A" else "B") + sig[1:]])


def gateway_config(echo: Echo, discovery: str, enforcement: str = "shadow") -> dict:
    providers = {"idp": {"discovery": discovery, "audiences": [OIDC_RESOURCE],
                         "algorithms": ["RS256"], "typ": "at+jwt", "clock_skew_s": 0,
                         "jwks_refetch_cooldown_s": 0, "jwks_min_refresh_s": 1}}
    routes = [
        route("orders", path_prefix="/v1/orders", auth=["jwt:idp"],
              require_scopes=["orders:read"], enforcement=enforcement),
        route("orders-fwd", path_prefix="/v1/fwd", auth=["jwt:idp"], forward_authorization=True,
              enforcement=enforcement),
        route("enforced", path_prefix="/v1/enforced", auth=["jwt:idp"]),
    ]
    cfg = base_config(echo.port, routes=routes)
    cfg["jwt_providers"] = providers
    return cfg


def shadow_count(gw: Gateway, route_name: str, reason: str) -> int:
    for name, labels, value in parse_prometheus(gw.metrics()):
        if (name == "portcullis_shadow_refusals_total" and labels.get("route") == route_name
                and labels.get("reason") == reason):
            return int(value)
    return 0


def auth_failures(gw: Gateway, route_name: str) -> int:
    return sum(int(v) for n, labels, v in parse_prometheus(gw.metrics())
               if n == "portcullis_auth_failures_total" and labels.get("route") == route_name)


class ShadowAssertions:
    def assert_forwarded_without_identity(self, r, target_path: str):
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.path, target_path)
        names = seen.header_names_normalised()  # any spelling, '_' read as '-'
        for name in IDENTITY_HEADERS + ("Authorization",):
            self.assertNotIn(name.lower(), names, f"{name} reached the upstream: {seen.headers}")
        return seen

    def assert_shadow_logged(self, gw: Gateway, r, would_status: int, would_reason: str):
        entry = gw.wait_for_access_log(r.header("X-Request-Id"))
        self.assertIs(entry.get("shadow"), True, entry)
        self.assertEqual(entry.get("would_status"), would_status, entry)
        self.assertEqual(entry.get("would_reason"), would_reason, entry)
        self.assertEqual(entry["status"], 200, entry)
        self.assertEqual(entry["upstream"], "echo", entry)
        self.assertEqual(entry["reason"], "", entry)
        return entry


class ShadowModeTest(ShadowAssertions, unittest.TestCase):
    """One provider and one gateway whose `orders` routes are in shadow mode."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-ShadowModeTest-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cls.idp = JwtOidc(cls.workdir)
        cls.addClassCleanup(cls.idp.stop)
        cls.gw = Gateway(gateway_config(cls.echo, cls.idp.discovery), cls.workdir)
        cls.addClassCleanup(cls.gw.kill)
        cls.gw.start()
        cls.read_token = cls.idp.client_credentials("orders:read")
        cls.write_token = cls.idp.client_credentials("orders:write")

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def test_missing_credential_is_forwarded_without_identity_and_logged(self):
        before = shadow_count(self.gw, "orders", "missing_credential")
        failures = auth_failures(self.gw, "orders")
        r = self.gw.request("GET", "/v1/orders/1")
        self.assert_forwarded_without_identity(r, "/v1/orders/1")
        self.assertIsNone(r.header("WWW-Authenticate"))
        self.assert_shadow_logged(self.gw, r, 401, "missing_credential")
        self.assertEqual(shadow_count(self.gw, "orders", "missing_credential"), before + 1)
        # Not refused, so not an authentication failure.
        self.assertEqual(auth_failures(self.gw, "orders"), failures)

    def test_bad_credential_is_forwarded_without_identity_and_logged(self):
        before = shadow_count(self.gw, "orders", "invalid_credential")
        r = self.gw.request("GET", "/v1/orders/2", bearer(tampered(self.read_token)))
        self.assert_forwarded_without_identity(r, "/v1/orders/2")
        self.assert_shadow_logged(self.gw, r, 401, "invalid_credential")
        self.assertEqual(shadow_count(self.gw, "orders", "invalid_credential"), before + 1)
        # Not a JWT at all.
        r = self.gw.request("GET", "/v1/orders/3", bearer("not-a-token"))
        self.assert_forwarded_without_identity(r, "/v1/orders/3")
        entry = self.gw.wait_for_access_log(r.header("X-Request-Id"))
        self.assertEqual(entry["would_status"], 401, entry)

    def test_expired_credential_is_forwarded_without_identity_and_logged(self):
        self.idp.set_token_ttl(1)
        try:
            short = self.idp.client_credentials("orders:read")
        finally:
            self.idp.set_token_ttl(3600)
        time.sleep(2.2)  # clock_skew_s: 0
        before = shadow_count(self.gw, "orders", "expired_credential")
        r = self.gw.request("GET", "/v1/orders/4", bearer(short))
        self.assert_forwarded_without_identity(r, "/v1/orders/4")
        self.assert_shadow_logged(self.gw, r, 401, "expired_credential")
        self.assertEqual(shadow_count(self.gw, "orders", "expired_credential"), before + 1)

    def test_forged_identity_headers_are_stripped_in_shadow(self):
        for creds in ([], bearer(tampered(self.read_token))):
            r = self.gw.request("GET", "/v1/orders/5", FORGED + creds)
            self.assert_forwarded_without_identity(r, "/v1/orders/5")
            self.assertIsNone(r.echo().header("X-User-Roles"))
        # With a valid credential the gateway's values replace the forged ones.
        seen = self.gw.request("GET", "/v1/orders/5", FORGED + bearer(self.read_token)).echo()
        self.assertEqual(seen.header_all("X-Client-Id"), ["test-client"])
        self.assertEqual(seen.header_all("X-User-Scopes"), ["orders:read"])
        self.assertIsNone(seen.header("X-User-Roles"))
        self.assertIsNone(seen.header("X_User_Id"))

    def test_valid_credential_forwards_its_identity(self):
        r = self.gw.request("GET", "/v1/orders/6", bearer(self.read_token))
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.header("X-Client-Id"), "test-client")
        self.assertEqual(seen.header("X-User-Scopes"), "orders:read")
        self.assertEqual(seen.header("X-Auth-Method"), "jwt")
        self.assertIsNone(seen.header("Authorization"))
        entry = self.gw.wait_for_access_log(r.header("X-Request-Id"))
        self.assertNotIn("shadow", entry)
        self.assertNotIn("would_status", entry)

    def test_scope_refusal_forwards_the_identity_and_logs_403(self):
        before = shadow_count(self.gw, "orders", "insufficient_scope")
        r = self.gw.request("GET", "/v1/orders/7", bearer(self.write_token))
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.header("X-Client-Id"), "test-client")
        self.assertEqual(seen.header("X-User-Scopes"), "orders:write")
        self.assertEqual(seen.header("X-Auth-Method"), "jwt")
        entry = self.assert_shadow_logged(self.gw, r, 403, "insufficient_scope")
        self.assertEqual(entry["client_id"], "test-client", entry)
        self.assertEqual(shadow_count(self.gw, "orders", "insufficient_scope"), before + 1)

    def test_authorization_is_forwarded_only_with_an_identity(self):
        """forward_authorization: a valid token's Authorization goes up; a refused one's does
        not, since no identity vouches for it."""
        seen = self.gw.request("GET", "/v1/fwd/a", bearer(self.read_token)).echo()
        self.assertEqual(seen.header("Authorization"), f"Bearer {self.read_token}")
        r = self.gw.request("GET", "/v1/fwd/b", bearer(tampered(self.read_token)))
        self.assert_forwarded_without_identity(r, "/v1/fwd/b")
        self.assert_shadow_logged(self.gw, r, 401, "invalid_credential")

    def test_an_enforcing_route_beside_it_still_refuses(self):
        before = shadow_count(self.gw, "enforced", "missing_credential")
        r = self.gw.request("GET", "/v1/enforced/1")
        self.assertEqual(r.status, 401, str(r))
        entry = self.gw.wait_for_access_log(r.header("X-Request-Id"))
        self.assertNotIn("shadow", entry)
        self.assertEqual(entry["reason"], "missing_credential")
        self.assertEqual(shadow_count(self.gw, "enforced", "missing_credential"), before)

    def test_gateway_refusals_are_unchanged_in_shadow(self):
        # Framing (400) and the body limit are answered before any verdict on the caller.
        r = self.gw.request("GET", "/v1/orders/8",
                            [("Content-Length", "1"), ("Transfer-Encoding", "chunked")],
                            body=b"0\r\n\r\n")
        self.assertEqual(r.status, 400, str(r))
        r = self.gw.request("GET", "/v1/orders/%2F")
        self.assertEqual(r.status, 400, str(r))

    def test_metric_has_help(self):
        text = self.gw.metrics()
        self.assertIn("# HELP portcullis_shadow_refusals_total", text)
        self.assertIn("# TYPE portcullis_shadow_refusals_total counter", text)


class ShadowReloadAndProviderDownTest(ShadowAssertions, unittest.TestCase):
    """Gateways of their own: SIGHUP from shadow to enforce, the provider down, `check`."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-ShadowReloadTest-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)

    def gateway(self, name: str, cfg: dict) -> Gateway:
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        gw = Gateway(cfg, workdir)
        self.addCleanup(gw.kill)
        return gw

    def test_switching_to_enforce_by_sighup_refuses_the_same_request(self):
        idp = JwtOidc(self.workdir, name="jwt-oidc-reload")
        self.addCleanup(idp.stop)
        gw = self.gateway("reload", gateway_config(self.echo, idp.discovery))
        gw.start()
        bad = bearer(tampered(idp.client_credentials("orders:read")))
        r = gw.request("GET", "/v1/orders/1", bad)
        self.assert_forwarded_without_identity(r, "/v1/orders/1")
        r = gw.request("GET", "/v1/orders/1")
        self.assert_forwarded_without_identity(r, "/v1/orders/1")

        def applied():
            return sum(int(v) for n, labels, v in parse_prometheus(gw.metrics())
                       if n == "portcullis_config_reloads_total"
                       and labels.get("result") == "applied")
        before = applied()
        gw.write_config(gateway_config(self.echo, idp.discovery, enforcement="enforce"))
        gw.reload()
        wait_until(lambda: applied() > before, 10, message="the reload to apply")
        r = gw.request("GET", "/v1/orders/1")
        self.assertEqual(r.status, 401, str(r))
        self.assertIn("Bearer", r.header("WWW-Authenticate"))
        r = gw.request("GET", "/v1/orders/1", bad)
        self.assertEqual(r.status, 401, str(r))
        entry = gw.wait_for_access_log(r.header("X-Request-Id"))
        self.assertNotIn("shadow", entry)
        self.assertEqual(entry["reason"], "invalid_credential", entry)
        gw.stop()

    def test_provider_down_forwards_without_identity_instead_of_503(self):
        # The port stays bound (refusing connections): no provider ever answers there.
        hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        hold.bind(("127.0.0.1", 0))
        self.addCleanup(hold.close)
        issuer = f"http://127.0.0.1:{hold.getsockname()[1]}"
        cfg = gateway_config(self.echo, f"{issuer}/.well-known/openid-configuration")
        gw = self.gateway("down", cfg)
        gw.start(wait_ready=False)
        now = int(time.time())
        token = ".".join([b64u('{"alg":"RS256","typ":"at+jwt","kid":"k"}'),
                          b64u(json.dumps({"iss": issuer, "aud": OIDC_RESOURCE, "sub": "42",
                                           "scope": "orders:read", "exp": now + 600})),
                          b64u(os.urandom(256))])
        before = shadow_count(gw, "orders", "provider_unavailable")
        r = gw.request("GET", "/v1/orders/9", bearer(token) + FORGED)
        self.assert_forwarded_without_identity(r, "/v1/orders/9")
        self.assert_shadow_logged(gw, r, 503, "provider_unavailable")
        self.assertEqual(shadow_count(gw, "orders", "provider_unavailable"), before + 1)
        # The enforcing route beside it still answers 503, and /readyz is unaffected by shadow
        # mode: the provider the routes use has no keys, so the gateway is not ready.
        self.assertEqual(gw.request("GET", "/v1/enforced/1", bearer(token)).status, 503)
        self.assertEqual(gw.admin_get("/readyz").status, 503)
        gw.stop()

    def test_check_prints_the_shadow_routes(self):
        cfg = gateway_config(self.echo, "http://127.0.0.1:9/.well-known/openid-configuration")
        cfg["server"]["listen"] = "127.0.0.1:18080"
        cfg["admin"]["listen"] = "127.0.0.1:18081"
        text = to_yaml(cfg)
        path = os.path.join(self.workdir, "shadow-check.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([gateway_bin(), "check", "-c", path], capture_output=True, text=True,
                           timeout=20)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        shadow_lines = re.findall(
            r"shadow-check\.yaml:(\d+):\d+: route '([\w-]+)' is in shadow mode .*\(warning\)", out)
        self.assertEqual(sorted(name for _, name in shadow_lines), ["orders", "orders-fwd"], out)
        lines = {name: int(n) for n, name in shadow_lines}
        self.assertEqual(lines["orders"], line_of(text, 'name: "orders"'), out)
        self.assertNotIn("'enforced' is in shadow mode", out)


class ShadowApiKeyTest(ShadowAssertions, unittest.TestCase):
    """API keys on a shadow route: a key the mechanism itself refuses (limited to another route
    or to other addresses) is not a valid credential here, so no identity is forwarded; only
    the route's own policy refusing a valid key forwards its identity."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-ShadowApiKeyTest-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cli = KeysCli(os.path.join(cls.workdir, "keys.db"))
        cls.other_route = cli.create("other-route", scopes=["orders:read"], routes=["reports"])
        cls.ten_net = cli.create("ten-net", scopes=["orders:read"], cidrs=["10.0.0.0/8"])
        cls.writer = cli.create("writer", scopes=["orders:write"])
        cls.reader = cli.create("reader", scopes=["orders:read"])
        cfg = base_config(cls.echo.port, routes=[
            route("reports", path_prefix="/v1/reports", auth=["api_key"]),
            route("orders", path_prefix="/v1/orders", auth=["api_key"],
                  require_scopes=["orders:read"], enforcement="shadow"),
            route("by-client", path_prefix="/v1/by-client", auth=["api_key"],
                  rate_limits=["two-per-client"], enforcement="shadow"),
            route("by-ip", path_prefix="/v1/by-ip", auth=["api_key"],
                  rate_limits=["two-per-ip"], enforcement="shadow"),
        ])
        cfg["api_keys"] = {"header": "X-API-Key", "store": "sqlite:keys.db",
                           "pepper": "${PORTCULLIS_KEY_PEPPER}"}
        cfg["rate_limits"] = {
            "two-per-client": {"requests": 2, "per": "1h", "key": "client_id"},
            "two-per-ip": {"requests": 2, "per": "1h", "key": "ip"},
        }
        cls.gw = Gateway(cfg, cls.workdir)
        cls.addClassCleanup(cls.gw.kill)
        cls.gw.start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def test_a_key_the_mechanism_refuses_forwards_no_identity(self):
        for key, reason in ((self.other_route, "route_not_allowed"),
                            (self.ten_net, "source_not_allowed")):
            with self.subTest(reason=reason):
                r = self.gw.request("GET", "/v1/orders/1", [("X-API-Key", key["key"])] + FORGED)
                self.assert_forwarded_without_identity(r, "/v1/orders/1")
                self.assertIsNone(r.echo().header("X-API-Key"))
                entry = self.assert_shadow_logged(self.gw, r, 403, reason)
                # Named in the log (the key proved genuine), never forwarded.
                self.assertEqual(entry["client_id"], key["client_id"], entry)

    def test_a_valid_key_the_policy_refuses_forwards_its_identity(self):
        r = self.gw.request("GET", "/v1/orders/2", [("X-API-Key", self.writer["key"])])
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.header("X-Client-Id"), "writer")
        self.assertEqual(seen.header("X-Auth-Method"), "api-key")
        self.assertIsNone(seen.header("X-API-Key"))
        self.assert_shadow_logged(self.gw, r, 403, "insufficient_scope")
        seen = self.gw.request("GET", "/v1/orders/3", [("X-API-Key", self.reader["key"])]).echo()
        self.assertEqual(seen.header("X-Client-Id"), "reader")


    def test_a_would_be_429_after_authentication_forwards_with_identity(self):
        key = [("X-API-Key", self.reader["key"])]
        before = shadow_count(self.gw, "by-client", "rate_limited")
        for i in range(2):
            r = self.gw.request("GET", "/v1/by-client/x", key)
            self.assertEqual(r.status, 200, str(r))
            self.assertNotIn("shadow", self.gw.wait_for_access_log(r.header("X-Request-Id")))
        r = self.gw.request("GET", "/v1/by-client/x", key)
        self.assertEqual(r.status, 200, str(r))
        self.assertIsNone(r.header("Retry-After"))
        self.assertEqual(r.echo().header("X-Client-Id"), "reader")
        entry = self.assert_shadow_logged(self.gw, r, 429, "rate_limited")
        self.assertEqual(entry.get("rate_limit"), "two-per-client", entry)
        self.assertEqual(shadow_count(self.gw, "by-client", "rate_limited"), before + 1)

    def test_a_would_be_429_before_authentication_keeps_a_valid_identity(self):
        key = [("X-API-Key", self.reader["key"])]
        for i in range(2):
            self.assertEqual(self.gw.request("GET", "/v1/by-ip/x", key).status, 200)
        # Over the ip limit: judged before the credential, which is then still checked.
        r = self.gw.request("GET", "/v1/by-ip/x", key)
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().header("X-Client-Id"), "reader")
        self.assert_shadow_logged(self.gw, r, 429, "rate_limited")
        # A bad key over the limit: the first verdict (429) is logged, both are counted, and
        # nothing vouches for the caller.
        missing = shadow_count(self.gw, "by-ip", "missing_credential")
        r = self.gw.request("GET", "/v1/by-ip/y", FORGED)
        self.assert_forwarded_without_identity(r, "/v1/by-ip/y")
        self.assert_shadow_logged(self.gw, r, 429, "rate_limited")
        self.assertEqual(shadow_count(self.gw, "by-ip", "missing_credential"), missing + 1)


if __name__ == "__main__":
    unittest.main()
