"""Client certificates as an authentication method (`auth: [client_cert]`), with curl
--cert/--key against the real gateway: the verified certificate's identity reaches the echo
upstream as X-Client-Id (client_id_from order) with X-Auth-Method: client-cert and the
thumbprint header; no certificate, one from another CA, or one without a usable name get 401
with distinct reasons; allow_clients applies; `[client_cert, jwt:main]` takes either; and
client_cert: required refuses the handshake itself."""

import shutil
import tempfile
import time
import unittest

from certs import Pki
from harness import Echo, Gateway, base_config, route
from jwt_idp import JwtKeys
from tls_tools import curl, listener_tls

ISSUER = "https://issuer.example.test"
AUDIENCE = "urn:portcullis:mtls"



class ClientCertTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-client-cert-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        pki = Pki(cls.workdir)
        cls.root = pki.ca("root-ca")
        cls.clients_ca = pki.ca("clients-ca")
        cls.other_ca = pki.ca("other-ca")
        cls.server = cls.root.server("api", dns=["api.example.test"])
        cls.svc = cls.clients_ca.client("svc", cn="svc-cn", uris=["spiffe://test/svc"],
                                        dns=["svc.example.test"])
        cls.dns_only = cls.clients_ca.client("dns-only", cn="dns-cn", dns=["dns.example.test"])
        cls.cn_only = cls.clients_ca.client("cn-only", cn="cn-only-client")
        cls.nameless = cls.clients_ca.client("nameless", cn=None)
        cls.stranger = cls.other_ca.client("stranger", cn="svc-cn", uris=["spiffe://test/svc"])
        cls.expired = cls.clients_ca.client("expired", cn="old-cn", expired=True)
        cls.early = cls.clients_ca.client("early", cn="early-cn", not_yet_valid=True)
        # Expired and from an untrusted CA: the expiry is not what to tell its holder.
        cls.stranger_old = cls.other_ca.client("stranger-old", cn="old-cn", expired=True)

        cls.keys = JwtKeys(cls.workdir)
        cls.addClassCleanup(cls.keys.stop)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cfg = base_config(cls.echo.port, routes=[
            route("mtls", path_prefix="/mtls", auth=["client_cert"]),
            route("allowed", path_prefix="/allowed", auth=["client_cert"],
                  allow_clients=["spiffe://test/svc"]),
            route("either", path_prefix="/either", auth=["client_cert", "jwt:main"]),
            route("open", path_prefix="/open"),
        ])
        cfg["server"]["tls"] = listener_tls(cls.server, cls.clients_ca, "optional")
        cfg["client_cert"] = {"client_id_from": ["san_uri", "san_dns", "subject_cn"],
                              "thumbprint_header": "X-Client-Cert-Sha256"}
        cfg["jwt_providers"] = {"main": {"issuer": ISSUER, "audiences": [AUDIENCE],
                                         "algorithms": ["ES256"], "jwks_uri": cls.keys.jwks_uri}}
        cls.gateway = Gateway(cfg, cls.workdir)
        cls.addClassCleanup(cls.gateway.kill)
        cls.gateway.start()

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()

    def get(self, path, cert=None, headers=()):
        return curl(self.gateway.port, path, self.root.root, host="api.example.test",
                    cert=cert.cert if cert else None, key=cert.key if cert else None,
                    headers=headers)

    def token(self, **claims):
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "client_id": "jwt-client",
                "iat": now, "exp": now + 600, **claims}
        return self.keys.mint("ES256", body)

    def test_verified_certificate_identity_reaches_the_upstream(self):
        r = self.get("/mtls/a", self.svc)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.echo_headers("X-Client-Id"), ["spiffe://test/svc"])
        self.assertEqual(r.echo_headers("X-Auth-Method"), ["client-cert"])
        self.assertEqual(r.echo_headers("X-Client-Cert-Sha256"), [self.svc.x5t_s256()])
        self.assertEqual(r.echo_headers("X-Forwarded-Proto"), ["https"])
        self.assertEqual(r.echo_headers("X-User-Id"), [])
        entry = self.gateway.wait_for_path_log("/mtls/a")
        self.assertEqual(entry["client_id"], "spiffe://test/svc")
        self.assertEqual(entry["auth_method"], "client-cert")

    def test_client_id_from_takes_the_first_name_present(self):
        for cert, expected in ((self.dns_only, "dns.example.test"),
                               (self.cn_only, "cn-only-client")):
            with self.subTest(cert=cert.name):
                r = self.get("/mtls/order", cert)
                self.assertEqual(r.status, 200, r.body)
                self.assertEqual(r.echo_headers("X-Client-Id"), [expected])

    def test_identity_headers_from_the_client_are_stripped(self):
        """The thumbprint header is an identity header: a client's copy never goes up, with
        or without a certificate on the route."""
        spoof = [("X-Client-Cert-Sha256", "forged"), ("X-Client-Id", "forged"),
                 ("X-Auth-Method", "forged")]
        r = self.get("/open/x", headers=spoof)
        self.assertEqual(r.status, 200, r.body)
        for name, _ in spoof:
            self.assertEqual(r.echo_headers(name), [], name)
        r = self.get("/mtls/x", self.svc, headers=spoof)
        self.assertEqual(r.echo_headers("X-Client-Cert-Sha256"), [self.svc.x5t_s256()])
        self.assertEqual(r.echo_headers("X-Client-Id"), ["spiffe://test/svc"])

    def test_no_certificate_is_401_with_its_own_reason(self):
        r = self.get("/mtls/none")
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"], "unauthorized")
        self.assertIn("ClientCert", r.headers.get("www-authenticate", ""))
        self.assertEqual(self.gateway.wait_for_path_log("/mtls/none")["reason"],
                         "client_certificate_missing")

    def test_expired_and_not_yet_valid_certificates_are_refused_as_such(self):
        for cert, path, said in ((self.expired, "/mtls/expired", "has expired"),
                                 (self.early, "/mtls/early", "is not valid yet")):
            r = self.get(path, cert)
            self.assertEqual(r.status, 401, r.body)
            self.assertEqual(r.json()["error"], "invalid_certificate")
            self.assertEqual(r.json()["error_description"], f"the client certificate {said}")
            self.assertIn(f'error_description="the client certificate {said}"',
                          r.headers.get("www-authenticate", ""))
            self.assertEqual(self.gateway.wait_for_path_log(path)["reason"],
                             "client_certificate_unverified")
        r = self.get("/mtls/stranger-old", self.stranger_old)
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error_description"],
                         "the client certificate does not verify against the trusted CAs")

    def test_optional_mode_still_serves_routes_without_client_cert(self):
        self.assertEqual(self.get("/open/anyone").status, 200)
        # And a certificate from an unknown CA does not stop them either.
        self.assertEqual(self.get("/open/stranger", self.stranger).status, 200)

    def test_certificate_from_another_ca_is_refused(self):
        r = self.get("/mtls/stranger", self.stranger)
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"], "invalid_certificate")
        self.assertEqual(r.json()["error_description"],
                         "the client certificate does not verify against the trusted CAs")
        self.assertEqual(self.gateway.wait_for_path_log("/mtls/stranger")["reason"],
                         "client_certificate_unverified")

    def test_certificate_without_a_name_is_refused(self):
        r = self.get("/mtls/nameless", self.nameless)
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(self.gateway.wait_for_path_log("/mtls/nameless")["reason"],
                         "client_certificate_no_identity")

    def test_allow_clients_applies(self):
        self.assertEqual(self.get("/allowed/x", self.svc).status, 200)
        r = self.get("/allowed/y", self.dns_only)
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(self.gateway.wait_for_path_log("/allowed/y")["reason"], "client_not_allowed")

    def test_either_a_certificate_or_a_token(self):
        by_cert = self.get("/either/cert", self.svc)
        self.assertEqual(by_cert.status, 200, by_cert.body)
        self.assertEqual(by_cert.echo_headers("X-Auth-Method"), ["client-cert"])
        by_token = self.get("/either/token",
                            headers=[("Authorization", f"Bearer {self.token()}")])
        self.assertEqual(by_token.status, 200, by_token.body)
        self.assertEqual(by_token.echo_headers("X-Auth-Method"), ["jwt"])
        self.assertEqual(by_token.echo_headers("X-Client-Id"), ["jwt-client"])
        neither = self.get("/either/none")
        self.assertEqual(neither.status, 401, neither.body)
        challenge = neither.headers.get("www-authenticate", "")
        self.assertIn("ClientCert", challenge)
        self.assertIn("Bearer", challenge)
        self.assertEqual(self.gateway.wait_for_path_log("/either/none")["reason"],
                         "missing_credential")


