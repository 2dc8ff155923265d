"""The test identity providers (tests/idp) on Debian 12's own Node.js, 18.20, which
scripts/idp-deps.sh installs where there is no Node: the pinned npm packages must not need
anything newer. Each provider runs here with tests/idp/as_node18.mjs preloaded, which removes
what Node >= 19 added (the global WebCrypto, URL.parse, crypto.hash, ...), so a package that
needs a newer Node fails on the Node 20 of the project's machines too, and is exercised the
way the jwt and oauth2 tests use it. With PORTCULLIS_NODE naming a real Node 18, the same
runs on it (README.md, "Test it")."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import node_bin
from jwt_idp import JwtKeys, JwtOidc, OIDC_RESOURCE, unb64u
from oauth2_idp import IDP_DIR, JWT_RESOURCE, Idp

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA", "HS256", "HS512"]


class IdpOnNode18Test(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-IdpOnNode18Test-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        # Every node process this test starts inherits the preload.
        saved = {k: os.environ.get(k) for k in ("NODE_OPTIONS", "AS_NODE18_VERBOSE")}

        def restore():
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        cls.addClassCleanup(restore)
        preload = f"--import={IDP_DIR / 'as_node18.mjs'}"
        os.environ["NODE_OPTIONS"] = f"{saved['NODE_OPTIONS'] or ''} {preload}".strip()
        os.environ["AS_NODE18_VERBOSE"] = "1"

    def assert_clean_start(self, log: str):
        self.assertIn("as_node18: removed", log, "the preload did not run")
        # oidc-provider names the Node versions it supports; the pinned one includes 18.
        self.assertNotIn("Unsupported runtime", log)

    def test_node_is_at_least_18(self):
        version = subprocess.run([node_bin(), "--version"], capture_output=True, text=True,
                                 check=True, env=dict(os.environ, NODE_OPTIONS="")).stdout
        m = re.match(r"^v(\d+)\.", version)
        self.assertTrue(m, version)
        self.assertGreaterEqual(int(m.group(1)), 18, f"{node_bin()} is {version.strip()}")

    def test_token_issuer_mints_every_algorithm(self):
        keys = JwtKeys(self.workdir, name="n18-keys")
        self.addCleanup(keys.stop)
        self.assert_clean_start(keys.log())
        self.assertEqual(len(json.loads(keys.jwks())["keys"]), 5)
        for alg in ALGORITHMS:
            with self.subTest(alg=alg):
                token = keys.mint(alg, {"iss": "https://n18.test", "sub": "1"})
                header = json.loads(unb64u(token.split(".")[0]))
                self.assertEqual(header["alg"], alg)
                self.assertEqual(len(token.split(".")), 3)
        self.assertTrue(keys.sign("ES256", "a.b"))
        self.assertIn("kid", keys.rotate("rsa"))

    def test_openid_provider_issues_jwt_access_tokens(self):
        idp = JwtOidc(self.workdir, name="n18-oidc")
        self.addCleanup(idp.stop)
        self.assert_clean_start(idp.log())
        token = idp.client_credentials("orders:read")
        header = json.loads(unb64u(token.split(".")[0]))
        payload = json.loads(unb64u(token.split(".")[1]))
        self.assertEqual(header["typ"], "at+jwt")
        self.assertEqual(payload["aud"], OIDC_RESOURCE)
        rotated = idp.rotate()
        self.assertIn(rotated["kid"], unb64u(idp.client_credentials().split(".")[0]).decode())

    def test_authorization_server_introspects_and_revokes(self):
        idp = Idp(self.workdir, "n18-idp")
        self.addCleanup(idp.stop)
        self.assert_clean_start(idp.log())
        token = idp.token("orders:read")
        answer = idp.introspect(token)
        self.assertTrue(answer["active"], answer)
        self.assertEqual(answer["client_id"], "test-client")
        idp.revoke(token)
        self.assertFalse(idp.introspect(token)["active"])
        self.assertEqual(idp.introspect(idp.refresh_token())["token_type"], "refresh_token")
        self.assertEqual(len(idp.token(resource=JWT_RESOURCE).split(".")), 3)
        self.assertGreaterEqual(idp.introspections(), 3)


if __name__ == "__main__":
    unittest.main()
