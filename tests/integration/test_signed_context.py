"""The signed identity context (identity.signed_context) through the running gateway: the
X-Identity-Token the upstream receives is verified here by npm jose (tests/idp/
verify_context.mjs, a third-party verifier) against the JWKS fetched from the admin listener.

Covered: the claims per method (API key, JWT from a jose issuer, OAuth2 introspection at a
real oidc-provider), `aud` per upstream, expiry, the anonymous context, a forged inbound token
never reaching the upstream, the JWKS on the admin listener and on the main listener's
jwks_route, key rotation by SIGHUP (and a broken key file keeping the old keys), the cache
(one token for a repeated identity, no rid) and per-request signing (rid = X-Request-Id)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import unittest

from harness import (IDP_DIR, Echo, Gateway, GatewayTestCase, base_config, node_bin, route,
                     wait_until)
from jwt_idp import JwtKeys, require_node_modules, unb64u
from oauth2_idp import GATEWAY_SECRET, Idp
from test_api_keys import PEPPER, KeysCli  # noqa: F401  (PEPPER: the env var it sets)

ISSUER = "https://gateway.example.test"
JWT_ISS = "https://issuer.test"
JWT_AUD = "api://orders"
TTL = 60


def new_key(path: str, algorithm: str = "ed25519") -> None:
    """A fresh private key in PEM, made by the openssl command (not by the gateway)."""
    args = ["openssl", "genpkey", "-out", path]
    if algorithm == "ed25519":
        args += ["-algorithm", "ed25519"]
    else:
        args += ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(args, check=True, capture_output=True)


def verify(jwks: dict, tokens: list, audience: str, at: float | None = None) -> list:
    """npm jose's verdict on each token, as an upstream would reach it."""
    req = {"jwks": jwks, "issuer": ISSUER, "audience": audience, "tokens": tokens}
    if at is not None:
        req["at"] = at
    p = subprocess.run([node_bin(), str(IDP_DIR / "verify_context.mjs")], input=json.dumps(req),
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError(f"verify_context.mjs failed: {p.stderr}")
    return json.loads(p.stdout)


def header_of(token: str) -> dict:
    return json.loads(unb64u(token.split(".")[0]))


def signed_context(workdir: str, keys: list, **options) -> dict:
    sc = {"issuer": ISSUER, "algorithm": "EdDSA", "ttl_s": TTL,
          "keys": [{"key_file": f"file:{os.path.join(workdir, k)}.pem", "kid": k} for k in keys]}
    sc.update(options)
    return sc


class SignedContextTest(GatewayTestCase):
    jwt_keys: JwtKeys
    idp: Idp

    @classmethod
    def setUpClass(cls) -> None:
        require_node_modules()
        cls.idp_workdir = tempfile.mkdtemp(prefix="portcullis-ctx-idp-")
        cls.idp = Idp(cls.idp_workdir, "idp")
        cls.addClassCleanup(cls.idp.stop)
        super().setUpClass()

    @classmethod
    def make_config(cls, echo: Echo) -> dict:
        cls.jwt_keys = JwtKeys(cls.workdir)
        cls.addClassCleanup(cls.jwt_keys.stop)
        for kid in ("ctx-a", "ctx-b"):
            new_key(os.path.join(cls.workdir, f"{kid}.pem"))
        cls.cli = KeysCli(os.path.join(cls.workdir, "keys.db"))
        cls.api_key = cls.cli.create("reporting", scopes=["reports:read", "reports:list"])["key"]
        secret = os.path.join(cls.workdir, "gateway.secret")
        with open(secret, "w") as f:
            f.write(GATEWAY_SECRET + "\n")
        cfg = base_config(echo.port, routes=[
            route("keys", path_prefix="/keys", auth=["api_key"]),
            route("billing-keys", path_prefix="/billing", upstream="billing", auth=["api_key"]),
            route("jwt", path_prefix="/jwt", auth=["jwt:main"]),
            route("introspected", path_prefix="/introspected", auth=["oauth2:idp"]),
            route("open", path_prefix="/open"),
        ], upstreams={"billing": {"url": f"http://127.0.0.1:{echo.port}"}})
        cfg["api_keys"] = {"header": "X-API-Key", "store": "sqlite:keys.db",
                           "pepper": "${PORTCULLIS_KEY_PEPPER}", "poll_interval_ms": 1000}
        cfg["jwt_providers"] = {"main": {"issuer": JWT_ISS, "audiences": [JWT_AUD],
                                         "algorithms": ["EdDSA"],
                                         "jwks_uri": cls.jwt_keys.jwks_uri}}
        cfg["oauth2_providers"] = {"idp": {
            "introspection_endpoint": cls.idp.introspection_endpoint, "client_id": "gateway",
            "client_secret": f"file:{secret}", "timeout_ms": 2000}}
        cfg["identity"]["signed_context"] = signed_context(
            cls.workdir, ["ctx-a", "ctx-b"], anonymous=True,
            jwks_route="/.well-known/portcullis-jwks.json")
        cls.config = cfg
        return cfg

    # Helpers -----------------------------------------------------------------------------------

    def jwks(self) -> dict:
        r = self.gateway.admin_get("/.well-known/jwks.json")
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.header("Content-Type"), "application/json")
        return r.json()

    def token_at_upstream(self, target: str, headers=()) -> tuple:
        """(token, what echo saw) for a request that must be forwarded."""
        seen = self.echo_of("GET", target, headers)
        tokens = seen.header_all("X-Identity-Token")
        self.assertEqual(len(tokens), 1, f"{target}: {seen.headers}")
        return tokens[0], seen

    def claims(self, target: str, headers=(), audience: str = "echo") -> dict:
        token, _ = self.token_at_upstream(target, headers)
        [result] = verify(self.jwks(), [token], audience)
        self.assertTrue(result["ok"], f"{target}: jose refused the token: {result}")
        return result["payload"]

    def api_key_header(self) -> list:
        return [("X-API-Key", self.api_key)]

    # Claims per method -------------------------------------------------------------------------

    def test_api_key_identity(self):
        c = self.claims("/keys/x", self.api_key_header())
        self.assertEqual(c["iss"], ISSUER)
        self.assertEqual(c["aud"], "echo")
        self.assertEqual(c["client_id"], "reporting")
        self.assertNotIn("sub", c)
        self.assertEqual(sorted(c["scope"].split()), ["reports:list", "reports:read"])
        self.assertEqual(c["roles"], [])
        self.assertEqual(c["amr"], ["api-key"])
        self.assertEqual(c["exp"] - c["iat"], TTL)
        self.assertLessEqual(abs(c["iat"] - time.time()), 5)
        self.assertNotIn("rid", c)

    def test_jwt_identity(self):
        now = int(time.time())
        token = self.jwt_keys.mint("EdDSA", {"iss": JWT_ISS, "aud": JWT_AUD, "sub": "alice",
                                             "client_id": "web-app", "scope": "orders:read",
                                             "iat": now, "exp": now + 300})
        c = self.claims("/jwt/x", [("Authorization", f"Bearer {token}")])
        self.assertEqual(c["sub"], "alice")
        self.assertEqual(c["client_id"], "web-app")
        self.assertEqual(c["scope"], "orders:read")
        self.assertEqual(c["amr"], ["jwt"])

    def test_introspected_identity(self):
        token = self.idp.token(scope="orders:read orders:write")
        c = self.claims("/introspected/x", [("Authorization", f"Bearer {token}")])
        self.assertEqual(c["client_id"], "test-client")
        self.assertEqual(sorted(c["scope"].split()), ["orders:read", "orders:write"])
        self.assertEqual(c["amr"], ["oauth2"])

    def test_anonymous_context_on_an_auth_none_route(self):
        c = self.claims("/open/x")
        self.assertEqual(c["amr"], [])
        self.assertNotIn("sub", c)
        self.assertNotIn("client_id", c)

    # aud, exp, cache ---------------------------------------------------------------------------

    def test_aud_names_the_upstream(self):
        echo_token, _ = self.token_at_upstream("/keys/a", self.api_key_header())
        billing_token, _ = self.token_at_upstream("/billing/a", self.api_key_header())
        self.assertNotEqual(echo_token, billing_token)
        jwks = self.jwks()
        self.assertEqual(verify(jwks, [billing_token], "billing")[0]["payload"]["aud"], "billing")
        # A token meant for one upstream is refused by another.
        self.assertEqual(verify(jwks, [billing_token], "echo")[0]["code"],
                         "ERR_JWT_CLAIM_VALIDATION_FAILED")

    def test_token_expires(self):
        token, _ = self.token_at_upstream("/keys/exp", self.api_key_header())
        exp = json.loads(unb64u(token.split(".")[1]))["exp"]
        before, after = verify(self.jwks(), [token], "echo", at=exp - 1)[0], \
            verify(self.jwks(), [token], "echo", at=exp + 1)[0]
        self.assertTrue(before["ok"], before)
        self.assertEqual(after["code"], "ERR_JWT_EXPIRED")

    def test_repeated_identity_reuses_the_token(self):
        first, _ = self.token_at_upstream("/keys/1", self.api_key_header())
        second, _ = self.token_at_upstream("/keys/2", self.api_key_header())
        self.assertEqual(first, second)

    # Spoofing ----------------------------------------------------------------------------------

    def test_forged_inbound_token_never_reaches_the_upstream(self):
        forged = self.jwt_keys.mint("EdDSA", {"iss": ISSUER, "aud": "echo", "sub": "root",
                                              "amr": ["api-key"]})
        for target, headers in (("/open/f", []), ("/keys/f", self.api_key_header())):
            for name in ("X-Identity-Token", "x-identity-token", "X_Identity_Token"):
                with self.subTest(target=target, header=name):
                    token, seen = self.token_at_upstream(target, [*headers, (name, forged)])
                    self.assertNotEqual(token, forged)
                    self.assertNotIn(forged, json.dumps(seen.headers))
                    self.assertNotIn("root", json.dumps(verify(self.jwks(), [token], "echo")))

    # JWKS --------------------------------------------------------------------------------------

    def test_jwks_on_admin_and_main_listener(self):
        jwks = self.jwks()
        self.assertEqual([k["kid"] for k in jwks["keys"]], ["ctx-a", "ctx-b"])
        for k in jwks["keys"]:
            self.assertEqual((k["kty"], k["crv"], k["alg"], k["use"]),
                             ("OKP", "Ed25519", "EdDSA", "sig"))
            self.assertNotIn("d", k)
        r = self.get("/.well-known/portcullis-jwks.json")
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.json(), jwks)


