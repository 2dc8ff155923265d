"""Rate limits shared through Redis (issue 13 item 6), end to end: real gateways, the echo
upstream and a real redis-server (redis.py).

- two gateways on one Redis, the load split between them over many concurrent connections:
  a limit of 1,000 per minute admits at most 1,000 and at least 950, with far fewer Redis
  calls than requests;
- Redis stopped mid-run: on_error (local: each gateway alone; deny; allow), no request
  waiting past timeout_ms, also with a Redis that hangs; Redis back: shared again;
- the password comes from a secret reference, is used (requirepass) and never logged; a
  reload with the same store keeps the connection.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import unittest

from harness import Echo, Gateway, base_config, parse_prometheus, route, wait_until
from redis import Redis

PASSWORD_ENV = "PC_TEST_REDIS_PASSWORD"


def limited_config(echo: Echo, redis: Redis, requests: int, on_error: str = "local",
                   timeout_ms: int = 50) -> dict:
    cfg = base_config(echo.port, routes=[
        route("partner", path_prefix="/v1/partner", rate_limits=["partner-total"]),
    ], log={"access": "off"})
    cfg["rate_limits"] = {"partner-total": {"requests": requests, "per": "1m", "key": "route"}}
    cfg["rate_limit_store"] = {"url": redis.url(db=2), "password": "${" + PASSWORD_ENV + "}",
                               "timeout_ms": timeout_ms, "on_error": on_error}
    return cfg


def metric_sum(gw: Gateway, name: str, **labels) -> float:
    return sum(v for n, ls, v in parse_prometheus(gw.metrics())
               if n == name and all(ls.get(k) == w for k, w in labels.items()))


def slow_requests(gw: Gateway, route_name: str = "partner", over_s: str = "0.25") -> float:
    """Requests of the route that took longer than over_s inside the gateway (its duration
    histogram: a measurement free of the test client's own delays)."""
    total = metric_sum(gw, "portcullis_request_duration_seconds_count", route=route_name)
    fast = metric_sum(gw, "portcullis_request_duration_seconds_bucket", route=route_name,
                      le=over_s)
    return total - fast


def wait_for_fresh_window(need_s: float = 25) -> None:
    """The tests count within one minute window: start early in one."""
    left = 60 - time.time() % 60
    if left < need_s:
        time.sleep(left + 0.2)


class Load:
    """`clients` threads, each with its own keep-alive connection to one of the gateways (in
    turn), sending GETs until `total` requests were sent between them. Records each status and
    how long each request took."""

    def __init__(self, gateways: list, total: int, clients: int = 32,
                 path: str = "/v1/partner/x") -> None:
        self.gateways, self.total, self.clients, self.path = gateways, total, clients, path
        self.lock = threading.Lock()
        self.sent = 0
        self.statuses: dict = {}   # (gateway index, status) -> count
        self.slowest = 0.0
        self.errors: list = []

    def _take(self) -> bool:
        with self.lock:
            if self.sent >= self.total:
                return False
            self.sent += 1
            return True

    def _client(self, i: int) -> None:
        g = i % len(self.gateways)
        conn = None
        try:
            while self._take():
                if conn is None:
                    conn = self.gateways[g].connect()
                t0 = time.monotonic()
                conn.send(f"GET {self.path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                r = conn.read_response("GET")
                took = time.monotonic() - t0
                with self.lock:
                    self.statuses[(g, r.status)] = self.statuses.get((g, r.status), 0) + 1
                    self.slowest = max(self.slowest, took)
                if (r.header("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
        except Exception as e:  # noqa: BLE001 - reported by run()
            with self.lock:
                self.errors.append(repr(e))
        finally:
            if conn is not None:
                conn.close()

    def run(self) -> "Load":
        threads = [threading.Thread(target=self._client, args=(i,)) for i in range(self.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        if self.errors:
            raise AssertionError(f"client errors: {self.errors[:3]}")
        return self

    def count(self, status: int, gateway: int = None) -> int:
        return sum(n for (g, s), n in self.statuses.items()
                   if s == status and (gateway is None or g == gateway))


class SharedStoreTest(unittest.TestCase):
    """Two gateways on one Redis (with requirepass); each test uses its own limit size so
    the counters of one test are not those of another."""

    def setUp(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="portcullis-redis-e2e-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.password = "redis-test-" + os.urandom(8).hex()
        os.environ[PASSWORD_ENV] = self.password
        self.addCleanup(os.environ.pop, PASSWORD_ENV, None)
        self.redis = Redis(password=self.password)
        self.addCleanup(self.redis.destroy)
        self.redis.start()
        self.echo = Echo(self.workdir)
        self.addCleanup(self.echo.stop)

    def start_gateways(self, n: int, **config) -> list:
        gws = []
        for i in range(n):
            d = os.path.join(self.workdir, f"gw{i}")
            os.makedirs(d)
            gw = Gateway(limited_config(self.echo, self.redis, **config), d)
            self.addCleanup(gw.kill)
            gw.start()
            gws.append(gw)
        for gw in gws:
            wait_until(lambda: metric_sum(gw, "portcullis_rate_limit_store_up") == 1, 10,
                       message="the gateway to connect to Redis")
        return gws

    def assert_password_never_logged(self, gws: list) -> None:
        for gw in gws:
            self.assertNotIn(self.password, gw.output())

    def test_two_gateways_share_a_limit_of_1000_per_minute(self) -> None:
        gws = self.start_gateways(2, requests=1000)
        wait_for_fresh_window()
        load = Load(gws, total=1600, clients=32).run()
        admitted, refused = load.count(200), load.count(429)
        self.assertEqual(admitted + refused, 1600, load.statuses)
        self.assertLessEqual(admitted, 1000, load.statuses)
        self.assertGreaterEqual(admitted, 950, load.statuses)
        # Both gateways served part of it, from one budget.
        self.assertGreater(load.count(200, 0), 100, load.statuses)
        self.assertGreater(load.count(200, 1), 100, load.statuses)
        keys = self.redis.keys("portcullis:rl:*", db=2)
        self.assertEqual(len(keys), 1, keys)
        self.assertLessEqual(int(self.redis.command("GET", keys[0], db=2)), 1000)
        calls = sum(metric_sum(gw, "portcullis_redis_calls_total", result="ok") for gw in gws)
        self.assertLess(calls, 1600 / 10, "Redis should see far fewer calls than requests")
        self.assert_password_never_logged(gws)

    def test_redis_down_local_then_back_shared(self) -> None:
        gws = self.start_gateways(2, requests=100, on_error="local")
        wait_for_fresh_window(40)
        first = Load(gws, total=40, clients=4).run()
        self.assertEqual(first.count(200), 40, first.statuses)

        self.redis.stop()
        down = Load(gws, total=600, clients=8).run()
        # Each gateway alone: its local limiter's 100, plus what was left of its slice.
        for g in (0, 1):
            self.assertGreaterEqual(down.count(200, g), 100, down.statuses)
            self.assertLessEqual(down.count(200, g), 100 + 7, down.statuses)
        self.assertLess(down.slowest, 0.5, f"a request waited {down.slowest:.3f}s")
        for gw in gws:
            self.assertEqual(slow_requests(gw), 0, "a request took over 250 ms in the gateway")
        for gw in gws:
            self.assertGreater(metric_sum(gw, "portcullis_rate_limit_store_fallbacks_total",
                                          on_error="local"), 0)

        self.redis.start()  # empty, same port
        for gw in gws:
            wait_until(lambda: metric_sum(gw, "portcullis_rate_limit_store_up") == 1, 15,
                       message="the gateway to reconnect to Redis")
        again = Load(gws, total=300, clients=8).run()
        # The window's counter starts again from zero in the new Redis: 100 between them.
        self.assertLessEqual(again.count(200), 100, again.statuses)
        self.assertGreaterEqual(again.count(200), 95, again.statuses)
        keys = self.redis.keys("portcullis:rl:*", db=2)
        self.assertEqual(len(keys), 1, keys)
        self.assertEqual(int(self.redis.command("GET", keys[0], db=2)), 100)
        self.assert_password_never_logged(gws)

    def test_a_hung_redis_makes_no_request_wait_past_timeout_ms(self) -> None:
        gws = self.start_gateways(1, requests=160000, on_error="local", timeout_ms=50)
        wait_for_fresh_window()
        Load(gws, total=20, clients=2).run()
        self.redis.pause()  # connections stay open, nothing answers
        try:
            # A slice is 10,000: use it up so that requests need Redis again.
            hung = Load(gws, total=10400, clients=8).run()
        finally:
            self.redis.resume()
        self.assertEqual(hung.count(200), 10400, hung.statuses)
        self.assertLess(hung.slowest, 0.5, f"a request waited {hung.slowest:.3f}s")
        # timeout_ms is 50: no request took over 250 ms inside the gateway (the histogram's
        # bucket above 50 ms and 100 ms, with room for a busy test machine); without the
        # timeout they would wait for the connection to be declared dead (1 s) or forever.
        self.assertEqual(slow_requests(gws[0]), 0)
        self.assertGreater(metric_sum(gws[0], "portcullis_rate_limit_store_fallbacks_total",
                                      on_error="local"), 0)

    def test_on_error_deny_and_allow(self) -> None:
        deny, = self.start_gateways(1, requests=1000, on_error="deny")
        self.redis.stop()
        r = deny.request("GET", "/v1/partner/x")
        # The first request has no slice yet: it needs Redis, which is gone.
        self.assertEqual(r.status, 429, str(r))
        self.redis.start()
        allow_dir = os.path.join(self.workdir, "allow")
        os.makedirs(allow_dir)
        allow = Gateway(limited_config(self.echo, self.redis, requests=1000, on_error="allow"),
                        allow_dir)
        self.addCleanup(allow.kill)
        allow.start()
        self.redis.stop()
        wait_until(lambda: metric_sum(allow, "portcullis_rate_limit_store_up") == 0, 10,
                   message="the gateway to see Redis gone")
        for _ in range(3):
            self.assertEqual(allow.request("GET", "/v1/partner/x").status, 200)

    def test_wrong_password_falls_back_and_is_never_logged(self) -> None:
        os.environ[PASSWORD_ENV] = "not-the-" + self.password
        d = os.path.join(self.workdir, "wrong")
        os.makedirs(d)
        gw = Gateway(limited_config(self.echo, self.redis, requests=2, on_error="local"), d)
        self.addCleanup(gw.kill)
        gw.start()
        statuses = [gw.request("GET", "/v1/partner/x").status for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 429])  # the local limiter's 2
        gw.wait_for_output("AUTH refused", timeout=5)
        self.assertNotIn("not-the-" + self.password, gw.output())
        self.assertEqual(self.redis.keys("portcullis:rl:*", db=2), [])

    def test_the_failed_auth_shield_is_shared(self) -> None:
        os.environ.setdefault("PORTCULLIS_KEY_PEPPER", "redis-test-pepper-0123456789")
        gws = []
        for i in range(2):
            d = os.path.join(self.workdir, f"shield{i}")
            os.makedirs(d)
            cfg = base_config(self.echo.port, routes=[
                route("login", path_prefix="/login", auth=["api_key"], rate_limits=["shield"]),
            ], server={"trusted_proxies": ["127.0.0.1"]}, log={"access": "off"})
            cfg["api_keys"] = {"store": "sqlite:keys.db", "pepper": "${PORTCULLIS_KEY_PEPPER}"}
            cfg["rate_limits"] = {"shield": {"requests": 10, "per": "1h", "key": "ip",
                                             "count": "failed_auth"}}
            cfg["rate_limit_store"] = {"url": self.redis.url(db=2),
                                       "password": "${" + PASSWORD_ENV + "}"}
            gw = Gateway(cfg, d)
            self.addCleanup(gw.kill)
            gw.start()
            gws.append(gw)
        a, b = gws

        def guess(gw: Gateway, ip: str, n: int) -> int:
            key = f"ptk_bad{n:05d}_" + "x" * 43
            return gw.request("GET", "/login/x", [("X-Forwarded-For", ip),
                                                  ("X-API-Key", key)]).status

        attacker, other = "198.51.100.70", "198.51.100.71"
        self.assertEqual([guess(a, attacker, i) for i in range(10)], [401] * 10)
        self.assertEqual(guess(a, attacker, 10), 429)
        # The other gateway learns the count from Redis within about a second: refused after
        # a few probes, far fewer than the 10 failures it would need to count alone.
        probes = []
        for i in range(6):
            probes.append(guess(b, attacker, 11 + i))
            if probes[-1] == 429:
                break
            time.sleep(0.3)
        self.assertEqual(probes[-1], 429, probes)
        self.assertLessEqual(len(probes), 6, probes)
        self.assertEqual(guess(b, other, 12), 401)  # another address is not affected

    def test_reload_with_the_same_store_keeps_the_connection(self) -> None:
        gw, = self.start_gateways(1, requests=1000)
        self.assertEqual(gw.request("GET", "/v1/partner/x").status, 200)
        connects = metric_sum(gw, "portcullis_redis_connections_total", result="ok")
        gw.reload()
        wait_until(lambda: metric_sum(gw, "portcullis_config_reloads_total", result="applied"),
                   10, message="the reload")
        self.assertEqual(gw.request("GET", "/v1/partner/x").status, 200)
        self.assertEqual(metric_sum(gw, "portcullis_redis_connections_total", result="ok"),
                         connects)


if __name__ == "__main__":
    unittest.main()
