"""The jwt tests' token issuers as processes: tests/idp/jwt_keys.mjs (keys for every JWS
algorithm, tokens minted with npm jose, a JWKS endpoint with switches) and
tests/idp/jwt_oidc.mjs (npm oidc-provider issuing RFC 9068 access tokens by client
credentials, with key rotation). Plus the byte-level helpers attack tokens are built from."""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.error
import urllib.request
from typing import Optional

from harness import IDP_DIR, idp_packages_problem, node_bin, start_listening, stop_process

HS_SECRET = "portcullis-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-0123"
OIDC_CLIENT_SECRET = "jwt-test-client-secret-0123456789"
OIDC_RESOURCE = "urn:portcullis:orders"


def b64u(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def require_node_modules() -> None:
    """Fails (never skips) when tests/idp has not been installed as its lock file says."""
    problem = idp_packages_problem()
    if problem:
        raise RuntimeError(f"{problem}: run bash scripts/idp-deps.sh")


def _http(method: str, url: str, body: Optional[dict] = None, headers: Optional[dict] = None,
          data: Optional[bytes] = None, timeout: float = 10,
          context: Optional[ssl.SSLContext] = None) -> tuple:
    if body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class NodeProcess:
    """A node script that prints "listening 127.0.0.1:PORT" once ready; over https when `tls`
    (a certs.Cert with an IP SAN for 127.0.0.1) is given."""

    def __init__(self, workdir: str, script: str, name: str, args: tuple = (),
                 env: Optional[dict] = None, tls=None):
        require_node_modules()
        self.tls = tls
        # How the tests themselves reach it: trusting the CA that issued its certificate.
        self.ssl_context = ssl.create_default_context(cafile=tls.ca) if tls else None
        if tls:
            args = (*args, "--tls-cert", tls.chain, "--tls-key", tls.key)
        self.log_path = os.path.join(workdir, f"{name}.log")
        self._log = open(self.log_path, "ab")
        try:
            self.proc, self.port = start_listening(
                [node_bin(), str(IDP_DIR / script), *args], self._log, script, timeout=30,
                env=dict(os.environ, **(env or {})))
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{self.log()}") from None

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def get_json(self, path: str) -> dict:
        status, data = _http("GET", self.base + path, context=self.ssl_context)
        if status != 200:
            raise AssertionError(f"{path}: {status} {data[:300]!r}")
        return json.loads(data)

    def tls_stats(self) -> dict:
        """{"connections": N, "resumed": M}: TLS connections accepted, sessions resumed."""
        return self.get_json("/test/tls")

    def close_idle(self) -> None:
        """Closes the idle keep-alive connections (the gateway's pooled ones)."""
        _http("POST", self.base + "/test/close-idle", {}, context=self.ssl_context)

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


class JwtKeys(NodeProcess):
    """tests/idp/jwt_keys.mjs serve."""

    def __init__(self, workdir: str, name: str = "jwt-keys"):
        super().__init__(workdir, "jwt_keys.mjs", name, ("serve", "--secret", HS_SECRET))

    @property
    def jwks_uri(self) -> str:
        return f"{self.base}/jwks.json"

    def _post(self, path: str, body: Optional[dict] = None) -> dict:
        status, data = _http("POST", self.base + path, body or {})
        if status != 200:
            raise AssertionError(f"jwt_keys {path}: {status} {data[:500]!r}")
        return json.loads(data)

    def mint(self, alg: str, claims: dict, header: Optional[dict] = None, **kw) -> str:
        """A token minted by jose. kw: kid=... (None: no kid), key='unpublished'."""
        body = {"alg": alg, "claims": claims}
        if header:
            body["header"] = header
        body.update(kw)
        return self._post("/mint", body)["token"]

    def sign(self, alg: str, signing_input: str, secret: Optional[bytes] = None) -> str:
        body = {"alg": alg, "input": signing_input}
        if secret is not None:
            body["secret"] = secret.decode("latin-1")
        return self._post("/sign", body)["signature"]

    def forge(self, header_json: str, payload_json: str, alg: str) -> str:
        """A token from exact JSON text, validly signed with this issuer's key for `alg`."""
        signing_input = f"{b64u(header_json)}.{b64u(payload_json)}"
        return f"{signing_input}.{self.sign(alg, signing_input)}"

    def state(self, **kw) -> dict:
        return self._post("/state", kw)

    def rotate(self, family: str) -> dict:
        return self._post(f"/rotate?family={family}")

    def jwks_fetches(self) -> int:
        status, data = _http("GET", self.base + "/stats")
        return json.loads(data)["jwks_fetches"]

    def pem(self, family: str) -> str:
        return _http("GET", f"{self.base}/pem/{family}")[1].decode()

    def jwk(self, family: str) -> dict:
        return json.loads(_http("GET", f"{self.base}/jwk/{family}")[1])

    def jwks(self) -> str:
        return _http("GET", self.jwks_uri)[1].decode()


class JwtOidc(NodeProcess):
    """tests/idp/jwt_oidc.mjs: oidc-provider; `port` to come back on the same address."""

    def __init__(self, workdir: str, port: int = 0, name: str = "jwt-oidc", tls=None):
        super().__init__(workdir, "jwt_oidc.mjs", name, ("--port", str(port)),
                         env={"IDP_TEST_CLIENT_SECRET": OIDC_CLIENT_SECRET}, tls=tls)

    @property
    def issuer(self) -> str:
        return self.base

    @property
    def discovery(self) -> str:
        return f"{self.base}/.well-known/openid-configuration"

    def client_credentials(self, scope: str = "orders:read") -> str:
        basic = base64.b64encode(f"test-client:{OIDC_CLIENT_SECRET}".encode()).decode()
        form = f"grant_type=client_credentials&scope={scope.replace(' ', '+')}" \
               f"&resource={OIDC_RESOURCE}"
        status, data = _http("POST", f"{self.base}/token", data=form.encode(),
                             headers={"Authorization": f"Basic {basic}",
                                      "Content-Type": "application/x-www-form-urlencoded"},
                             context=self.ssl_context)
        if status != 200:
            raise AssertionError(f"token request: {status} {data[:500]!r}")
        return json.loads(data)["access_token"]

    def rotate(self) -> dict:
        return json.loads(_http("POST", f"{self.base}/test/rotate", {},
                                context=self.ssl_context)[1])

    def set_token_ttl(self, seconds: int) -> None:
        """The lifetime of the access tokens the provider issues from now on."""
        _http("POST", f"{self.base}/test/ttl", {"ttl": seconds}, context=self.ssl_context)