class RequiredClientCertTest(unittest.TestCase):
    """client_cert: required: the handshake itself refuses a client without a certificate
    that verifies."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-client-cert-required-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        pki = Pki(cls.workdir)
        cls.root = pki.ca("root-ca")
        clients = pki.ca("clients-ca")
        cls.server = cls.root.server("api", dns=["api.example.test"])
        cls.svc = clients.client("svc", cn="svc")
        cls.stranger = pki.ca("other-ca").client("stranger", cn="svc")
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cfg = base_config(cls.echo.port, routes=[route("mtls", path_prefix="/",
                                                       auth=["client_cert"])])
        cfg["server"]["tls"] = listener_tls(cls.server, clients, "required")
        cls.gateway = Gateway(cfg, cls.workdir)
        cls.addClassCleanup(cls.gateway.kill)
        cls.gateway.start()

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()

    def get(self, cert=None):
        return curl(self.gateway.port, "/x", self.root.root, host="api.example.test",
                    cert=cert.cert if cert else None, key=cert.key if cert else None)

    def test_verified_certificate_passes(self):
        r = self.get(self.svc)
        self.assertEqual(r.status, 200, r.stderr)
        self.assertEqual(r.echo_headers("X-Client-Id"), ["svc"])

    def test_no_certificate_or_another_ca_fails_the_handshake(self):
        for cert in (None, self.stranger):
            with self.subTest(cert=cert.name if cert else None):
                r = self.get(cert)
                self.assertNotEqual(r.exit_code, 0)
                self.assertEqual(r.status, 0, r.body)


if __name__ == "__main__":
    unittest.main()
