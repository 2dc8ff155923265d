"""API key authentication end to end: keys made with `portcullis keys`, checked by the running
gateway, forwarded as identity to the echo upstream.

Covers the issue's example, every 401 and 403 reason, the Authorization: ApiKey form, query
parameter keys, rotation, revocation seen within 2 s, IPv6 CIDRs, a key store that vanishes
while the gateway serves, and a scan proving no key or secret was written anywhere.
"""

from __future__ import annotations

import calendar
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import time
import unittest
import zlib
from typing import Optional

from harness import (Echo, Gateway, RawConnection, base_config, gateway_bin, parse_prometheus,
                     route, wait_until)

# One pepper for the module: the gateway and the CLI read it from the environment.
PEPPER = secrets.token_urlsafe(32)
os.environ["PORTCULLIS_KEY_PEPPER"] = PEPPER

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

UNCHECKED = object()  # assert_denied: whom the access log names is not looked at


def checksum(body: str) -> str:
    v = zlib.crc32(body.encode())
    out = ""
    for _ in range(6):
        out = ALPHABET[v % 62] + out
        v //= 62
    return out


def make_key(key_id: str, secret: str) -> str:
    """A well-formed key (right shape, right checksum) for any id and secret."""
    body = f"ptk_{key_id}_{secret}"
    return body + checksum(body)


