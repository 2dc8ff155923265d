"""JWT validation end to end: tokens minted by npm jose (every algorithm) and by a real
authorization server (npm oidc-provider), checked by the running gateway against JWK sets it
fetches, with rotation, an issuer that goes down, and a cold start without the issuer.

Covers the issue's seed example, every rejection with its distinct error_description, and
every attack the issue lists (alg none, HS256 keyed with a public key, embedded keys and key
URLs, kid injection, unknown crit, duplicate members, non-canonical base64url, malformed ECDSA
signatures, string time claims, a 1 MiB token, wrong audiences and an ID token).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from harness import (Echo, Gateway, GatewayTestCase, base_config, build_request,
                     parse_prometheus, route, wait_until)
from jwt_idp import HS_SECRET, OIDC_RESOURCE, JwtKeys, JwtOidc, b64u, unb64u

os.environ["PC_JWT_TEST_SECRET"] = HS_SECRET

AUD = "api://orders"
MAIN_ISS = "https://issuer.test"
HS_ISS = "https://hs.test"
PEM_ISS = "https://pem.test"
FILE_ISS = "https://file.test"
TYPED_ISS = "https://typed.test"
ASYM = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

# The error_description of each refusal (src/auth/jwt/describe.h).
D_MALFORMED = "the token is not a well-formed JWT"
D_NOT_JWT = "the bearer token is not a JWT"
D_DUPLICATE = "the token repeats a member name"
D_ALG_NONE = "unsigned tokens (alg none) are not accepted"
D_ALG = "the token algorithm is not allowed"
D_CRIT = "the token has an unsupported critical header parameter"
D_KID = "the token key id is invalid"
D_TYP = "the token type is not accepted"
D_ISSUER = "the token issuer is not accepted"
D_UNKNOWN_KEY = "the token signing key is unknown"
D_SIGNATURE = "the token signature does not verify"
D_SIG_LENGTH = "the token signature has the wrong length"
D_ECDSA_RANGE = "the token ECDSA signature is out of range"
D_EXPIRED = "the token has expired"
D_NOT_YET = "the token is not valid yet"
D_FUTURE = "the token was issued in the future"
D_AUDIENCE = "the token audience is not accepted"
D_REFRESH = "a refresh token may not be used to call APIs"
D_ID_TOKEN = "an ID token may not be used to call APIs"
D_LIFETIME = "the token lifetime exceeds the allowed maximum"
D_MISSING_EXP = "the token lacks the required claim exp"
D_NOT_NUMBER = "the token claim is not a number: "
D_NOT_READY = "jwks_unavailable: the signing keys have not been fetched yet"
D_UNAVAILABLE = "jwks_unavailable: the signing keys cannot be fetched"


def claims(iss: str = MAIN_ISS, sub: str = "42", scope: str = "orders:read", exp_in: int = 600,
           **extra) -> dict:
    now = int(time.time())
    c = {"iss": iss, "aud": AUD, "sub": sub, "scope": scope, "iat": now, "exp": now + exp_in,
         "jti": uuid.uuid4().hex}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def bearer(token: str) -> list:
    return [("Authorization", f"Bearer {token}")]


def gateway_config(echo: Echo, providers: dict, routes: list, server: dict | None = None) -> dict:
    cfg = base_config(echo.port, routes=routes, server=server)
    cfg["jwt_providers"] = providers
    return cfg


class LazyGateway(Gateway):
    """A gateway whose start does not wait for /readyz (it is not ready without keys)."""

    def start(self, timeout: float = 15.0) -> None:
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([self.bin(), "run", "-c", self.config_path],
                                     stdout=self._stdout, stderr=self._stderr)

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited during start:\n" + self.output()[-4000:])
            try:
                with socket.create_connection(("127.0.0.1", self.admin_port), timeout=1):
                    return True
            except OSError:
                return False

        wait_until(listening, timeout, interval=0.05, message="gateway admin listener")

    @staticmethod
    def bin() -> str:
        from harness import gateway_bin
        return gateway_bin()

    def ready(self) -> bool:
        return self.admin_get("/readyz").status == 200


class TrapServer:
    """An HTTP server a hostile token points at (jku, x5u): it must never be contacted."""

    def __init__(self):
        self.hits = 0
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                trap.hits += 1
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"keys":[]}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class JwtAssertions:
    def assert_bearer_error(self, r, status: int, description: str, error: str = "invalid_token"):
        self.assertEqual(r.status, status, str(r))
        body = r.json()
        self.assertEqual(body["error"], error, str(r))
        self.assertEqual(body["error_description"], description, str(r))
        if status in (401, 403):
            self.assertEqual(
                r.header("WWW-Authenticate"),
                f'Bearer realm="portcullis", error="{error}", error_description="{description}"',
                str(r))


class JwtValidationTest(JwtAssertions, GatewayTestCase):
    """One gateway with providers for every key source, against jwt_keys.mjs."""

    keys: JwtKeys
    trap: TrapServer

    @classmethod
    def make_config(cls, echo: Echo) -> dict:
        cls.keys = JwtKeys(cls.workdir)
        cls.addClassCleanup(cls.keys.stop)
        cls.trap = TrapServer()
        cls.addClassCleanup(cls.trap.stop)
        with open(os.path.join(cls.workdir, "p256.pem"), "w") as f:
            f.write(cls.keys.pem("p256"))
        with open(os.path.join(cls.workdir, "keys.json"), "w") as f:
            f.write(cls.keys.jwks())
        providers = {
            "main": {"issuer": MAIN_ISS, "audiences": [AUD], "algorithms": ASYM,
                     "jwks_uri": cls.keys.jwks_uri, "roles_claim": "realm_access.roles",
                     "claims_to_headers": {"email": "X-User-Email"}},
            "hs": {"issuer": HS_ISS, "audiences": [AUD], "algorithms": ["HS256", "HS384", "HS512"],
                   "secret": "${PC_JWT_TEST_SECRET}"},
            "pem": {"issuer": PEM_ISS, "audiences": [AUD], "algorithms": ["ES256"],
                    "public_key_file": os.path.join(cls.workdir, "p256.pem")},
            "file": {"issuer": FILE_ISS, "audiences": [AUD], "algorithms": ["RS256", "EdDSA"],
                     "jwks_file": os.path.join(cls.workdir, "keys.json")},
            "typed": {"issuer": TYPED_ISS, "audiences": [AUD], "algorithms": ["RS256"],
                      "jwks_uri": cls.keys.jwks_uri, "typ": "at+jwt", "max_lifetime_s": 3600},
        }
        routes = [
            route("orders-read", path_prefix="/v1/orders", methods=["GET"], auth=["jwt:main"],
                  require_scopes=["orders:read"]),
            route("orders-write", path_prefix="/v1/orders", methods=["POST"], auth=["jwt:main"],
                  require_scopes=["orders:write"]),
            route("multi", path_prefix="/multi",
                  auth=["jwt:main", "jwt:hs", "jwt:pem", "jwt:file", "jwt:typed"],
                  jwt_query_param="access_token"),
        ]
        return gateway_config(echo, providers, routes)

    def call(self, token: str, target: str = "/multi", method: str = "GET"):
        return self.gateway.request(method, target, bearer(token))

    def refused(self, token: str, description: str, target: str = "/multi"):
        self.assert_bearer_error(self.call(token, target), 401, description)

    # --- the issue's example ------------------------------------------------------------------

    def test_seed_example(self):
        token = self.keys.mint("RS256", claims(sub="42", scope="orders:read"))
        seen = self.echo_of("GET", "/v1/orders", bearer(token))
        self.assertEqual(seen.header("X-User-Id"), "42")
        self.assertEqual(seen.header("X-User-Scopes"), "orders:read")
        self.assertEqual(seen.header("X-Auth-Method"), "jwt")
        self.assertIsNone(seen.header("Authorization"))
        r = self.gateway.request("POST", "/v1/orders", bearer(token), body=b"{}")
        self.assertEqual(r.status, 403, str(r))
        self.assertEqual(r.json()["error"], "insufficient_scope")
        www = r.header("WWW-Authenticate")
        self.assertIn('Bearer realm="portcullis", error="insufficient_scope"', www)
        self.assertIn('scope="orders:write"', www)

    # --- tokens from jose, every algorithm --------------------------------------------------------

    def test_every_algorithm_minted_by_jose(self):
        cases = [(alg, MAIN_ISS) for alg in ASYM] + \
                [(alg, HS_ISS) for alg in ("HS256", "HS384", "HS512")] + \
                [("ES256", PEM_ISS), ("RS256", FILE_ISS), ("EdDSA", FILE_ISS)]
        for alg, iss in cases:
            with self.subTest(alg=alg, iss=iss):
                token = self.keys.mint(alg, claims(iss=iss, sub=f"user-{alg}"))
                seen = self.echo_of("GET", "/multi", bearer(token))
                self.assertEqual(seen.header("X-User-Id"), f"user-{alg}")
                self.assertEqual(seen.header("X-Auth-Method"), "jwt")

    def test_identity_claims_are_forwarded_and_cannot_be_forged(self):
        token = self.keys.mint("ES256", claims(email="a@example.com", azp="web-app",
                                               realm_access={"roles": ["admin", "ops"]},
                                               scope="orders:read orders:write"))
        seen = self.echo_of("GET", "/multi", bearer(token) + [
            ("X-User-Email", "forged@evil.test"), ("X-User-Roles", "root"),
            ("X_User_Email", "forged2@evil.test")])
        self.assertEqual(seen.header_all("X-User-Email"), ["a@example.com"])
        self.assertEqual(seen.header("X-User-Roles"), "admin ops")
        self.assertEqual(seen.header("X-Client-Id"), "web-app")
        self.assertEqual(seen.header("X-User-Scopes"), "orders:read orders:write")
        self.assertNotIn("x-user-email", [k.lower() for k, v in seen.headers
                                          if v.startswith("forged")])

    def test_query_parameter_only_where_the_route_opts_in(self):
        token = self.keys.mint("RS256", claims())
        r = self.gateway.request("GET", f"/multi/x?a=1&access_token={token}&b=2",
                                 [("X-Request-Id", "jwt-query-1")])
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().query, "a=1&b=2")
        entry = self.gateway.wait_for_access_log("jwt-query-1")
        self.assertNotIn(token, json.dumps(entry))
        r = self.gateway.request("GET", f"/v1/orders?access_token={token}")
        self.assertEqual(r.status, 401, str(r))
        self.assertEqual(r.json()["error"], "unauthorized")

    def test_opaque_bearer_on_a_jwt_only_route_is_not_a_jwt(self):
        """A credential was presented: the caller is told it is not a JWT, not that none was
        (a route that also has oauth2 leaves it to introspection: test_oauth2)."""
        r = self.call("2YotnFZFEjr1zCsicMWpAA")
        self.assert_bearer_error(r, 401, D_NOT_JWT)
        # Refused before forwarding: the access log names the route but no upstream.
        entry = self.gateway.wait_for_access_log(r.header("X-Request-Id"))
        self.assertEqual(entry["route"], "multi")
        self.assertIsNone(entry["upstream"])
        self.assertIsNone(entry["upstream_status"])

    # --- every rejection, each with its own description ----------------------------------------

    def test_each_rejection_has_a_distinct_description(self):
        now = int(time.time())
        good = self.keys.mint("RS256", claims())
        other = self.keys.mint("RS256", claims(sub="43"))
        swapped = other.rsplit(".", 1)[0] + "." + good.rsplit(".", 1)[1]
        no_exp = claims()
        del no_exp["exp"]
        cases = {
            D_EXPIRED: self.keys.mint("RS256", claims(exp_in=-3600)),
            D_NOT_YET: self.keys.mint("RS256", claims(nbf=now + 3600)),
            D_FUTURE: self.keys.mint("RS256", claims(iat=now + 3600)),
            D_SIGNATURE: swapped,
            D_ISSUER: self.keys.mint("RS256", claims(iss="https://evil.test")),
            D_AUDIENCE: self.keys.mint("RS256", claims(aud="api://billing")),
            D_UNKNOWN_KEY: self.keys.mint("RS256", claims(), key="unpublished"),
            D_MALFORMED: "e30.e30.!!!",
            D_ALG: self.keys.mint("HS256", claims()),  # main does not allow HS256
            D_MISSING_EXP: self.keys.mint("RS256", no_exp),
            D_TYP: self.keys.mint("RS256", claims(iss=TYPED_ISS), header={"typ": "JWT"}),
            D_LIFETIME: self.keys.mint("RS256", claims(iss=TYPED_ISS, exp_in=7200),
                                       header={"typ": "at+jwt"}),
            D_KID: self.keys.mint("RS256", claims(), kid="k" * 300),
            D_DUPLICATE: self.keys.forge('{"alg":"RS256","alg":"RS256"}', json.dumps(claims()),
                                         "RS256"),
            D_CRIT: self.keys.forge('{"alg":"RS256","crit":["exp"],"exp":1}',
                                    json.dumps(claims()), "RS256"),
            D_NOT_NUMBER + "exp": self.keys.forge(
                '{"alg":"RS256"}', json.dumps(claims(exp=str(now + 600))), "RS256"),
        }
        for description, token in cases.items():
            with self.subTest(description=description):
                self.refused(token, description)
        self.assertEqual(len(set(cases)), len(cases))
        # The typed provider accepts a proper RFC 9068 token (either spelling of typ).
        for typ in ("at+jwt", "application/AT+JWT"):
            token = self.keys.mint("RS256", claims(iss=TYPED_ISS), header={"typ": typ})
            self.assertEqual(self.call(token).status, 200)

    def test_refusals_name_a_verified_token_in_the_access_log(self):
        """Issue 11: a 401/403 for a token whose signature verified logs its sub and client
        (and the token's handle as credential_id); one that did not verify names nobody. The
        token itself is never written."""
        now = int(time.time())
        good = self.keys.mint("RS256", claims(sub="43"))
        verified = {  # request id: (token, target, status, its sub)
            "jwt-named-expired": (self.keys.mint("RS256", claims(sub="late", azp="web-app",
                                                                 exp_in=-3600)),
                                  "/multi", 401, "late"),
            "jwt-named-audience": (self.keys.mint("RS256", claims(sub="aud-user", azp="web-app",
                                                                  aud="api://billing")),
                                   "/multi", 401, "aud-user"),
            "jwt-named-not-yet": (self.keys.mint("RS256", claims(sub="early", azp="web-app",
                                                                 nbf=now + 3600)),
                                  "/multi", 401, "early"),
            # POST needs orders:write
            "jwt-named-scope": (self.keys.mint("RS256", claims(sub="reader", azp="web-app")),
                                "/v1/orders", 403, "reader"),
        }
        unverified = {
            "jwt-anon-signature": self.keys.mint("RS256", claims(sub="forger")).rsplit(".", 1)[0]
                                  + "." + good.rsplit(".", 1)[1],
            "jwt-anon-issuer": self.keys.mint("RS256", claims(sub="evil", iss="https://evil.test")),
            "jwt-anon-key": self.keys.mint("RS256", claims(sub="ghost"), key="unpublished"),
        }
        for rid, (token, target, status, sub) in verified.items():
            with self.subTest(rid=rid):
                method = "POST" if status == 403 else "GET"
                r = self.gateway.request(method, target, bearer(token) + [("X-Request-Id", rid)],
                                         body=b"{}" if method == "POST" else None)
                self.assertEqual(r.status, status, str(r))
                e = self.gateway.wait_for_access_log(rid)
                self.assertEqual(e["user_id"], sub, e)
                self.assertEqual(e["client_id"], "web-app", e)
                self.assertEqual(e["auth_method"], "jwt", e)
                self.assertRegex(e.get("credential_id", ""), r"^[0-9a-f]{12}$", e)
                self.assertNotIn(token, json.dumps(e))
        for rid, token in unverified.items():
            with self.subTest(rid=rid):
                r = self.gateway.request("GET", "/multi", bearer(token) + [("X-Request-Id", rid)])
                self.assertEqual(r.status, 401, str(r))
                e = self.gateway.wait_for_access_log(rid)
                self.assertEqual((e["user_id"], e["client_id"], e["auth_method"]), ("", "", ""), e)
                self.assertNotIn("credential_id", e)

    # --- attacks --------------------------------------------------------------------------------

    def test_alg_none_in_every_case_with_and_without_signature(self):
        body = b64u(json.dumps(claims()))
        for alg in ("none", "None", "NONE", "nOnE"):
            head = b64u(json.dumps({"alg": alg, "typ": "JWT"}))
            for sig in ("", b64u(os.urandom(32)), self.keys.sign("RS256", f"{head}.{body}")):
                with self.subTest(alg=alg, sig=sig[:8]):
                    self.refused(f"{head}.{body}.{sig}", D_ALG_NONE)
        # Without even the second dot it is not a JWT at all.
        head = b64u('{"alg":"none"}')
        self.refused(f"{head}.{body}", D_NOT_JWT)

    def test_hs256_keyed_with_the_providers_public_key(self):
        body = b64u(json.dumps(claims()))
        head = b64u('{"alg":"HS256","typ":"JWT"}')
        for family, iss in (("rsa", MAIN_ISS), ("p256", PEM_ISS), ("p256", MAIN_ISS)):
            pem = self.keys.pem(family).encode()
            jwk = json.dumps(self.keys.jwk(family)).encode()
            for secret in (pem, pem.strip(), jwk):
                h = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}))
                b = b64u(json.dumps(claims(iss=iss)))
                sig = self.keys.sign("HS256", f"{h}.{b}", secret=secret)
                with self.subTest(family=family, iss=iss, secret=secret[:20]):
                    self.refused(f"{h}.{b}.{sig}", D_ALG)
        del head, body

    def test_embedded_keys_and_key_urls_are_never_used(self):
        hostile = [
            {"jwk": {"kty": "oct", "k": b64u(b"attacker")}},
            {"jwk": self.keys.jwk("rsa") | {"kid": "attacker"}},
            {"jku": f"{self.trap.url}/jwks.json"},
            {"x5u": f"{self.trap.url}/cert.pem"},
            {"x5c": ["MIIBszCCAVmgAwIBAgIUQ"], "x5t": "abc"},
        ]
        for extra in hostile:
            with self.subTest(header=list(extra)):
                # Signed by the attacker's key: no trusted key verifies it.
                token = self.keys.mint("RS256", claims(), header=extra, key="unpublished")
                self.refused(token, D_UNKNOWN_KEY)
                token = self.keys.mint("RS256", claims(), header=extra, kid=None,
                                       key="unpublished")
                self.refused(token, D_SIGNATURE)
                # Signed by the real key: accepted, and the header changed nothing.
                token = self.keys.mint("RS256", claims(), header=extra)
                self.assertEqual(self.call(token).status, 200)
        self.assertEqual(self.trap.hits, 0, "the gateway fetched a URL named by a token")

    def test_kid_with_path_or_sql_characters(self):
        for kid in ("../../../../etc/passwd", "/dev/zero", "' OR '1'='1", "x\"; DROP TABLE keys;--",
                    "%2e%2e%2f", "rsa-1\u0000", "http://127.0.0.1/keys"):
            with self.subTest(kid=kid):
                token = self.keys.mint("RS256", claims(), kid=kid)
                self.refused(token, D_UNKNOWN_KEY)
        self.refused(self.keys.mint("RS256", claims(), kid="../" * 100), D_KID)

    def test_unknown_crit(self):
        for header in ('{"alg":"RS256","crit":["exp"],"exp":1}',
                       '{"alg":"RS256","crit":["b64"],"b64":false}', '{"alg":"RS256","crit":[]}',
                       '{"alg":"RS256","crit":"x"}'):
            with self.subTest(header=header):
                self.refused(self.keys.forge(header, json.dumps(claims()), "RS256"), D_CRIT)

    def test_duplicate_alg_or_iss(self):
        payload = json.dumps(claims())
        kid = self.keys.jwk("rsa")["kid"]
        forged = [
            self.keys.forge(f'{{"alg":"RS256","kid":"{kid}","alg":"HS256"}}', payload, "RS256"),
            self.keys.forge(f'{{"alg":"HS256","kid":"{kid}","alg":"RS256"}}', payload, "RS256"),
            self.keys.forge(f'{{"alg":"RS256","kid":"{kid}","\\u0061lg":"none"}}', payload, "RS256"),
            self.keys.forge(f'{{"alg":"RS256","kid":"{kid}"}}',
                            '{"iss":"https://evil.test",' + payload[1:-1] + ',"iss":"' + MAIN_ISS + '"}',
                            "RS256"),
            self.keys.forge(f'{{"alg":"RS256","kid":"{kid}"}}', payload[:-1] + ',"iss":"x"}', "RS256"),
        ]
        for token in forged:
            with self.subTest(token=token[:40]):
                self.refused(token, D_DUPLICATE)

    def test_padded_or_non_canonical_base64url(self):
        token = self.keys.mint("RS256", claims(pad="x"))
        h, p, s = token.split(".")
        self.assertEqual(self.call(token).status, 200)
        variants = {
            "padded payload": f"{h}.{p}{'=' * (-len(p) % 4 or 4)}.{s}",
            "padded signature": f"{h}.{p}.{s}{'=' * (-len(s) % 4 or 4)}",
            "standard alphabet": f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}"
            if ("-" in s or "_" in s) else f"{h}.{p}.{s}+",
            "space inside": f"{h}.{p[:5]} {p[5:]}.{s}",
        }
        # Non-canonical: the spare low bits of the last character set.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        if len(s) % 4 in (2, 3):
            last = alphabet.index(s[-1])
            variants["non-canonical signature"] = f"{h}.{p}.{s[:-1]}{alphabet[last | 1]}"
        for name, bad in variants.items():
            with self.subTest(variant=name):
                r = self.call(bad)
                self.assertEqual(r.status, 401, str(r))
                if name != "space inside":
                    self.assert_bearer_error(r, 401, D_MALFORMED)

    def test_ecdsa_signature_of_wrong_length_or_zero(self):
        token = self.keys.mint("ES256", claims())
        h, p, s = token.split(".")
        raw = unb64u(s)
        self.assertEqual(len(raw), 64)

        def der(r: bytes, s_: bytes) -> bytes:
            def integer(x: bytes) -> bytes:
                x = x.lstrip(b"\0") or b"\0"
                if x[0] & 0x80:
                    x = b"\0" + x
                return b"\x02" + bytes([len(x)]) + x
            body = integer(r) + integer(s_)
            return b"\x30" + bytes([len(body)]) + body

        for name, sig, description in (
                ("truncated", raw[:63], D_SIG_LENGTH),
                ("extended", raw + b"\0", D_SIG_LENGTH),
                ("DER", der(raw[:32], raw[32:]), D_SIG_LENGTH),
                ("r=s=0", bytes(64), D_ECDSA_RANGE),
                ("r=0", bytes(32) + raw[32:], D_ECDSA_RANGE),
                ("s=n-ish", raw[:32] + b"\xff" * 32, D_ECDSA_RANGE)):
            with self.subTest(signature=name):
                self.refused(f"{h}.{p}.{b64u(sig)}", description)

    def test_time_claims_as_strings(self):
        now = int(time.time())
        for name, value in (("exp", str(now + 600)), ("nbf", str(now - 10)), ("iat", str(now))):
            with self.subTest(claim=name):
                c = claims()
                c[name] = value
                self.refused(self.keys.forge('{"alg":"RS256"}', json.dumps(c), "RS256"),
                             D_NOT_NUMBER + name)

    def test_one_mib_token(self):
        # The head limit (server.max_header_bytes, 16 KiB here) answers before the mechanism
        # sees the token: 431. A token under the head limit but over max_token_bytes is 401.
        token = self.keys.mint("RS256", claims(pad="x" * (1 << 20)))
        self.assertGreater(len(token), 1 << 20)
        with self.gateway.connect() as c:
            try:
                c.send(build_request("GET", "/multi", bearer(token)))
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = c.read_response()
        self.assertEqual(r.status, 431, str(r))
        mid = self.keys.mint("RS256", claims(pad="x" * 9000))
        self.assertLess(len(mid), 16000)
        self.refused(mid, "the token is larger than allowed")

    def test_other_audience_and_id_token(self):
        self.refused(self.keys.mint("RS256", claims(aud="api://billing")), D_AUDIENCE)
        self.refused(self.keys.mint("RS256", claims(aud=["api://billing", "api://hr"])), D_AUDIENCE)
        now = int(time.time())
        id_token = self.keys.mint("RS256", {
            "iss": MAIN_ISS, "sub": "42", "aud": "test-client", "azp": "test-client",
            "nonce": "n-0S6_WzA2Mj", "auth_time": now - 5, "iat": now, "exp": now + 600,
            "email": "a@example.com"}, header={"typ": "JWT"})
        self.refused(id_token, D_AUDIENCE)
        # A provider that requires at+jwt refuses ID tokens by type as well.
        id_token2 = self.keys.mint("RS256", {
            "iss": TYPED_ISS, "sub": "42", "aud": AUD, "nonce": "n", "iat": now,
            "exp": now + 600}, header={"typ": "JWT"})
        self.refused(id_token2, D_TYP)

    def test_refresh_and_id_tokens_marked_as_such_are_refused(self):
        """Issuers that mint refresh and ID tokens as JWTs mark them (Keycloak's typ, Cognito's
        token_use); such a token never authorizes a call, even with the right audience."""
        for marker, description in ((("typ", "Refresh"), D_REFRESH), (("token_use", "refresh"), D_REFRESH),
                                    (("typ", "ID"), D_ID_TOKEN), (("token_use", "id"), D_ID_TOKEN)):
            token = self.keys.mint("RS256", claims(**{marker[0]: marker[1]}))
            self.refused(token, description)
        # The same claims without the marker pass.
        r = self.call(self.keys.mint("RS256", claims()))
        self.assertEqual(r.status, 200, str(r))

    # --- cache and metrics ----------------------------------------------------------------------

    def test_cache_and_jwks_metrics(self):
        def value(name, **labels):
            for n, l, v in parse_prometheus(self.gateway.metrics()):
                if n == name and all(l.get(k) == x for k, x in labels.items()):
                    return v
            return 0.0

        token = self.keys.mint("RS256", claims())
        hits = value("portcullis_jwt_cache_hits_total", provider="main")
        for _ in range(3):
            self.assertEqual(self.call(token).status, 200)
        self.assertGreaterEqual(value("portcullis_jwt_cache_hits_total", provider="main"),
                                hits + 2)
        self.assertGreaterEqual(value("portcullis_jwt_cache_misses_total", provider="main"), 1)
        self.assertGreaterEqual(
            value("portcullis_jwks_fetches_total", provider="main", result="success"), 1)
        self.assertEqual(value("portcullis_jwks_keys", provider="main"), 5)
        self.assertEqual(value("portcullis_jwks_keys", provider="pem"), 1)
        text = self.gateway.metrics()
        self.assertIn('portcullis_jwks_age_seconds{provider="main"}', text)


class JwtConnectionMemoTest(GatewayTestCase):
    """One keep-alive connection presenting tokens in turn: each request is forwarded with the
    identity of its own token, whether verified now or found in the connection's memo (whose
    identity headers are rendered once), and a reload that renames the identity headers is
    seen by the connection's next request."""

    @classmethod
    def make_config(cls, echo: Echo) -> dict:
        cls.keys = JwtKeys(cls.workdir)
        cls.addClassCleanup(cls.keys.stop)
        providers = {"main": {"issuer": MAIN_ISS, "audiences": [AUD], "algorithms": ["RS256"],
                              "jwks_uri": cls.keys.jwks_uri}}
        return gateway_config(echo, providers, [route("all", path_prefix="/", auth=["jwt:main"])])

    def test_each_request_carries_its_own_tokens_identity(self):
        alice = self.keys.mint("RS256", claims(sub="alice", scope="orders:read"))
        bob = self.keys.mint("RS256", claims(sub="bob", scope="orders:write admin"))

        def through(conn, token, n):
            conn.send(build_request("GET", f"/n{n}", bearer(token)))
            r = conn.read_response()
            self.assertEqual(r.status, 200, str(r))
            return r.echo()

        with self.gateway.connect() as conn:
            for n, (token, sub, scopes) in enumerate([
                    (alice, "alice", "orders:read"), (alice, "alice", "orders:read"),
                    (bob, "bob", "orders:write admin"), (bob, "bob", "orders:write admin"),
                    (alice, "alice", "orders:read")]):
                seen = through(conn, token, n)
                self.assertEqual((seen.header("X-User-Id"), seen.header("X-User-Scopes")),
                                 (sub, scopes), f"request {n}")
                self.assertEqual(seen.header_all("X-Auth-Method"), ["jwt"])

            config = self.make_config_renamed()
            self.gateway.write_config(config)
            self.gateway.reload()
            wait_until(lambda: self.get("/", bearer(alice)).echo().header("X-Subject") == "alice",
                       10, message="the renamed header after SIGHUP")
            # The connection's memo still holds alice's token: the new runtime's names.
            seen = through(conn, alice, 9)
            self.assertEqual(seen.header("X-Subject"), "alice")
            self.assertIsNone(seen.header("X-User-Id"))
            self.assertEqual(seen.header("X-User-Scopes"), "orders:read")

    def make_config_renamed(self) -> dict:
        providers = {"main": {"issuer": MAIN_ISS, "audiences": [AUD], "algorithms": ["RS256"],
                              "jwks_uri": self.keys.jwks_uri}}
        config = gateway_config(self.echo, providers,
                                [route("all", path_prefix="/", auth=["jwt:main"])])
        config.setdefault("identity", {})["headers"] = {"user_id": "X-Subject"}
        return config


