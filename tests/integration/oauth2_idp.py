"""The test identity provider (tests/idp/oauth2_idp.mjs: npm oidc-provider) as a process,
and the client-side calls the tests make to it: tokens by client credentials, revocation,
a refresh token, and the test controls (introspection count, delay, forced failures)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

from harness import IDP_DIR, idp_packages_problem, node_bin, start_listening, stop_process

GATEWAY_SECRET = "gateway-secret-for-tests-0123456789"
TEST_CLIENT_SECRET = "test-client-secret-0123456789"
OPAQUE_RESOURCE = "urn:portcullis:api"
JWT_RESOURCE = "urn:portcullis:jwt"
OTHER_RESOURCE = "urn:portcullis:other"


def ensure_node_modules() -> None:
    """Installs tests/idp's npm packages when they are missing or not the pinned versions
    (fails, never skips)."""
    if not idp_packages_problem():
        return
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm not found: the oauth2 tests need Node.js and npm (scripts/deps.sh)")
    cmd = [npm, "ci" if (IDP_DIR / "package-lock.json").exists() else "install",
           "--no-audit", "--no-fund"]
    subprocess.run(cmd, cwd=IDP_DIR, check=True, stdout=subprocess.DEVNULL)


class Idp:
    """oidc-provider on 127.0.0.1; `port` may be given to come back on the same address."""

    def __init__(self, workdir: str, name: str = "idp", port: int = 0):
        ensure_node_modules()
        node = node_bin()
        self.log_path = os.path.join(workdir, f"{name}.log")
        self._log = open(self.log_path, "ab")
        env = dict(os.environ, IDP_GATEWAY_SECRET=GATEWAY_SECRET,
                   IDP_TEST_CLIENT_SECRET=TEST_CLIENT_SECRET)
        try:
            self.proc, self.port = start_listening(
                [node, str(IDP_DIR / "oauth2_idp.mjs"), "--port", str(port)], self._log,
                "the test IdP", timeout=20, env=env)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{self.log()}") from None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.issuer}/token/introspection"

    @property
    def discovery(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()

    # --- OAuth2 as a client ------------------------------------------------------------------

    def _post(self, path: str, form: Optional[dict] = None, basic: Optional[tuple] = None,
              timeout: float = 10) -> dict:
        data = urllib.parse.urlencode(form or {}).encode()
        req = urllib.request.Request(self.issuer + path, data=data, method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        if basic:
            raw = f"{urllib.parse.quote_plus(basic[0])}:{urllib.parse.quote_plus(basic[1])}"
            req.add_header("Authorization", "Basic " + base64.b64encode(raw.encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                body = r.read()
                return json.loads(body) if body else {}
        except urllib.error.HTTPError as e:
            raise AssertionError(f"IdP {path} answered {e.code}: {e.read()[:300]!r}") from None

    def token(self, scope: str = "orders:read orders:write", resource: str = OPAQUE_RESOURCE) -> str:
        """A client-credentials access token of test-client (opaque for the default resource)."""
        answer = self._post("/token", {"grant_type": "client_credentials", "scope": scope,
                                       "resource": resource},
                            basic=("test-client", TEST_CLIENT_SECRET))
        return answer["access_token"]

    def revoke(self, token: str) -> None:
        self._post("/token/revocation", {"token": token, "token_type_hint": "access_token"},
                   basic=("test-client", TEST_CLIENT_SECRET))

    def introspect(self, token: str) -> dict:
        """What the gateway would be told (as the gateway client)."""
        return self._post("/token/introspection", {"token": token},
                          basic=("gateway", GATEWAY_SECRET))

    def refresh_token(self) -> str:
        return self._post("/test/refresh-token")["refresh_token"]

    # --- test controls -------------------------------------------------------------------------

    def introspections(self) -> int:
        with urllib.request.urlopen(self.issuer + "/test/introspections", timeout=10) as r:
            return json.loads(r.read())["count"]

    def reset(self) -> None:
        self._post("/test/reset")

    def delay(self, ms: int) -> None:
        self._post(f"/test/delay?ms={ms}")

    def fail_with(self, status: int) -> None:
        self._post(f"/test/fail?status={status}")

    def answer_with(self, body: dict) -> None:
        """Every later introspection answers 200 with `body` (until reset())."""
        req = urllib.request.Request(self.issuer + "/test/answer", data=json.dumps(body).encode(),
                                     method="POST")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