def random_b62(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_rfc3339(s: str) -> int:
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


class KeysCli:
    """`portcullis keys ...` against one store; remembers every key it was shown."""

    def __init__(self, store_path: str):
        self.store_path = store_path
        self.shown: list = []  # every full key printed
        self.outputs: list = []  # everything the CLI printed, for the leak scan

    def run(self, *args: str, config: Optional[str] = None, expect: int = 0) -> subprocess.CompletedProcess:
        where = ["-c", config] if config else ["--store", f"sqlite://{self.store_path}"]
        p = subprocess.run([gateway_bin(), "keys", *args, *where], capture_output=True, text=True,
                           timeout=30)
        self.outputs.append(p.stdout + p.stderr)
        if expect is not None and p.returncode != expect:
            raise AssertionError(f"keys {' '.join(args)} exited {p.returncode}, not {expect}:\n"
                                 f"{p.stdout}{p.stderr}")
        return p

    def create(self, client: str, scopes=(), routes=(), cidrs=(), expires: Optional[str] = None,
               label: Optional[str] = None, config: Optional[str] = None) -> dict:
        args = ["create", "--client", client, "--json"]
        if scopes:
            args += ["--scopes", ",".join(scopes)]
        if routes:
            args += ["--routes", ",".join(routes)]
        for c in cidrs:
            args += ["--allow-cidr", c]
        if expires:
            args += ["--expires", expires]
        if label:
            args += ["--label", label]
        out = json.loads(self.run(*args, config=config).stdout)
        self.shown.append(out["key"])
        return out

    def rotate(self, client: str, grace: str) -> dict:
        out = json.loads(self.run("rotate", "--client", client, "--grace", grace, "--json").stdout)
        self.shown.append(out["key"])
        return out

    def list(self, client: Optional[str] = None) -> list:
        args = ["list", "--json"] + (["--client", client] if client else [])
        return json.loads(self.run(*args).stdout)


def api_key_config(echo: Echo, extra_routes=()) -> dict:
    cfg = base_config(echo.port, routes=[
        route("health", path="/healthz"),
        route("reports", path_prefix="/v1/reports", methods=["GET"], auth=["api_key"],
              require_scopes=["reports:read"], api_key_query_param="api_key"),
        route("other", path_prefix="/v1/other", auth=["api_key"]),
        route("fwd", path_prefix="/fwd", auth=["api_key"], forward_authorization=True),
        *extra_routes,
    ], log={"redact_query_params": ["token"]})  # api_key is added by the gateway itself
    cfg["api_keys"] = {"header": "X-API-Key", "store": "sqlite:keys.db",
                       "pepper": "${PORTCULLIS_KEY_PEPPER}", "poll_interval_ms": 1000}
    return cfg


class LeakScan:
    """Mixin: nothing the gateway wrote, exposed or stored contains a key or a secret."""

    def assert_no_key_material(self, gateway: Gateway, cli: KeysCli, extra_keys=()) -> None:
        keys = list(cli.shown) + list(extra_keys)
        self.assertTrue(keys)
        haystacks = {
            "gateway stdout": gateway.stdout_text(),
            "gateway stderr": gateway.stderr_text(),
        }
        if gateway.proc is not None and gateway.proc.poll() is None:
            haystacks["/metrics"] = gateway.metrics()
        for name in os.listdir(gateway.workdir):
            if name.startswith("keys.db"):
                with open(os.path.join(gateway.workdir, name), "rb") as f:
                    haystacks[name] = f.read().decode("latin-1")
        listing = [o for o in cli.outputs if '"key":' not in o and "key:" not in o]
        haystacks["keys list output"] = "\n".join(listing)
        for key in keys:
            secret = key[17:60]
            for where, text in haystacks.items():
                self.assertNotIn(secret, text, f"a key's secret appears in {where}")
                self.assertNotIn(key[:40], text, f"a key appears in {where}")


class ApiKeyTestBase(unittest.TestCase, LeakScan):
    """Echo, a key store with keys made by the CLI, then the gateway; once per class."""

    gateway: Gateway
    echo: Echo
    cli: KeysCli
    workdir: str

    @classmethod
    def config(cls, echo: Echo) -> dict:
        return api_key_config(echo)

    @classmethod
    def make_gateway(cls, config: dict) -> Gateway:
        return Gateway(config, cls.workdir)

    @classmethod
    def make_keys(cls) -> None:
        pass

    @classmethod
    def setUpClass(cls) -> None:
        import tempfile
        cls.workdir = tempfile.mkdtemp(prefix=f"portcullis-{cls.__name__}-")
        cls.addClassCleanup(cls._remove_workdir)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cls.cli = KeysCli(os.path.join(cls.workdir, "keys.db"))
        cls.make_keys()
        cls.gateway = cls.make_gateway(cls.config(cls.echo))
        cls.addClassCleanup(cls.gateway.kill)
        cls.gateway.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.gateway.stop()

    @classmethod
    def _remove_workdir(cls) -> None:
        if os.environ.get("PORTCULLIS_KEEP_TMP"):
            print(f"\nkept {cls.workdir}")
        else:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    # Requests ------------------------------------------------------------------------------------

    def get(self, target: str, key: Optional[str] = None, headers=(), **kw):
        h = list(headers)
        if key is not None:
            h.append(("X-API-Key", key))
        return self.gateway.request("GET", target, h, **kw)

    def assert_denied(self, r, status: int, reason: str, description: Optional[str],
                      named=UNCHECKED) -> dict:
        """`named`: the key (as `keys create --json` printed it) the access-log line must name
        with its id and client (issue 11: a refusal of a key whose secret matched), or None
        when the line must name nobody."""
        self.assertEqual(r.status, status, str(r))
        body = r.json()
        if description is not None:
            self.assertEqual(body.get("error_description"), description, str(r))
        log = self.gateway.wait_for_access_log(r.header("X-Request-Id"))
        self.assertEqual(log["reason"], reason, log)
        self.assertEqual(log["status"], status, log)
        if named is None:
            self.assertNotIn("credential_id", log)
            self.assertEqual((log["client_id"], log["auth_method"]), ("", ""), log)
        elif named is not UNCHECKED:
            self.assertEqual(log.get("credential_id"), named["id"], log)
            self.assertEqual(log["client_id"], named["client_id"], log)
            self.assertEqual(log["auth_method"], "api-key", log)
            self.assertEqual(log["user_id"], "", log)
        return body

    def wait_status(self, target: str, key: str, status: int, timeout: float = 2.0) -> float:
        """Seconds until a request with `key` gets `status` (AssertionError after timeout)."""
        start = time.monotonic()
        wait_until(lambda: self.get(target, key).status == status, timeout, interval=0.05,
                   message=f"{target} to answer {status}")
        return time.monotonic() - start


class ApiKeyGatewayTest(ApiKeyTestBase):
    @classmethod
    def make_keys(cls) -> None:
        c = cls.cli
        cls.partner = c.create("partner-123", scopes=["reports:read", "export"], label="issue example")
        cls.no_scope = c.create("no-scope")
        cls.reports_only = c.create("route-bound", scopes=["reports:read"], routes=["reports"])
        cls.ten_net = c.create("ten-net", scopes=["reports:read"], cidrs=["10.0.0.0/8"])
        cls.loopback = c.create("loopback", scopes=["reports:read"],
                                cidrs=["10.0.0.0/8", "127.0.0.0/8"])
        cls.to_disable = c.create("disable-me", scopes=["reports:read"])
        cls.to_revoke = c.create("revoke-me", scopes=["reports:read"])
        cls.expiry = time.time() + 3
        cls.expiring = c.create("short-lived", scopes=["reports:read"], expires=rfc3339(cls.expiry))

    # The example -------------------------------------------------------------------------

    def test_example_end_to_end(self):
        key = self.partner["key"]
        r = self.get("/v1/reports", key)
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.header("X-Client-Id"), "partner-123")
        self.assertEqual(seen.header("X-Auth-Method"), "api-key")
        self.assertEqual(seen.header("X-User-Scopes"), "reports:read export")
        self.assertIsNone(seen.header("X-API-Key"))
        self.assertNotIn(key[17:60], json.dumps(seen.data))
        log = self.gateway.wait_for_access_log(r.header("X-Request-Id"))
        self.assertEqual(log["auth_method"], "api-key")
        self.assertEqual(log["client_id"], "partner-123")
        self.assertEqual(log["credential_id"], self.partner["id"])

    def test_spoofed_identity_headers_are_replaced(self):
        r = self.get("/v1/reports", self.partner["key"],
                     headers=[("X-Client-Id", "admin"), ("X-Auth-Method", "none"),
                              ("X-User-Scopes", "admin:all"), ("X-User-Id", "root")])
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.header_all("X-Client-Id"), ["partner-123"])
        self.assertEqual(seen.header_all("X-Auth-Method"), ["api-key"])
        self.assertEqual(seen.header_all("X-User-Scopes"), ["reports:read export"])
        self.assertEqual(seen.header_all("X-User-Id"), [])

    # Where the key may be ------------------------------------------------------------------------

    def test_authorization_apikey_form(self):
        for scheme in ("ApiKey", "apikey", "APIKEY"):
            r = self.gateway.request("GET", "/v1/reports",
                                     [("Authorization", f"{scheme} {self.partner['key']}")])
            self.assertEqual(r.status, 200, f"{scheme}: {r}")
            seen = r.echo()
            self.assertEqual(seen.header("X-Client-Id"), "partner-123")
            self.assertIsNone(seen.header("Authorization"))

    def test_authorization_apikey_never_forwarded_even_where_authorization_is(self):
        r = self.gateway.request("GET", "/fwd/x", [("Authorization", f"ApiKey {self.partner['key']}")])
        self.assertEqual(r.status, 200, str(r))
        self.assertIsNone(r.echo().header("Authorization"))

    def test_the_key_header_never_reaches_the_upstream_of_a_route_without_keys(self):
        """Found by an acceptance check: a key sent to a route that takes none (auth: none
        here; a JWT route alike) went to the upstream in clear. The gateway's key header goes
        on every route, in any spelling; other headers stay."""
        key = self.partner["key"]
        r = self.gateway.request("GET", "/healthz", [("X-API-Key", key), ("x_api_key", key),
                                                     ("X-API-Keys", "kept")])
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertNotIn("x-api-key", seen.header_names_normalised())
        self.assertNotIn(key, json.dumps(seen.headers))
        self.assertEqual(seen.header("X-API-Keys"), "kept")

    def test_key_in_two_places_is_refused(self):
        key = self.partner["key"]
        r = self.gateway.request("GET", "/v1/reports",
                                 [("X-API-Key", key), ("Authorization", f"ApiKey {key}")])
        self.assert_denied(r, 400, "ambiguous_credential", "more than one API key was presented")
        r = self.gateway.request("GET", f"/v1/reports?api_key={key}", [("X-API-Key", key)])
        self.assert_denied(r, 400, "ambiguous_credential", None)

    def test_query_parameter_key_is_removed_and_redacted(self):
        key = self.partner["key"]
        r = self.get(f"/v1/reports/q?x=1&api_key={key}&y=%2F")
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.target, "/v1/reports/q?x=1&y=%2F")
        self.assertEqual(seen.header("X-Client-Id"), "partner-123")
        log = self.gateway.wait_for_access_log(r.header("X-Request-Id"))
        self.assertNotIn(key[17:60], json.dumps(log))
        self.assertIn("api_key=REDACTED", log.get("query", ""))
        # Alone in the query: no '?' is left behind.
        r = self.get(f"/v1/reports?api_key={key}")
        self.assertEqual(r.echo().target, "/v1/reports")

    def test_query_parameter_is_ignored_where_the_route_does_not_enable_it(self):
        r = self.get(f"/v1/other?api_key={self.partner['key']}")
        self.assert_denied(r, 401, "missing_credential", "no credential was presented")
        self.assertEqual(r.header("WWW-Authenticate"), 'ApiKey realm="portcullis"')

    # 401 -----------------------------------------------------------------------------------------

    def test_no_key(self):
        r = self.get("/v1/reports")
        self.assert_denied(r, 401, "missing_credential", None, named=None)
        self.assertEqual(r.header("WWW-Authenticate"), 'ApiKey realm="portcullis"')

    def check_401(self, key: str, reason: str, description: str, named=UNCHECKED) -> None:
        r = self.get("/v1/reports", key)
        body = self.assert_denied(r, 401, reason, description, named)
        self.assertEqual(body["error"], "invalid_token")
        challenge = r.header("WWW-Authenticate") or ""
        self.assertTrue(challenge.startswith('ApiKey realm="portcullis"'), challenge)
        self.assertIn('error="invalid_token"', challenge)
        self.assertIn(f'error_description="{description}"', challenge)

    def test_malformed(self):
        good = self.partner["key"]
        typo = good[:30] + ("a" if good[30] != "a" else "b") + good[31:]
        for bad in ("hello", "ptk_", good[:-1], good + "x", typo, "ptk_" + "a" * 62):
            with self.subTest(bad=bad[:20]):
                self.check_401(bad, "malformed_credential", "malformed API key", named=None)

    def test_unknown_id(self):
        self.check_401(make_key(random_b62(12), random_b62(43)), "unknown_credential",
                       "unknown API key", named=None)

    def test_wrong_secret(self):
        # The id is real but the secret is not: nothing proves whose key it is.
        self.check_401(make_key(self.partner["id"], random_b62(43)), "invalid_credential",
                       "API key secret does not match", named=None)

    def test_disabled_then_enabled(self):
        key = self.to_disable["key"]
        self.assertEqual(self.get("/v1/reports", key).status, 200)
        self.cli.run("disable", self.to_disable["id"], config=self.gateway.config_path)
        self.wait_status("/v1/reports", key, 401)
        self.check_401(key, "disabled_credential", "API key is disabled", named=self.to_disable)
        self.cli.run("enable", self.to_disable["id"])
        self.wait_status("/v1/reports", key, 200)

    def test_revoked_within_two_seconds(self):
        key = self.to_revoke["key"]
        self.assertEqual(self.get("/v1/reports", key).status, 200)
        self.cli.run("revoke", self.to_revoke["id"])
        took = self.wait_status("/v1/reports", key, 401, timeout=2.0)
        self.check_401(key, "revoked_credential", "API key has been revoked", named=self.to_revoke)
        # Revocation is final.
        p = self.cli.run("enable", self.to_revoke["id"], expect=1)
        self.assertIn("revoked", p.stderr)
        print(f"\nrevocation seen after {took:.2f}s")

    def test_created_while_running_within_two_seconds(self):
        fresh = self.cli.create("late-comer", scopes=["reports:read"])
        took = self.wait_status("/v1/reports", fresh["key"], 200, timeout=2.0)
        self.assertEqual(self.get("/v1/reports", fresh["key"]).echo().header("X-Client-Id"),
                         "late-comer")
        print(f"\nnew key usable after {took:.2f}s")

    def test_expired(self):
        wait_until(lambda: time.time() > self.expiry + 0.1, 10, message="the key to expire")
        self.check_401(self.expiring["key"], "expired_credential", "API key has expired",
                       named=self.expiring)

    # 403 -----------------------------------------------------------------------------------------

    def test_route_not_allowed(self):
        self.assertEqual(self.get("/v1/reports", self.reports_only["key"]).status, 200)
        r = self.get("/v1/other", self.reports_only["key"])
        body = self.assert_denied(r, 403, "route_not_allowed", "API key may not be used on this route",
                                  named=self.reports_only)
        self.assertEqual(body["error"], "insufficient_scope")

    def test_source_not_allowed(self):
        r = self.get("/v1/reports", self.ten_net["key"])
        self.assert_denied(r, 403, "source_not_allowed", "API key may not be used from this address",
                           named=self.ten_net)
        self.assertEqual(self.get("/v1/reports", self.loopback["key"]).status, 200)

    def test_missing_scope(self):
        r = self.get("/v1/reports", self.no_scope["key"])
        self.assert_denied(r, 403, "insufficient_scope", None, named=self.no_scope)
        self.assertIn('scope="reports:read"', r.header("WWW-Authenticate") or "")
        # The same key is fine where no scope is required.
        self.assertEqual(self.get("/v1/other", self.no_scope["key"]).status, 200)

    def test_failure_reasons_are_metric_labels(self):
        self.get("/v1/reports", make_key(self.partner["id"], random_b62(43)))
        samples = parse_prometheus(self.gateway.metrics())
        reasons = {labels.get("reason") for name, labels, _ in samples
                   if name == "portcullis_auth_failures_total"}
        self.assertIn("invalid_credential", reasons)
        up = [v for name, _, v in samples if name == "portcullis_api_key_store_up"]
        self.assertEqual(up, [1.0])

    # Rotation ------------------------------------------------------------------------------------

    def test_rotation_two_active_keys_then_the_old_one_expires(self):
        old = self.cli.create("rotating", scopes=["reports:read"], routes=["reports"],
                              cidrs=["127.0.0.0/8"], label="v1")
        self.wait_status("/v1/reports", old["key"], 200)
        new = self.cli.rotate("rotating", "3s")
        self.assertEqual(new["scopes"], ["reports:read"])
        self.assertEqual(new["routes"], ["reports"])
        self.assertEqual(new["cidrs"], ["127.0.0.0/8"])
        self.assertEqual([e["id"] for e in new["expiring"]], [old["id"]])
        old_expiry = parse_rfc3339(new["expiring"][0]["expires_at"])
        self.wait_status("/v1/reports", new["key"], 200)
        # Both work during the grace period.
        self.assertEqual(self.get("/v1/reports", old["key"]).status, 200)
        self.assertEqual(self.get("/v1/reports", new["key"]).echo().header("X-Client-Id"), "rotating")
        listed = {k["id"]: k for k in self.cli.list("rotating")}
        self.assertEqual(listed[old["id"]]["status"], "active")
        self.assertEqual(listed[new["id"]]["status"], "active")
        wait_until(lambda: time.time() > old_expiry + 0.1, 10, message="the grace period to end")
        self.check_401(old["key"], "expired_credential", "API key has expired")
        self.assertEqual(self.get("/v1/reports", new["key"]).status, 200)
        listed = {k["id"]: k for k in self.cli.list("rotating")}
        self.assertEqual(listed[old["id"]]["status"], "expired")

    # CLI -----------------------------------------------------------------------------------------

    def test_cli_list_never_shows_secrets_and_records_last_use(self):
        key = self.partner["key"]
        self.assertEqual(self.get("/v1/reports", key).status, 200)
        p = self.cli.run("list")
        self.assertIn(self.partner["id"], p.stdout)
        self.assertNotIn(key[17:60], p.stdout + p.stderr)

        def used():
            rows = {k["id"]: k for k in self.cli.list("partner-123")}
            return rows[self.partner["id"]]["last_used_at"]
        stamp = wait_until(used, 10, interval=0.5, message="last_used_at to be written")
        self.assertLessEqual(abs(parse_rfc3339(stamp) - time.time()), 30)

    def test_cli_errors(self):
        """Exit 1 when the command ran and failed, 2 when the command line is wrong
        (docs/operations.md: the exit codes)."""
        p = self.cli.run("disable", "nosuchkey123", expect=1)
        self.assertIn("no key with id nosuchkey123", p.stderr)
        p = self.cli.run("revoke", self.partner["key"], expect=2)
        self.assertIn("not the key itself", p.stderr)
        self.assertNotIn(self.partner["key"][17:60], p.stderr + p.stdout)
        p = self.cli.run("create", "--client", "x", "--expires", "2001-01-01T00:00:00Z", expect=2)
        self.assertIn("in the past", p.stderr)
        p = self.cli.run("create", "--client", "x", "--allow-cidr", "10.0.0.1/8", expect=2)
        self.assertIn("did you mean 10.0.0.0/8", p.stderr)
        p = self.cli.run("rotate", "--client", "nobody-at-all", expect=1)
        self.assertIn("no active key", p.stderr)
        p = subprocess.run([gateway_bin(), "keys", "list"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("name the key store", p.stderr)
        # CLI11's own refusals: 2, not its 106/109/114.
        p = self.cli.run("create", expect=2)  # --client is required
        self.assertIn("--client", p.stderr)
        p = self.cli.run("list", "--colour", expect=2)
        self.assertIn("--colour", p.stderr)
        # A different pepper is refused rather than making keys that never verify.
        env = dict(os.environ, PORTCULLIS_KEY_PEPPER=secrets.token_urlsafe(32))
        p = subprocess.run([gateway_bin(), "keys", "create", "--client", "x", "--store",
                            f"sqlite://{self.cli.store_path}"], capture_output=True, text=True,
                           env=env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("pepper differs", p.stderr)

    def test_cli_needs_the_pepper_only_to_create_and_rotate(self):
        """`--store` without PORTCULLIS_KEY_PEPPER: list, disable, enable and revoke work (they
        never hash a secret); create and rotate fail with exit 1, naming the variable."""
        victim = self.cli.create("pepperless", scopes=["reports:read"])
        env = {k: v for k, v in os.environ.items() if k != "PORTCULLIS_KEY_PEPPER"}
        store = ["--store", f"sqlite://{self.cli.store_path}"]

        def keys(*args):
            p = subprocess.run([gateway_bin(), "keys", *args, *store], capture_output=True,
                               text=True, env=env, timeout=30)
            self.cli.outputs.append(p.stdout + p.stderr)
            return p

        p = keys("list", "--client", "pepperless", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([k["id"] for k in json.loads(p.stdout)], [victim["id"]])
        for command, status in (("disable", "disabled"), ("enable", "active"),
                                ("revoke", "revoked")):
            p = keys(command, victim["id"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(f"-> {status}", p.stdout)
        for args in (("create", "--client", "pepperless"), ("rotate", "--client", "partner-123")):
            p = keys(*args)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("create and rotate need the pepper: set PORTCULLIS_KEY_PEPPER",
                          p.stderr)
            self.assertEqual(p.stdout, "")

    def test_no_key_or_secret_anywhere(self):
        # Independent of test order: every key the CLI has shown so far, and a forged one,
        # passes through the gateway here; the scan starts once the last request is logged.
        forged = [make_key(self.partner["id"], random_b62(43))]
        for key in list(self.cli.shown) + forged:
            r = self.get("/v1/reports", key)
        self.gateway.wait_for_access_log(r.header("X-Request-Id"))
        self.assert_no_key_material(self.gateway, self.cli, forged)


class ApiKeyIpv6Test(ApiKeyTestBase):
    """The gateway on [::1]; keys bound to IPv6 and IPv4 blocks."""

    @classmethod
    def make_keys(cls) -> None:
        c = cls.cli
        cls.v6_loopback = c.create("v6", scopes=["reports:read"], cidrs=["::1/128"])
        cls.v6_other = c.create("v6-other", scopes=["reports:read"], cidrs=["2001:db8::/32"])
        cls.v4_only = c.create("v4", scopes=["reports:read"], cidrs=["127.0.0.0/8"])
        cls.anywhere = c.create("any", scopes=["reports:read"])

    @classmethod
    def make_gateway(cls, config: dict) -> Gateway:
        return Ipv6Gateway(config, cls.workdir)

    def test_ipv6_cidrs(self):
        r = self.get("/v1/reports", self.v6_loopback["key"])
        self.assertEqual(r.status, 200, str(r))
        log = self.gateway.wait_for_access_log(r.header("X-Request-Id"))
        self.assertEqual(log["client_ip"], "::1")
        for key in (self.v6_other, self.v4_only):
            r = self.get("/v1/reports", key["key"])
            self.assert_denied(r, 403, "source_not_allowed", "API key may not be used from this address",
                               named=key)
        self.assertEqual(self.get("/v1/reports", self.anywhere["key"]).status, 200)


class Ipv6Gateway(Gateway):
    def with_ports(self, config: dict) -> dict:
        cfg = super().with_ports(config)
        cfg["server"]["listen"] = f"[::1]:{self.port}"
        return cfg

    def connect(self, timeout: float = 10.0) -> RawConnection:
        return RawConnection(self.port, host="::1", timeout=timeout)

    def start(self, timeout: float = 15.0) -> None:
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([gateway_bin(), "run", "-c", self.config_path],
                                     stdout=self._stdout, stderr=self._stderr)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited during start:\n" + self.output()[-4000:])
            try:
                with socket.create_connection(("::1", self.port), timeout=1):
                    pass
                return self.admin_get("/readyz", timeout=2).status == 200
            except OSError:
                return False

        wait_until(ready, timeout, interval=0.05, message="gateway on [::1] to be ready")


class ApiKeyStoreVanishesTest(ApiKeyTestBase):
    """The key store is deleted, replaced by garbage and restored while the gateway serves."""

    @classmethod
    def make_keys(cls) -> None:
        cls.key = cls.cli.create("survivor", scopes=["reports:read"])

    def store_metrics(self) -> dict:
        samples = parse_prometheus(self.gateway.metrics())
        return {name: v for name, _, v in samples if name.startswith("portcullis_api_key")}

    def test_store_vanishing_while_serving(self):
        key = self.key["key"]
        store = self.cli.store_path
        self.assertEqual(self.get("/v1/reports", key).status, 200)
        backup = os.path.join(self.workdir, "backup.db")
        with sqlite3.connect(store) as src, sqlite3.connect(backup) as dst:
            src.backup(dst)

        # 1. Deleted.
        mark = self.gateway.output_mark()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(store + suffix):
                os.remove(store + suffix)
        self.gateway.wait_for_output(r"key store unavailable.*No such file", timeout=3, since=mark)
        for _ in range(5):
            self.assertEqual(self.get("/v1/reports", key).status, 200)
        m = self.store_metrics()
        self.assertEqual(m.get("portcullis_api_key_store_up"), 0.0)
        self.assertGreaterEqual(m.get("portcullis_api_key_store_errors_total", 0), 1)
        self.assertFalse(os.path.exists(store), "the gateway must not recreate an empty store")
        # /readyz says so (the keys last read still serve, but changes are not seen).
        r = self.gateway.admin_get("/readyz")
        self.assertEqual(r.status, 503, str(r))
        self.assertEqual(json.loads(r.body), {"ready": False, "not_ready": [
            {"dependency": "api_keys", "reason": "key store unreadable", "gating": True}]})
        # Logged once per change of state, not once per poll.
        time.sleep(2.5)
        self.assertEqual(len([ln for ln in self.gateway.output_since(mark).splitlines()
                              if "key store unavailable" in ln]), 1)
        self.assertGreaterEqual(self.store_metrics()["portcullis_api_key_store_errors_total"], 2)
        self.assertEqual(self.gateway.admin_get("/healthz").status, 200)

        # 2. Restored from the backup.
        mark = self.gateway.output_mark()
        shutil.copy(backup, store + ".tmp")
        os.replace(store + ".tmp", store)
        self.gateway.wait_for_output(r"readable again", timeout=3, since=mark)
        self.assertEqual(self.store_metrics()["portcullis_api_key_store_up"], 1.0)
        r = self.gateway.admin_get("/readyz")
        self.assertEqual((r.status, json.loads(r.body)), (200, {"ready": True}))
        fresh = self.cli.create("after-restore", scopes=["reports:read"])
        self.wait_status("/v1/reports", fresh["key"], 200)

        # 3. Garbage in its place.
        mark = self.gateway.output_mark()
        with open(store + ".tmp", "wb") as f:
            f.write(b"this is not a database " * 100)
        os.replace(store + ".tmp", store)
        self.gateway.wait_for_output(r"key store unavailable", timeout=3, since=mark)
        self.assertEqual(self.get("/v1/reports", key).status, 200)
        self.assertEqual(self.get("/v1/reports", fresh["key"]).status, 200)

        # 4. Back again, without the key made after the backup: the view follows the store.
        mark = self.gateway.output_mark()
        shutil.copy(backup, store + ".tmp")
        os.replace(store + ".tmp", store)
        self.gateway.wait_for_output(r"readable again", timeout=3, since=mark)
        self.assertEqual(self.get("/v1/reports", key).status, 200)
        self.assert_denied(self.get("/v1/reports", fresh["key"]), 401, "unknown_credential",
                           "unknown API key")
        self.assert_no_key_material(self.gateway, self.cli)


class ApiKeyConfigTest(unittest.TestCase):
    """`portcullis check` on api_keys sections."""

    def check(self, text: str, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "gw.yaml")
            with open(path, "w") as f:
                f.write(text)
            return subprocess.run([gateway_bin(), "check", "-c", path], capture_output=True,
                                  text=True, env=dict(os.environ, **(env or {})))

    ROUTES = ("upstreams:\n  reports: { url: \"http://127.0.0.1:9\" }\nroutes:\n"
              "  - { name: reports, match: { path_prefix: /v1/reports }, upstream: reports, "
              "auth: [api_key] }\n")

    def test_missing_pepper_is_an_error_at_its_line(self):
        p = self.check("api_keys:\n  store: sqlite:keys.db\n  pepper: ${PC_IT_NO_SUCH_VAR}\n"
                       + self.ROUTES)
        self.assertEqual(p.returncode, 1)
        self.assertIn("gw.yaml:3:11: api_keys.pepper: environment variable 'PC_IT_NO_SUCH_VAR' "
                      "is not set", p.stderr)

    def test_api_key_route_without_the_section(self):
        p = self.check(self.ROUTES)
        self.assertEqual(p.returncode, 1)
        self.assertIn("auth method 'api_key' is not available (no api_keys configured)", p.stderr)

    def test_pepper_from_a_file(self):
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".pepper", delete=False) as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        try:
            p = self.check(f"api_keys:\n  store: sqlite:keys.db\n  pepper: file:{f.name}\n"
                           + self.ROUTES)
            self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            os.remove(f.name)


if __name__ == "__main__":
    unittest.main()
