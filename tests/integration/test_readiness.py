"""/readyz says why: a JSON body naming each dependency that is not ready (a JWT provider
without usable keys, an OAuth2 provider whose breaker is open or whose discovery has not
succeeded, an unreadable key store), each gating readiness unless its provider says
`gates_readiness: false`. The identity providers are real (tests/idp) and really down: stopped,
or answering 503."""

import json
import os
import shutil
import tempfile
import time
import unittest

from harness import Echo, Gateway, base_config, free_port, route, wait_until
from jwt_idp import JwtKeys
from oauth2_idp import GATEWAY_SECRET, Idp

AUD = "api://orders"
MAIN_ISS = "https://main.example.test"
PARTNER_ISS = "https://partners.example.test"


def bearer(token: str) -> list:
    return [("Authorization", f"Bearer {token}")]


def jwt_claims(iss: str) -> dict:
    now = int(time.time())
    return {"iss": iss, "aud": AUD, "sub": "42", "iat": now, "exp": now + 600}


class ReadinessTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-ReadinessTest-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)

    def gateway(self, name: str, cfg: dict) -> Gateway:
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        gw = Gateway(cfg, workdir)
        self.addCleanup(gw.kill)
        return gw

    def readyz(self, gw: Gateway) -> tuple:
        r = gw.admin_get("/readyz")
        self.assertEqual(r.header("Content-Type"), "application/json", str(r))
        self.assertEqual(r.header("Cache-Control"), "no-store", str(r))
        return r.status, json.loads(r.body)

    def wait_readyz(self, gw: Gateway, status: int, body: dict, timeout: float = 10) -> None:
        wait_until(lambda: self.readyz(gw) == (status, body), timeout, interval=0.1,
                   message=f"/readyz {status} {body}")

    def reload(self, gw: Gateway, cfg: dict) -> None:
        gw.write_config(cfg)
        mark = gw.output_mark()
        gw.reload()
        gw.wait_for_output("configuration reloaded", since=mark)

    def test_ready_gateway_answers_ready_true(self):
        gw = self.gateway("plain", base_config(self.echo.port))
        gw.start()
        self.assertEqual(self.readyz(gw), (200, {"ready": True}))
        gw.stop()

    def test_jwt_provider_without_keys_gating_or_not(self):
        main = JwtKeys(self.workdir, name="ready-main")
        self.addCleanup(main.stop)
        partners = JwtKeys(self.workdir, name="ready-partners")
        self.addCleanup(partners.stop)
        partners.state(down=True)  # its JWKS answers 503: no keys, ever, until it is back
        providers = {
            "main": {"issuer": MAIN_ISS, "audiences": [AUD], "algorithms": ["RS256"],
                     "jwks_uri": main.jwks_uri, "jwks_refresh_s": 1, "jwks_min_refresh_s": 1,
                     "jwks_max_stale_s": 2},
            "partners": {"issuer": PARTNER_ISS, "audiences": [AUD], "algorithms": ["RS256"],
                         "jwks_uri": partners.jwks_uri, "jwks_min_refresh_s": 1,
                         "gates_readiness": False},
        }
        cfg = base_config(self.echo.port, routes=[
            route("main", path_prefix="/main", auth=["jwt:main"]),
            route("partners", path_prefix="/partners", auth=["jwt:partners"])])
        cfg["jwt_providers"] = providers
        cfg = {k: v for k, v in cfg.items() if k != "routes"} | {"routes": cfg["routes"]}
        gw = self.gateway("jwt", cfg)
        gw.start()  # waits for /readyz 200: the provider that is down does not gate

        partners_down = {"dependency": "jwt_providers.partners", "reason": "no keys yet",
                         "gating": False}
        self.assertEqual(self.readyz(gw), (200, {"ready": True, "not_ready": [partners_down]}))
        token = main.mint("RS256", jwt_claims(MAIN_ISS))
        self.assertEqual(gw.request("GET", "/main/x", bearer(token)).status, 200)
        r = gw.request("GET", "/partners/x", bearer(partners.mint("RS256", jwt_claims(PARTNER_ISS))))
        self.assertEqual(r.status, 503, str(r))

        # Made gating by a reload (the provider itself is kept): 503, saying why.
        cfg["jwt_providers"]["partners"]["gates_readiness"] = True
        self.reload(gw, cfg)
        self.assertEqual(self.readyz(gw), (503, {"ready": False, "not_ready": [
            dict(partners_down, gating=True)]}))

        # Its IdP back: ready, nothing listed.
        partners.state(down=False)
        self.wait_readyz(gw, 200, {"ready": True})

        # The main IdP stopped: its keys serve until they are older than jwks_max_stale_s,
        # then /readyz names it.
        main.stop()
        self.wait_readyz(gw, 503, {"ready": False, "not_ready": [
            {"dependency": "jwt_providers.main", "reason": "keys older than jwks_max_stale_s",
             "gating": True}]})
        body = gw.admin_get("/readyz").body.decode()
        self.assertNotIn("127.0.0.1", body)  # never a URL
        gw.stop()

    def test_oauth2_breaker_open_gating_or_not(self):
        idp = Idp(self.workdir, "ready-idp")
        self.addCleanup(lambda: idp.stop())
        secret = os.path.join(self.workdir, "gateway.secret")
        with open(secret, "w") as f:
            f.write(GATEWAY_SECRET + "\n")
        down_port = free_port()  # nothing listens: discovery never succeeds
        cfg = base_config(self.echo.port, routes=[
            route("orders", path_prefix="/v1/orders", auth=["oauth2:idp"]),
            route("later", path_prefix="/later", auth=["oauth2:later"])])
        cfg["oauth2_providers"] = {
            "idp": {"introspection_endpoint": idp.introspection_endpoint, "client_id": "gateway",
                    "client_secret": f"file:{secret}", "timeout_ms": 1000, "cache_s": 0,
                    "breaker_failures": 1, "breaker_open_s": 60, "gates_readiness": False},
            "later": {"discovery": f"http://127.0.0.1:{down_port}/.well-known/openid-configuration",
                      "client_id": "gateway", "client_secret": f"file:{secret}",
                      "gates_readiness": False},
        }
        cfg = {k: v for k, v in cfg.items() if k != "routes"} | {"routes": cfg["routes"]}
        gw = self.gateway("oauth2", cfg)
        gw.start()
        later_down = {"dependency": "oauth2_providers.later", "reason": "discovery not done yet",
                      "gating": False}
        self.assertEqual(self.readyz(gw), (200, {"ready": True, "not_ready": [later_down]}))
        token = idp.token()
        self.assertEqual(gw.request("GET", "/v1/orders", bearer(token)).status, 200)

        # The IdP stops: one failed introspection opens the breaker.
        idp.stop()
        self.assertEqual(gw.request("GET", "/v1/orders", bearer(token)).status, 503)
        breaker = {"dependency": "oauth2_providers.idp", "reason": "circuit breaker open",
                   "gating": False}
        self.assertEqual(self.readyz(gw),
                         (200, {"ready": True, "not_ready": [breaker, later_down]}))

        # Gating after a reload that keeps the provider (and its open breaker).
        cfg["oauth2_providers"]["idp"]["gates_readiness"] = True
        self.reload(gw, cfg)
        self.assertEqual(self.readyz(gw), (503, {"ready": False, "not_ready": [
            dict(breaker, gating=True), later_down]}))
        gw.stop()


if __name__ == "__main__":
    unittest.main()
