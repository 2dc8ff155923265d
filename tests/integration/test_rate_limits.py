"""Rate limits end to end through the running gateway (issue 13, local store): exact counts
at the boundary, window roll-over, several limits on one route, per-client isolation, the
failed-auth shield, the RateLimit header fields on 200/401/429 (the upstream's own copies
replaced), Retry-After, the access log and metrics, counters kept across SIGHUP and a daily
quota kept across a restart.

Every test speaks as its own client address (server.trusted_proxies: 127.0.0.1 with
X-Forwarded-For), so ip-keyed limits never mix between tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import unittest

from harness import (Echo, Gateway, base_config, build_request, parse_prometheus, route,
                     wait_until)
from test_api_keys import KeysCli, PEPPER  # noqa: F401  (PEPPER: the module sets the env)


def limited_config(echo: Echo) -> dict:
    cfg = base_config(echo.port, routes=[
        route("exact", path_prefix="/exact", auth=["api_key"], rate_limits=["exact"]),
        route("roll", path_prefix="/roll", rate_limits=["roll"]),
        route("multi", path_prefix="/multi", auth=["api_key"],
              rate_limits=["multi-client", "multi-ip", "multi-route"]),
        route("shield", path_prefix="/shield", auth=["api_key"], rate_limits=["shield"]),
        route("hdr", path_prefix="/hdr", auth=["api_key"], rate_limits=["hdr", "hidden"]),
        route("hidden", path_prefix="/hidden", rate_limits=["hidden"]),
        route("reload", path_prefix="/reload", rate_limits=["reload-q"]),
        route("scoped", path_prefix="/scoped", auth=["api_key"], require_scopes=["nope"],
              rate_limits=["scoped"]),
        route("same-open", path_prefix="/same-open", rate_limits=["same"]),
        route("same-auth", path_prefix="/same-auth", auth=["api_key"], rate_limits=["same"]),
        route("open", path_prefix="/open"),
    ], server={"trusted_proxies": ["127.0.0.1"]})
    cfg["api_keys"] = {"header": "X-API-Key", "store": "sqlite:keys.db",
                       "pepper": "${PORTCULLIS_KEY_PEPPER}", "poll_interval_ms": 1000}
    cfg["rate_limits"] = {
        "exact": {"requests": 5, "per": "1h", "key": "client_id"},
        "roll": {"requests": 2, "per": "2s", "key": "ip"},
        "multi-client": {"requests": 4, "per": "1h", "key": "client_id"},
        "multi-ip": {"requests": 3, "per": "1h", "key": "ip"},
        "multi-route": {"requests": 100, "per": "1h", "key": "route"},
        "shield": {"requests": 10, "per": "1h", "key": "ip", "count": "failed_auth"},
        "hdr": {"requests": 2, "per": "1h", "key": "client_id"},
        "hidden": {"requests": 50, "per": "1h", "key": "ip", "headers": False},
        "reload-q": {"requests": 2, "per": "1h", "key": "ip"},
        "scoped": {"requests": 7, "per": "1h", "key": "client_id"},
        "same": {"requests": 3, "per": "1h", "key": "ip"},
    }
    return cfg


def bad_key(n: int) -> str:
    return f"ptk_bad{n:05d}_" + "x" * 43


class RateLimitBase(unittest.TestCase):
    workdir: str
    echo: Echo
    gateway: Gateway
    cli: KeysCli

    @classmethod
    def setUpClass(cls) -> None:
        cls.workdir = tempfile.mkdtemp(prefix=f"portcullis-{cls.__name__}-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cls.cli = KeysCli(os.path.join(cls.workdir, "keys.db"))
        cls.keys = {c: cls.cli.create(c)["key"] for c in ("alice", "bob", "carol", "dave")}
        cls.gateway = Gateway(limited_config(cls.echo), cls.workdir)
        cls.addClassCleanup(cls.gateway.kill)
        cls.gateway.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.gateway.stop()

    def send(self, target: str, ip: str, key: str | None = None, headers=()):
        h = [("X-Forwarded-For", ip), *headers]
        if key is not None:
            h.append(("X-API-Key", key))
        return self.gateway.request("GET", target, h)

    def assert_limited(self, r, limit: str) -> dict:
        self.assertEqual(r.status, 429, str(r))
        body = r.json()
        self.assertEqual(body["error"], "rate_limited")
        self.assertTrue(body["request_id"])
        retry = int(r.header("Retry-After"))
        self.assertGreaterEqual(retry, 1)
        entry = self.gateway.wait_for_access_log(body["request_id"])
        self.assertEqual(entry["status"], 429)
        self.assertEqual(entry["rate_limit"], limit)
        self.assertEqual(entry["reason"], "rate_limited")
        return body


class LocalRateLimitTest(RateLimitBase):

    def test_exact_count_at_the_boundary_and_clients_count_apart(self):
        for i in range(5):
            r = self.send("/exact/x", "198.51.100.10", self.keys["alice"])
            self.assertEqual(r.status, 200, f"request {i + 1}: {r}")
            self.assertEqual(r.header("RateLimit-Policy"), '"exact";q=5;w=3600')
            self.assertRegex(r.header("RateLimit"), rf'^"exact";r={4 - i};t=\d+$')
        r = self.send("/exact/x", "198.51.100.10", self.keys["alice"])
        self.assert_limited(r, "exact")
        self.assertRegex(r.header("RateLimit"), r'^"exact";r=0;t=\d+$')
        # Another client, even from the same address, has its own budget.
        r = self.send("/exact/x", "198.51.100.10", self.keys["bob"])
        self.assertEqual(r.status, 200, str(r))
        self.assertRegex(r.header("RateLimit"), r'^"exact";r=4;t=\d+$')

    def test_window_rolls_over(self):
        ip = "198.51.100.20"
        # Start just after a window edge (2 s windows aligned to the epoch).
        wait_until(lambda: time.time() % 2 < 0.3, 3, interval=0.01, message="a window edge")
        self.assertEqual(self.send("/roll", ip).status, 200)
        self.assertEqual(self.send("/roll", ip).status, 200)
        r = self.send("/roll", ip)
        self.assert_limited(r, "roll")
        self.assertLessEqual(int(r.header("Retry-After")), 2)
        time.sleep(2 - time.time() % 2 + 0.05)  # into the next window
        r = self.send("/roll", ip)
        self.assertEqual(r.status, 200, str(r))
        self.assertRegex(r.header("RateLimit"), r'^"roll";r=1;t=[12]$')

    def test_several_limits_all_must_admit_and_all_are_shown(self):
        ip = "198.51.100.30"
        for i in range(3):
            r = self.send("/multi/a", ip, self.keys["carol"])
            self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.header("RateLimit-Policy"),
                         '"multi-ip";q=3;w=3600, "multi-route";q=100;w=3600, '
                         '"multi-client";q=4;w=3600')
        self.assertRegex(r.header("RateLimit"),
                         r'^"multi-ip";r=0;t=\d+, "multi-route";r=97;t=\d+, '
                         r'"multi-client";r=1;t=\d+$')
        # The per-ip limit is spent: refused before authentication; nothing is taken.
        self.assert_limited(self.send("/multi/a", ip, self.keys["carol"]), "multi-ip")
        # From another address carol has one request left, then her client limit refuses.
        self.assertEqual(self.send("/multi/a", "198.51.100.31", self.keys["carol"]).status, 200)
        r = self.send("/multi/a", "198.51.100.32", self.keys["carol"])
        self.assert_limited(r, "multi-client")
        # The route-wide budget is judged before authentication: it counted the 3 + 1
        # admitted requests and carol's last one, refused after authentication.
        self.assertRegex(r.header("RateLimit"), r'"multi-route";r=95;')

    def test_failed_auth_shield(self):
        attacker, other = "198.51.100.40", "198.51.100.41"
        for i in range(10):
            r = self.send("/shield/x", attacker, bad_key(i))
            self.assertEqual(r.status, 401, f"guess {i + 1}: {r}")
            self.assertRegex(r.header("RateLimit"), rf'^"shield";r={9 - i};t=\d+$')
        # The 11th from that address is refused before the credential is looked at, even a
        # valid one.
        r = self.send("/shield/x", attacker, self.keys["dave"])
        self.assert_limited(r, "shield")
        self.assertIsNone(r.header("WWW-Authenticate"))
        # Another address is not affected; successes do not count.
        for _ in range(12):
            self.assertEqual(self.send("/shield/x", other, self.keys["dave"]).status, 200)

    def test_upstream_ratelimit_fields_are_replaced_and_hidden_limits_not_shown(self):
        ip = "198.51.100.50"
        r = self.send("/hdr/a", ip, self.keys["bob"],
                      [("X-Echo-Set-Header", "RateLimit: \"upstream\";r=999;t=1"),
                       ("X-Echo-Set-Header", "RateLimit-Policy: \"upstream\";q=1000;w=1")])
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.header_all("RateLimit"), [r.header("RateLimit")])
        self.assertRegex(r.header("RateLimit"), r'^"hdr";r=1;t=\d+$')
        self.assertEqual(r.header("RateLimit-Policy"), '"hdr";q=2;w=3600')  # not "hidden"
        # On a route whose only limit is hidden, the gateway writes none and keeps the
        # upstream's.
        r = self.send("/hidden/a", ip, None, [("X-Echo-Set-Header", "RateLimit: \"up\";r=5;t=1")])
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.header("RateLimit"), '"up";r=5;t=1')
        self.assertIsNone(r.header("RateLimit-Policy"))
        # 401 on a limited route carries the fields of the limits judged so far.
        r = self.send("/hdr/a", ip, bad_key(77))
        self.assertEqual(r.status, 401, str(r))
        self.assertIsNone(r.header("RateLimit"))  # hdr is judged after authentication
        self.assertEqual(self.send("/hdr/a", ip, self.keys["bob"]).status, 200)
        r = self.send("/hdr/a", ip, self.keys["bob"])
        self.assert_limited(r, "hdr")
        self.assertEqual(r.header("RateLimit-Policy"), '"hdr";q=2;w=3600')
        self.assertEqual(r.header("Cache-Control"), "no-store")
        # A route without limits carries no fields.
        self.assertIsNone(self.send("/open", ip).header("RateLimit-Policy"))

    def test_the_inline_path_and_the_authenticated_path_answer_alike(self):
        # /same-open has no authentication: its limit is judged inline, without suspending the
        # request (admit_limited_now); /same-auth goes through authentication (admit_limited).
        # One limit, one budget: both count into it and answer it alike, on one keep-alive
        # connection whose buffers are reused from request to request.
        ip, longer, shorter = "198.51.100.90", "2001:db8:ffff:ffff:ffff:ffff:ffff:90", "10.0.0.9"

        def get(conn, path, addr, key=None):
            h = [("X-Forwarded-For", addr)] + ([("X-API-Key", key)] if key else [])
            conn.send(build_request("GET", path, h))
            return conn.read_response("GET", 10)

        with self.gateway.connect() as c:
            for i, path in enumerate(("/same-open/a", "/same-auth/a", "/same-open/b")):
                r = get(c, path, ip, self.keys["alice"] if "auth" in path else None)
                self.assertEqual(r.status, 200, f"{path}: {r}")
                self.assertEqual(r.header("RateLimit-Policy"), '"same";q=3;w=3600')
                self.assertRegex(r.header("RateLimit"), rf'^"same";r={2 - i};t=\d+$')
            refused = [get(c, "/same-auth/a", ip, self.keys["alice"]), get(c, "/same-open/a", ip)]
            for r in refused:
                self.assert_limited(r, "same")
                self.assertEqual(r.header("RateLimit-Policy"), '"same";q=3;w=3600')
                self.assertRegex(r.header("RateLimit"), r'^"same";r=0;t=\d+$')
                self.assertEqual(r.header("Cache-Control"), "no-store")
            self.assertEqual(sorted(h.lower() for h, _ in refused[0].headers if h != "Date"),
                             sorted(h.lower() for h, _ in refused[1].headers if h != "Date"))
            # Other clients on the same connection (longer, then shorter keys than the last):
            # their own budgets, from the first request.
            for addr in (longer, shorter):
                r = get(c, "/same-open/a", addr)
                self.assertEqual(r.status, 200, f"{addr}: {r}")
                self.assertRegex(r.header("RateLimit"), r'^"same";r=2;t=\d+$')
            self.assertRegex(get(c, "/same-auth/a", longer, self.keys["bob"]).header("RateLimit"),
                             r'^"same";r=1;t=\d+$')
            self.assert_limited(get(c, "/same-open/a", ip), "same")

    def test_a_403_shows_the_callers_limits_without_spending_them(self):
        for _ in range(2):
            r = self.send("/scoped/a", "198.51.100.80", self.keys["alice"])
            self.assertEqual(r.status, 403, str(r))
            self.assertEqual(r.header("RateLimit-Policy"), '"scoped";q=7;w=3600')
            self.assertRegex(r.header("RateLimit"), r'^"scoped";r=7;t=\d+$')

    def test_metrics_count_per_limit_name_never_per_client(self):
        ip = "198.51.100.60"
        self.send("/hidden/m", ip)
        samples = parse_prometheus(self.gateway.metrics())
        series = [(labels, v) for name, labels, v in samples
                  if name == "portcullis_rate_limit_requests_total"]
        self.assertTrue(any(l == {"limit": "hidden", "result": "admitted"} and v >= 1
                            for l, v in series), series)
        for labels, _ in series:
            self.assertEqual(set(labels), {"limit", "result"})
        self.assertTrue(any(name == "portcullis_rate_limit_keys" and v >= 1
                            for name, _, v in samples))

    def test_sighup_keeps_counters(self):
        ip = "198.51.100.70"
        self.assertEqual(self.send("/reload", ip).status, 200)
        self.assertEqual(self.send("/reload", ip).status, 200)
        self.assert_limited(self.send("/reload", ip), "reload-q")
        mark = self.gateway.output_mark()
        cfg = limited_config(self.echo)
        cfg["routes"].append(route("extra", path_prefix="/extra"))
        self.gateway.write_config(cfg)
        self.gateway.reload()
        self.gateway.wait_for_output(r"configuration reloaded", since=mark)
        self.assertEqual(self.send("/extra", ip).status, 200)  # the new config is in force
        self.assert_limited(self.send("/reload", ip), "reload-q")


class RestartKeepsDailyQuotaTest(unittest.TestCase):

    def test_daily_quota_survives_a_restart(self):
        workdir = tempfile.mkdtemp(prefix="portcullis-rl-restart-")
        self.addCleanup(shutil.rmtree, workdir, True)
        echo = Echo(workdir)
        self.addCleanup(echo.stop)
        cli = KeysCli(os.path.join(workdir, "keys.db"))
        key = cli.create("quota-client")["key"]
        cfg = base_config(echo.port, routes=[
            route("daily", path_prefix="/daily", auth=["api_key"], rate_limits=["daily"])])
        cfg["api_keys"] = {"store": "sqlite:keys.db", "pepper": "${PORTCULLIS_KEY_PEPPER}"}
        cfg["rate_limits"] = {"daily": {"requests": 3, "per": "1d", "key": "client_id"}}

        first = Gateway(cfg, workdir)
        self.addCleanup(first.kill)
        first.start()
        for _ in range(2):
            self.assertEqual(first.request("GET", "/daily", [("X-API-Key", key)]).status, 200)
        first.stop()  # saved at shutdown, beside the key store
        self.assertTrue(os.path.exists(os.path.join(workdir, "ratelimit-state.db")))

        second = Gateway(cfg, workdir)
        self.addCleanup(second.kill)
        second.start()
        r = second.request("GET", "/daily", [("X-API-Key", key)])
        self.assertEqual(r.status, 200, str(r))
        self.assertRegex(r.header("RateLimit"), r'^"daily";r=0;t=\d+$')
        self.assertEqual(second.request("GET", "/daily", [("X-API-Key", key)]).status, 429)
        second.stop()


class RateLimitConfigErrorsTest(unittest.TestCase):

    def test_check_reports_a_route_naming_an_unknown_limit(self):
        import subprocess
        from harness import gateway_bin, line_of, to_yaml
        workdir = tempfile.mkdtemp(prefix="portcullis-rl-check-")
        self.addCleanup(shutil.rmtree, workdir, True)
        cfg = base_config(1, routes=[route("r", path_prefix="/r", rate_limits=["per_ip"])])
        cfg["rate_limits"] = {"per-ip": {"requests": 20, "per": "1s", "key": "ip"}}
        text = to_yaml(cfg)
        path = os.path.join(workdir, "bad.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([gateway_bin(), "check", "-c", path], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        line = line_of(text, '"per_ip"')
        self.assertRegex(p.stderr, rf"{path}:{line}:\d+: rate limit 'per_ip' is not defined in "
                                   r"rate_limits \(did you mean 'per-ip'\?\)")


if __name__ == "__main__":
    unittest.main()
