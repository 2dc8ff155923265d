"""Per-client rate plans through the running gateway and its limiter (issue 13 item 3): a key
with `--rate-limit 3/1m` on a route whose `key: client_id` limit is 100/1m gets 429 on its 4th
request while another key on the same route does not; `keys update` to a larger plan is used
by the running gateway without a reload; a JWT whose `rate_limit_claim` holds a plan gets that
plan, one without the claim (or with a value that is not a plan) the route's limit.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

from harness import Echo, Gateway, base_config, gateway_bin, route, wait_until
from jwt_idp import JwtKeys

PEPPER = secrets.token_urlsafe(32)
os.environ["PORTCULLIS_KEY_PEPPER"] = PEPPER
ISS = "https://plans.issuer.test"
AUD = "api://partner"


def avoid_window_edge(margin: float = 8.0) -> None:
    """The windows are aligned to the minute: start a count well inside one, so that no
    roll-over resets it halfway through an assertion."""
    into = time.time() % 60
    if into > 60 - margin:
        time.sleep(60 - into + 0.2)


class PlansThroughTheLimiterTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls) -> None:
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-plans-gw-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cls.jwt = JwtKeys(cls.workdir)
        cls.addClassCleanup(cls.jwt.stop)
        cls.store = os.path.join(cls.workdir, "keys.db")
        cfg = base_config(cls.echo.port, routes=[
            route("partner", path_prefix="/v1/partner", auth=["api_key"],
                  rate_limits=["partner-default"]),
            route("tokens", path_prefix="/v1/tokens", auth=["jwt:corp"],
                  rate_limits=["partner-default"]),
            route("probe", path_prefix="/probe", auth=["api_key"]),  # no limit
        ])
        cfg["api_keys"] = {"header": "X-API-Key", "store": f"sqlite://{cls.store}",
                           "pepper": "${PORTCULLIS_KEY_PEPPER}", "poll_interval_ms": 200}
        cfg["jwt_providers"] = {"corp": {"issuer": ISS, "audiences": [AUD],
                                         "algorithms": ["RS256"], "jwks_uri": cls.jwt.jwks_uri,
                                         "rate_limit_claim": "plan"}}
        cfg["rate_limits"] = {"partner-default": {"requests": 100, "per": "1m",
                                                  "key": "client_id"}}
        cls.gateway = Gateway(cfg, cls.workdir)
        cls.addClassCleanup(cls.gateway.kill)
        cls.gateway.start()

    def keys(self, *args: str) -> subprocess.CompletedProcess:
        p = subprocess.run([gateway_bin(), "keys", *args, "--store", f"sqlite://{self.store}"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    def create(self, client: str, *extra: str) -> dict:
        return json.loads(self.keys("create", "--client", client, "--json", *extra).stdout)

    def statuses(self, key: str, n: int) -> list:
        return [self.gateway.request("GET", "/v1/partner/x", [("X-API-Key", key)]).status
                for _ in range(n)]

    def wait_known(self, key: str) -> None:
        """Until the gateway has read the new key (asked on a route without limits)."""
        wait_until(lambda: self.gateway.request("GET", "/probe", [("X-API-Key", key)])
                   .status == 200, 5, message="the new key to be read")

    def test_key_plan_replaces_the_client_limit_and_an_update_is_used_at_once(self):
        planned = self.create("planned-client", "--rate-limit", "3/1m")
        other = self.create("other-client")
        self.wait_known(planned["key"])
        self.wait_known(other["key"])
        avoid_window_edge()
        self.assertEqual(self.statuses(planned["key"], 4), [200, 200, 200, 429])
        self.assertEqual(self.statuses(other["key"], 6), [200] * 6)

        self.keys("update", planned["id"], "--rate-limit", "10/1m")
        # A refused request takes nothing from the budget: 3 used until the update is read.
        wait_until(lambda: self.statuses(planned["key"], 1) == [200], 5,
                   message="the larger plan to be used")
        self.assertEqual(self.statuses(planned["key"], 7), [200] * 6 + [429])

        # Without a plan the route's 100/1m applies again.
        self.keys("update", planned["id"], "--rate-limit", "none")
        wait_until(lambda: self.statuses(planned["key"], 1) == [200], 5,
                   message="the route's limit to apply again")

    def token(self, client: str, **extra) -> str:
        now = int(time.time())
        claims = {"iss": ISS, "aud": AUD, "sub": client, "client_id": client, "iat": now,
                  "exp": now + 600, "jti": uuid.uuid4().hex}
        claims.update(extra)
        return self.jwt.mint("RS256", claims)

    def token_statuses(self, token: str, n: int) -> list:
        return [self.gateway.request("GET", "/v1/tokens/x",
                                     [("Authorization", f"Bearer {token}")]).status
                for _ in range(n)]

    def test_token_plan_from_its_claim(self):
        avoid_window_edge()
        self.assertEqual(self.token_statuses(self.token("jwt-planned", plan="2/1m"), 3),
                         [200, 200, 429])
        self.assertEqual(
            self.token_statuses(self.token("jwt-object", plan={"requests": 1, "per": "1m"}), 2),
            [200, 429])
        self.assertEqual(self.token_statuses(self.token("jwt-plain"), 5), [200] * 5)
        # Not a plan: ignored, the route's limit applies (and the token is still accepted).
        self.assertEqual(self.token_statuses(self.token("jwt-bad", plan="lots"), 5), [200] * 5)


if __name__ == "__main__":
    unittest.main()
