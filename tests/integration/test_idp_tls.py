"""TLS to identity providers end to end (issue 12, item 5): the real oidc-provider served over
https (node's https module) with a certificate made at test time by a test CA (certs.py).

JWKS and discovery over https work (the discovered jwks_uri is https too); introspection over
https works, on kept-alive connections, with sessions resumed on new ones. With a CA that does
not match, the IdP counts as down: the routes that need it answer 503 and /readyz is not ready
until keys are known. tls_verify: false reaches it anyway, and is warned about.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from certs import Pki
from harness import Echo, Gateway, base_config, gateway_bin, line_of, route, to_yaml, wait_until
from jwt_idp import OIDC_RESOURCE, JwtOidc
from oauth2_idp import GATEWAY_SECRET, OPAQUE_RESOURCE, Idp
from test_jwt import LazyGateway, TrapServer

D_NOT_READY = "jwks_unavailable: the signing keys have not been fetched yet"


def bearer(token: str) -> list:
    return [("Authorization", f"Bearer {token}")]


class IdpTlsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-IdpTlsTest-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        pki = Pki(cls.workdir)
        cls.ca = pki.ca("idp-ca")
        cls.other_ca = pki.ca("other-ca")
        cls.cert = cls.ca.server("idp", dns=["localhost"], ips=["127.0.0.1"])
        cls.secret_file = os.path.join(cls.workdir, "gateway.secret")
        with open(cls.secret_file, "w") as f:
            f.write(GATEWAY_SECRET + "\n")
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cls.oidc = JwtOidc(cls.workdir, tls=cls.cert)
        cls.addClassCleanup(cls.oidc.stop)
        cls.idp = Idp(cls.workdir, "oauth2-idp", tls=cls.cert)
        cls.addClassCleanup(cls.idp.stop)

    # ---- helpers ---------------------------------------------------------------------------------

    def gateway(self, name: str, cfg: dict, lazy: bool = False) -> Gateway:
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        gw = (LazyGateway if lazy else Gateway)(cfg, workdir)
        self.addCleanup(gw.kill)
        gw.start()
        return gw

    def jwt_config(self, **provider) -> dict:
        p = {"discovery": self.oidc.base + "/.well-known/openid-configuration",
             "audiences": [OIDC_RESOURCE], "algorithms": ["RS256"], "typ": "at+jwt",
             "ca_file": self.ca.cert, "jwks_min_refresh_s": 1, "jwks_refetch_cooldown_s": 1}
        p.update(provider)
        cfg = base_config(self.echo.port, routes=[
            route("orders", path_prefix="/v1/orders", auth=["jwt:idp"])])
        cfg["jwt_providers"] = {"idp": {k: v for k, v in p.items() if v is not None}}
        return self.ordered(cfg)

    def oauth2_config(self, **provider) -> dict:
        p = {"introspection_endpoint": self.idp.introspection_endpoint, "client_id": "gateway",
             "client_secret": f"file:{self.secret_file}", "ca_file": self.ca.cert,
             "cache_s": 0, "negative_cache_s": 0, "timeout_ms": 2000}
        p.update(provider)
        cfg = base_config(self.echo.port, routes=[
            route("orders", path_prefix="/v1/orders", auth=["oauth2:idp"])])
        cfg["oauth2_providers"] = {"idp": {k: v for k, v in p.items() if v is not None}}
        return self.ordered(cfg)

    @staticmethod
    def ordered(cfg: dict) -> dict:
        """Providers before routes (the YAML writer keeps the order)."""
        out = {k: v for k, v in cfg.items() if k != "routes"}
        out["routes"] = cfg["routes"]
        return out

    def assert_unavailable(self, r, description: str = "") -> None:
        self.assertEqual(r.status, 503, str(r))
        body = r.json()
        self.assertEqual(body["error"], "temporarily_unavailable", str(r))
        if description:
            self.assertEqual(body["error_description"], description, str(r))

    # ---- JWT: discovery and JWKS -----------------------------------------------------------------

    def test_jwt_discovery_and_jwks_over_https(self):
        discovered = self.oidc.get_json("/.well-known/openid-configuration")
        self.assertTrue(discovered["jwks_uri"].startswith("https://127.0.0.1:"), discovered)
        gw = self.gateway("jwt-discovery", self.jwt_config())
        token = self.oidc.client_credentials("orders:read")
        r = gw.request("GET", "/v1/orders/1", bearer(token))
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().header("X-Client-Id"), "test-client")
        gw.stop()

    def test_jwt_jwks_uri_over_https(self):
        cfg = self.jwt_config(discovery=None, issuer=self.oidc.issuer,
                              jwks_uri=self.oidc.get_json(
                                  "/.well-known/openid-configuration")["jwks_uri"])
        gw = self.gateway("jwt-jwks", cfg)
        token = self.oidc.client_credentials("orders:read")
        self.assertEqual(gw.request("GET", "/v1/orders/1", bearer(token)).status, 200)
        gw.stop()

    def test_jwt_with_a_ca_that_does_not_match_is_an_idp_failure(self):
        gw = self.gateway("jwt-wrong-ca", self.jwt_config(ca_file=self.other_ca.cert), lazy=True)
        token = self.oidc.client_credentials("orders:read")
        gw.wait_for_output(r"certificate verify failed: unable to get local issuer certificate",
                           timeout=10)
        for _ in range(3):
            self.assertEqual(gw.admin_get("/readyz").status, 503)
            self.assert_unavailable(gw.request("GET", "/v1/orders/1", bearer(token)), D_NOT_READY)
            time.sleep(0.3)
        # The right CA on SIGHUP: keys fetched, ready, served.
        mark = gw.output_mark()
        gw.write_config(self.jwt_config())
        gw.reload()
        gw.wait_for_output("configuration reloaded", since=mark)
        wait_until(gw.ready, 10, interval=0.1, message="ready with the right CA")
        self.assertEqual(gw.request("GET", "/v1/orders/1", bearer(token)).status, 200)
        gw.stop()

    def test_jwt_with_verification_off(self):
        cfg = self.jwt_config(ca_file=None, tls_verify=False)
        gw = self.gateway("jwt-insecure", cfg)
        token = self.oidc.client_credentials("orders:read")
        self.assertEqual(gw.request("GET", "/v1/orders/1", bearer(token)).status, 200)
        line = line_of(to_yaml(gw.config), "  idp: {")
        r = subprocess.run([gateway_bin(), "check", "-c", gw.config_path], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, rf"gateway\.yaml:{line}:\d+: tls_verify: false: the "
                                   r"certificate of jwt provider 'idp' is not verified")
        gw.stop()

    def test_https_discovery_naming_a_plain_jwks_uri_is_refused(self):
        trap = TrapServer()  # the http:// jwks_uri: must never be asked
        self.addCleanup(trap.stop)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert.chain, self.cert.key)

        class Discovery(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                base = f"https://127.0.0.1:{self.server.server_address[1]}"
                body = json.dumps({"issuer": base, "jwks_uri": trap.url + "/jwks"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Discovery)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        discovery = f"https://127.0.0.1:{server.server_address[1]}/.well-known/openid-configuration"
        gw = self.gateway("jwt-downgrade", self.jwt_config(discovery=discovery), lazy=True)
        gw.wait_for_output(r"fetched over https, names an http:// jwks_uri", timeout=10)
        self.assertEqual(gw.admin_get("/readyz").status, 503)
        self.assertEqual(trap.hits, 0)
        gw.stop()

    def test_system_store_does_not_trust_the_test_ca(self):
        gw = self.gateway("jwt-system", self.jwt_config(ca_file=None), lazy=True)
        gw.wait_for_output(r"certificate verify failed", timeout=10)
        self.assertEqual(gw.admin_get("/readyz").status, 503)
        gw.stop()

    # ---- OAuth2: introspection -------------------------------------------------------------------

    def test_introspection_over_https_is_kept_alive_and_resumed(self):
        gw = self.gateway("oauth2", self.oauth2_config())
        token = self.idp.token("orders:read")
        before = self.idp.tls_stats()
        for i in range(5):  # cache_s 0: every request introspects
            r = gw.request("GET", f"/v1/orders/{i}", bearer(token))
            self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().header("X-Client-Id"), "test-client")
        during = self.idp.tls_stats()
        self.assertEqual(during["gateway_connections"] - before["gateway_connections"], 1,
                         "five introspections on one kept-alive connection")
        # The provider drops idle connections: the next call connects again, resuming.
        self.idp.close_idle()
        self.assertEqual(gw.request("GET", "/v1/orders/x", bearer(token)).status, 200)
        after = self.idp.tls_stats()
        self.assertEqual(after["gateway_connections"] - during["gateway_connections"], 1, after)
        self.assertEqual(after["gateway_resumed"] - during["gateway_resumed"], 1, after)
        gw.stop()

    def test_introspection_with_a_ca_that_does_not_match_is_503(self):
        gw = self.gateway("oauth2-wrong-ca", self.oauth2_config(ca_file=self.other_ca.cert))
        token = self.idp.token("orders:read")
        before = self.idp.introspections()
        self.assert_unavailable(gw.request("GET", "/v1/orders/1", bearer(token)))
        self.assertEqual(self.idp.introspections(), before, "nothing was sent")
        gw.stop()

    def test_discovery_over_https_and_its_failure(self):
        cfg = self.oauth2_config(introspection_endpoint=None, discovery=self.idp.discovery)
        gw = self.gateway("oauth2-discovery", cfg)
        gw.wait_for_output(r"introspection endpoint https://127\.0\.0\.1:\d+/token/introspection")
        token = self.idp.token("orders:read")
        self.assertEqual(gw.request("GET", "/v1/orders/1", bearer(token)).status, 200)
        gw.stop()

        cfg = self.oauth2_config(introspection_endpoint=None, discovery=self.idp.discovery,
                                 ca_file=self.other_ca.cert)
        gw = self.gateway("oauth2-discovery-wrong-ca", cfg, lazy=True)
        gw.wait_for_output(r"discovery from https://.* failed: TLS handshake with "
                           r"127\.0\.0\.1:\d+ failed: certificate verify failed", timeout=10)
        self.assertEqual(gw.admin_get("/readyz").status, 503)
        self.assert_unavailable(gw.request("GET", "/v1/orders/1", bearer(token)))
        gw.stop()


if __name__ == "__main__":
    unittest.main()