class JwtRemoteKeysTest(JwtAssertions, unittest.TestCase):
    """Remote key sets over time: rotation without restart, shared refetches, the refetch
    cooldown, an issuer that goes down, max-stale, and a cold start without the issuer."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-JwtRemoteKeysTest-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)

    def start(self, name: str, providers: dict, lazy: bool = False):
        keys = JwtKeys(self.workdir, name=f"{name}-keys")
        self.addCleanup(keys.stop)
        for p in providers.values():
            p.setdefault("audiences", [AUD])
            p.setdefault("algorithms", ["RS256"])
            p.setdefault("jwks_uri", keys.jwks_uri)
        auth = [f"jwt:{n}" for n in providers]
        cfg = gateway_config(self.echo, providers, [route("all", path_prefix="/", auth=auth)])
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        gw = (LazyGateway if lazy else Gateway)(cfg, workdir)
        self.addCleanup(gw.kill)
        return keys, gw

    def test_rotation_is_accepted_without_restart_and_misses_share_one_fetch(self):
        keys, gw = self.start("rotation", {"rot": {"issuer": MAIN_ISS,
                                                    "jwks_refetch_cooldown_s": 0}})
        gw.start()
        old = keys.mint("RS256", claims())
        self.assertEqual(gw.request("GET", "/x", bearer(old)).status, 200)
        rotated = keys.rotate("rsa")
        keys.state(delay_ms=400)  # every miss arrives while the one refetch is running
        before = keys.jwks_fetches()
        new = keys.mint("RS256", claims())
        self.assertIn(rotated["kid"], unb64u(new.split(".")[0]).decode())
        results = []

        def one():
            results.append(gw.request("GET", "/x", bearer(new)).status)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        keys.state(delay_ms=0)
        self.assertEqual(results, [200] * 8)
        self.assertEqual(keys.jwks_fetches() - before, 1, "concurrent misses share one fetch")
        # The removed key's tokens, never seen before, are refused now.
        stale = keys.mint("RS256", claims(), key="unpublished")
        self.assert_bearer_error(gw.request("GET", "/x", bearer(stale)), 401, D_UNKNOWN_KEY)
        misses = [v for n, l, v in parse_prometheus(gw.metrics())
                  if n == "portcullis_jwks_kid_misses_total" and l.get("provider") == "rot"]
        self.assertTrue(misses and misses[0] >= 1)
        gw.stop()

    def test_refetch_cooldown_bounds_fetches_for_unknown_kids(self):
        keys, gw = self.start("cooldown", {"cool": {"issuer": MAIN_ISS,
                                                     "jwks_refetch_cooldown_s": 60}})
        gw.start()
        before = keys.jwks_fetches()
        for _ in range(6):
            token = keys.mint("RS256", claims(), key="unpublished")
            self.assert_bearer_error(gw.request("GET", "/x", bearer(token)), 401, D_UNKNOWN_KEY)
        self.assertEqual(keys.jwks_fetches() - before, 1)
        gw.stop()

    def test_issuer_down_then_max_stale_then_back(self):
        keys, gw = self.start("stale", {"stale": {
            "issuer": MAIN_ISS, "jwks_refresh_s": 1, "jwks_min_refresh_s": 1,
            "jwks_max_stale_s": 3, "jwks_refetch_cooldown_s": 1, "token_cache_entries": 0}})
        gw.start()
        self.assertEqual(gw.request("GET", "/x", bearer(keys.mint("RS256", claims()))).status, 200)
        keys.state(down=True)
        down_at = time.monotonic()
        # The last good keys keep serving while they are younger than jwks_max_stale_s.
        token = keys.mint("RS256", claims())
        self.assertEqual(gw.request("GET", "/x", bearer(token)).status, 200)
        self.assertEqual(gw.admin_get("/readyz").status, 200)
        # Then 503 jwks_unavailable, not 401.
        r = wait_until(lambda: (lambda r: r if r.status == 503 else None)(
            gw.request("GET", "/x", bearer(token))), 10, interval=0.2, message="503 after max-stale")
        self.assertGreaterEqual(time.monotonic() - down_at, 1.5)
        self.assert_bearer_error(r, 503, D_UNAVAILABLE, error="temporarily_unavailable")
        keys.state(down=False)
        wait_until(lambda: gw.request("GET", "/x", bearer(token)).status == 200, 10,
                   interval=0.2, message="200 once the issuer is back")
        gw.stop()

    def test_reload_keeps_an_unchanged_provider(self):
        keys, gw = self.start("reload", {"r": {"issuer": MAIN_ISS}})
        gw.start()
        token = keys.mint("RS256", claims())
        self.assertEqual(gw.request("GET", "/x", bearer(token)).status, 200)
        fetches = keys.jwks_fetches()
        mark = gw.output_mark()
        gw.reload()
        gw.wait_for_output("configuration reloaded", since=mark)
        # Same provider config: same keys and cache, no new fetch, still ready.
        self.assertEqual(gw.admin_get("/readyz").status, 200)
        self.assertEqual(gw.request("GET", "/x", bearer(token)).status, 200)
        self.assertEqual(keys.jwks_fetches(), fetches)
        # A changed provider starts afresh (and fetches its keys).
        cfg = gw.config
        cfg["jwt_providers"]["r"]["audiences"] = [AUD, "api://more"]
        gw.write_config(cfg)
        mark = gw.output_mark()
        gw.reload()
        gw.wait_for_output("configuration reloaded", since=mark)
        wait_until(lambda: keys.jwks_fetches() > fetches, 5, message="a fetch by the new provider")
        wait_until(lambda: gw.request("GET", "/x", bearer(token)).status == 200, 5,
                   message="the new provider serving")
        gw.stop()

    def test_cold_start_without_the_issuer(self):
        keys, gw = self.start("cold", {"cold": {"issuer": MAIN_ISS, "jwks_min_refresh_s": 1,
                                                 "jwks_refetch_cooldown_s": 1}}, lazy=True)
        keys.state(down=True)
        gw.start()
        token = keys.mint("RS256", claims())
        for _ in range(3):
            self.assertEqual(gw.admin_get("/readyz").status, 503)
            self.assert_bearer_error(gw.request("GET", "/x", bearer(token)), 503, D_NOT_READY,
                                     error="temporarily_unavailable")
            time.sleep(0.3)
        keys.state(down=False)
        wait_until(gw.ready, 10, interval=0.1, message="ready once the issuer answers")
        self.assertEqual(gw.request("GET", "/x", bearer(token)).status, 200)
        gw.stop()


class JwtOidcProviderTest(JwtAssertions, unittest.TestCase):
    """A real authorization server (oidc-provider): discovery, client-credentials JWT access
    tokens, key rotation at the provider, the provider stopped, a cold start without it."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-JwtOidcProviderTest-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)

    def gateway(self, name: str, discovery: str, lazy: bool = False):
        providers = {"idp": {"discovery": discovery, "audiences": [OIDC_RESOURCE],
                             "algorithms": ["RS256"], "typ": "at+jwt",
                             "jwks_refetch_cooldown_s": 0, "jwks_min_refresh_s": 1}}
        routes = [route("read", path_prefix="/v1/orders", methods=["GET"], auth=["jwt:idp"],
                        require_scopes=["orders:read"]),
                  route("write", path_prefix="/v1/orders", methods=["POST"], auth=["jwt:idp"],
                        require_scopes=["orders:write"])]
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        gw = (LazyGateway if lazy else Gateway)(gateway_config(self.echo, providers, routes), workdir)
        self.addCleanup(gw.kill)
        return gw

    def test_client_credentials_rotation_and_provider_stopped(self):
        idp = JwtOidc(self.workdir)
        self.addCleanup(idp.stop)
        gw = self.gateway("warm", idp.discovery)
        gw.start()
        token = idp.client_credentials("orders:read")
        r = gw.request("GET", "/v1/orders", bearer(token))
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.header("X-Client-Id"), "test-client")
        self.assertEqual(seen.header("X-User-Scopes"), "orders:read")
        self.assertEqual(seen.header("X-Auth-Method"), "jwt")
        self.assertIsNone(seen.header("Authorization"))
        r = gw.request("POST", "/v1/orders", bearer(token), body=b"{}")
        self.assertEqual(r.status, 403, str(r))
        self.assertIn('scope="orders:write"', r.header("WWW-Authenticate"))

        # Rotation at the provider: the new kid signs, the old key is gone from its JWKS.
        rotated = idp.rotate()
        new = idp.client_credentials("orders:read orders:write")
        self.assertIn(rotated["kid"], unb64u(new.split(".")[0]).decode())
        self.assertEqual(gw.request("POST", "/v1/orders", bearer(new), body=b"{}").status, 200)

        # The provider stops: the keys already fetched keep serving new tokens.
        unused = idp.client_credentials("orders:read")
        idp.stop()
        self.assertEqual(gw.request("GET", "/v1/orders", bearer(unused)).status, 200)
        self.assertEqual(gw.admin_get("/readyz").status, 200)
        gw.stop()

    def test_cold_start_with_the_provider_down(self):
        # The port stays bound (refusing connections) until the provider starts on it, so no
        # test running in parallel is handed it meanwhile.
        hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        hold.bind(("127.0.0.1", 0))
        port = hold.getsockname()[1]
        issuer = f"http://127.0.0.1:{port}"
        gw = self.gateway("cold", f"{issuer}/.well-known/openid-configuration", lazy=True)
        gw.start()
        # Any token naming this issuer gets 503 before keys exist: never 401.
        now = int(time.time())
        forged = ".".join([b64u('{"alg":"RS256","typ":"at+jwt","kid":"k"}'),
                           b64u(json.dumps({"iss": issuer, "aud": OIDC_RESOURCE, "exp": now + 60})),
                           b64u(os.urandom(256))])
        self.assertEqual(gw.admin_get("/readyz").status, 503)
        self.assert_bearer_error(gw.request("GET", "/v1/orders", bearer(forged)), 503, D_NOT_READY,
                                 error="temporarily_unavailable")
        hold.close()
        idp = JwtOidc(self.workdir, port=port, name="jwt-oidc-cold")
        self.addCleanup(idp.stop)
        wait_until(gw.ready, 15, interval=0.1, message="ready once the provider is up")
        token = idp.client_credentials("orders:read")
        self.assertEqual(gw.request("GET", "/v1/orders", bearer(token)).status, 200)
        self.assert_bearer_error(gw.request("GET", "/v1/orders", bearer(forged)), 401,
                                 D_UNKNOWN_KEY)
        gw.stop()


if __name__ == "__main__":
    unittest.main()