class SignedContextRotationTest(GatewayTestCase):
    """Keys change by SIGHUP: a new first key signs new tokens at once, the old one stays
    published; a reload whose key file is broken keeps the running keys."""

    @classmethod
    def make_config(cls, echo: Echo) -> dict:
        require_node_modules()
        for kid in ("ctx-old", "ctx-new"):
            new_key(os.path.join(cls.workdir, f"{kid}.pem"))
        with open(os.path.join(cls.workdir, "broken.pem"), "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
        cfg = base_config(echo.port, routes=[route("open", path_prefix="/open")])
        cfg["identity"]["signed_context"] = signed_context(cls.workdir, ["ctx-old"],
                                                           anonymous=True)
        cls.config = cfg
        return cfg

    def reload_with(self, keys: list) -> tuple:
        cfg = json.loads(json.dumps(self.config))
        cfg["identity"]["signed_context"] = signed_context(self.workdir, keys, anonymous=True)
        mark = self.gateway.output_mark()
        self.gateway.write_config(cfg)
        self.gateway.reload()
        return mark

    def token(self) -> str:
        return self.echo_of("GET", "/open/x").header("X-Identity-Token")

    def test_rotation(self):
        old_token = self.token()
        self.assertEqual(header_of(old_token)["kid"], "ctx-old")

        # A broken key file: refused, the running keys keep signing.
        mark = self.reload_with(["broken", "ctx-old"])
        self.gateway.wait_for_output(r"reload refused", timeout=10, since=mark)
        self.assertRegex(self.gateway.output_since(mark),
                         r"gateway\.yaml:\d+:\d+: identity\.signed_context key 'broken'")
        self.assertEqual(header_of(self.token())["kid"], "ctx-old")

        mark = self.reload_with(["ctx-new", "ctx-old"])
        self.gateway.wait_for_output(r"configuration reloaded", timeout=10, since=mark)
        new_token = self.token()
        self.assertEqual(header_of(new_token)["kid"], "ctx-new")
        jwks = self.gateway.admin_get("/.well-known/jwks.json").json()
        self.assertEqual([k["kid"] for k in jwks["keys"]], ["ctx-new", "ctx-old"])
        # Both verify against the published set: the old token until it expires.
        results = verify(jwks, [new_token, old_token], "echo")
        self.assertTrue(all(r["ok"] for r in results), results)


class SignedContextPerRequestTest(GatewayTestCase):
    """per_request: every request is signed, and its rid is the X-Request-Id the upstream
    gets; ES256 here (the other tests sign with EdDSA)."""

    @classmethod
    def make_config(cls, echo: Echo) -> dict:
        require_node_modules()
        new_key(os.path.join(cls.workdir, "ctx-ec.pem"), "p256")
        cfg = base_config(echo.port, routes=[route("open", path_prefix="/open")])
        cfg["identity"]["signed_context"] = signed_context(
            cls.workdir, ["ctx-ec"], algorithm="ES256", per_request=True, anonymous=True)
        return cfg

    def test_rid_binds_the_token_to_its_request(self):
        seen = [self.echo_of("GET", "/open/x", [("X-Request-Id", f"req-{i}")]) for i in range(2)]
        tokens = [s.header("X-Identity-Token") for s in seen]
        self.assertNotEqual(tokens[0], tokens[1])
        jwks = self.gateway.admin_get("/.well-known/jwks.json").json()
        self.assertEqual(jwks["keys"][0]["crv"], "P-256")
        results = verify(jwks, tokens, "echo")
        for i, (r, s) in enumerate(zip(results, seen)):
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["header"]["alg"], "ES256")
            self.assertEqual(r["payload"]["rid"], f"req-{i}")
            self.assertEqual(r["payload"]["rid"], s.header("X-Request-Id"))


class NoSignedContextTest(GatewayTestCase):
    """Without identity.signed_context the admin listener publishes no JWKS."""

    def test_no_jwks(self):
        self.assertEqual(self.gateway.admin_get("/.well-known/jwks.json").status, 404)


if __name__ == "__main__":
    unittest.main()
