"""RFC 8705 certificate-bound access tokens (`require_cert_binding: true`), end to end: JWTs
minted by npm jose with and without cnf["x5t#S256"], bound to the client certificate curl
presents or to another one; and an OAuth2 provider whose introspection answer carries cnf
(scripted through the test IdP's /test/answer). Each failure is 401 invalid_token with its
own reason, and a cached or memoized token is still checked against the connection's
certificate."""

import base64
import hashlib
import os
import secrets
import shutil
import tempfile
import time
import unittest

from certs import Pki
from harness import Echo, Gateway, base_config, route
from jwt_idp import JwtKeys
from oauth2_idp import GATEWAY_SECRET, Idp
from tls_tools import curl, listener_tls

ISSUER = "https://issuer.example.test"
AUDIENCE = "urn:portcullis:bound"



class CertBindingTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-cert-binding-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        pki = Pki(cls.workdir)
        cls.root = pki.ca("root-ca")
        clients = pki.ca("clients-ca")
        cls.server = cls.root.server("api", dns=["api.example.test"])
        cls.alice = clients.client("alice", cn="alice")
        cls.bob = clients.client("bob", cn="bob")
        # RFC 8705 §2.2: a self-signed certificate binds as well as a CA-issued one.
        cls.selfsigned = pki.self_signed("self", "self-signed-client")

        cls.keys = JwtKeys(cls.workdir)
        cls.addClassCleanup(cls.keys.stop)
        cls.idp = Idp(cls.workdir)
        cls.addClassCleanup(cls.idp.stop)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cfg = base_config(cls.echo.port, routes=[
            route("jwt-bound", path_prefix="/jwt", auth=["jwt:bound"]),
            route("oauth-bound", path_prefix="/oauth", auth=["oauth2:corp"]),
            route("jwt-plain", path_prefix="/plain", auth=["jwt:plain"]),
        ])
        cfg["server"]["tls"] = listener_tls(cls.server, clients, "optional")
        cfg["client_cert"] = {"thumbprint_header": "X-Client-Cert-Sha256"}
        cfg["jwt_providers"] = {
            "bound": {"issuer": ISSUER, "audiences": [AUDIENCE], "algorithms": ["ES256"],
                      "jwks_uri": cls.keys.jwks_uri, "require_cert_binding": True,
                      "jwks_refetch_cooldown_s": 0},
            "plain": {"issuer": ISSUER + "/plain", "audiences": [AUDIENCE],
                      "algorithms": ["ES256"], "jwks_uri": cls.keys.jwks_uri}}
        cfg["oauth2_providers"] = {"corp": {
            "introspection_endpoint": cls.idp.introspection_endpoint, "client_id": "gateway",
            "client_secret": "${PC_TEST_GATEWAY_SECRET}", "require_cert_binding": True}}
        os.environ["PC_TEST_GATEWAY_SECRET"] = GATEWAY_SECRET
        cls.gateway = Gateway(cfg, cls.workdir)
        cls.addClassCleanup(cls.gateway.kill)
        cls.gateway.start()

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()

    def get(self, path, token, cert=None):
        return curl(self.gateway.port, path, self.root.root, host="api.example.test",
                    cert=cert.cert if cert else None, key=cert.key if cert else None,
                    headers=[("Authorization", f"Bearer {token}")])

    def jwt(self, bound_to=None, issuer=ISSUER, **extra):
        now = int(time.time())
        claims = {"iss": issuer, "aud": AUDIENCE, "sub": "user-1", "client_id": "app",
                  "iat": now, "exp": now + 600, "jti": secrets.token_hex(8), **extra}
        if bound_to is not None:
            claims["cnf"] = {"x5t#S256": bound_to}
        return self.keys.mint("ES256", claims)

    def assert_refused(self, r, path, reason):
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"], "invalid_token")
        self.assertIn('error="invalid_token"', r.headers.get("www-authenticate", ""))
        self.assertEqual(self.gateway.wait_for_path_log(path)["reason"], reason)

    # ---- JWT ---------------------------------------------------------------------------------

    def test_jwt_bound_to_the_presented_certificate_passes(self):
        token = self.jwt(self.alice.x5t_s256())
        r = self.get("/jwt/ok", token, self.alice)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.echo_headers("X-User-Id"), ["user-1"])
        self.assertEqual(r.echo_headers("X-Auth-Method"), ["jwt"])
        self.assertEqual(r.echo_headers("X-Client-Cert-Sha256"), [self.alice.x5t_s256()])

    def test_thumbprint_is_sha256_of_the_der(self):
        """The value compared is base64url(SHA-256(DER)), computed here independently."""
        der = self.alice.der()
        expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
        r = self.get("/jwt/der", self.jwt(expected), self.alice)
        self.assertEqual(r.status, 200, r.body)

    def test_jwt_without_a_certificate_is_refused(self):
        token = self.jwt(self.alice.x5t_s256())
        self.assert_refused(self.get("/jwt/nocert", token), "/jwt/nocert",
                            "cert_binding_no_certificate")

    def test_jwt_with_another_certificate_is_refused(self):
        token = self.jwt(self.alice.x5t_s256())
        self.assert_refused(self.get("/jwt/bob", token, self.bob), "/jwt/bob",
                            "cert_binding_mismatch")

    def test_jwt_without_cnf_is_refused(self):
        self.assert_refused(self.get("/jwt/nocnf", self.jwt(), self.alice), "/jwt/nocnf",
                            "cert_binding_missing")

    def test_cached_token_is_still_checked_against_the_certificate(self):
        """The first use verifies and caches the token; a stolen copy of it on another
        connection with another certificate, or none, is refused all the same."""
        token = self.jwt(self.alice.x5t_s256())
        self.assertEqual(self.get("/jwt/first", token, self.alice).status, 200)
        self.assert_refused(self.get("/jwt/stolen", token, self.bob), "/jwt/stolen",
                            "cert_binding_mismatch")
        self.assert_refused(self.get("/jwt/stolen2", token), "/jwt/stolen2",
                            "cert_binding_no_certificate")
        self.assertEqual(self.get("/jwt/again", token, self.alice).status, 200)

    def test_token_signed_by_a_new_key_is_checked_after_the_refetch(self):
        """A token whose kid is not known yet is answered after the key set is fetched again
        (the asynchronous path): its binding is checked there too."""
        self.keys.rotate("p256")
        token = self.jwt(self.alice.x5t_s256())
        self.assert_refused(self.get("/jwt/refetch-bob", token, self.bob), "/jwt/refetch-bob",
                            "cert_binding_mismatch")
        self.keys.rotate("p256")
        token = self.jwt(self.alice.x5t_s256())
        self.assertEqual(self.get("/jwt/refetch-alice", token, self.alice).status, 200)

    def test_self_signed_certificate_binds(self):
        token = self.jwt(self.selfsigned.x5t_s256())
        r = self.get("/jwt/self", token, self.selfsigned)
        self.assertEqual(r.status, 200, r.body)

    def test_provider_without_binding_ignores_cnf(self):
        token = self.jwt("not-this-connection", issuer=ISSUER + "/plain")
        self.assertEqual(self.get("/plain/x", token).status, 200)

    # ---- OAuth2 introspection ------------------------------------------------------------------

    def introspected(self, **answer):
        self.idp.answer_with({"active": True, "sub": "user-2", "client_id": "app",
                              "token_type": "Bearer", "exp": int(time.time()) + 600, **answer})
        self.addCleanup(self.idp.reset)
        return secrets.token_urlsafe(24)

    def test_introspected_token_bound_to_the_certificate(self):
        token = self.introspected(cnf={"x5t#S256": self.alice.x5t_s256()})
        r = self.get("/oauth/ok", token, self.alice)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.echo_headers("X-Auth-Method"), ["oauth2"])
        # The cached answer still meets the certificate check.
        self.assert_refused(self.get("/oauth/bob", token, self.bob), "/oauth/bob",
                            "cert_binding_mismatch")
        self.assert_refused(self.get("/oauth/none", token), "/oauth/none",
                            "cert_binding_no_certificate")

    def test_introspected_token_without_cnf(self):
        token = self.introspected()
        self.assert_refused(self.get("/oauth/nocnf", token, self.alice), "/oauth/nocnf",
                            "cert_binding_missing")


if __name__ == "__main__":
    unittest.main()
