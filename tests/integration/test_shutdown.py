"""Graceful shutdown on SIGTERM: with server.drain_delay_s 0 the listener closes at once;
with a delay /readyz fails first while connections are still accepted and served. Requests
in flight finish, and the process exits 0."""

import json
import shutil
import socket
import tempfile
import threading
import time
import unittest

from harness import Echo, Gateway, base_config, build_request, parse_prometheus, wait_until

SLOW_MS = 2000  # long enough to watch the listener close while the request is in flight


class ShutdownTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-shutdown-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)

    def setUp(self):
        # A gateway per test: each test ends it.
        # drain_delay_s 0 (base_config): these tests assert the listener closes at once.
        self.gateway = Gateway(base_config(self.echo.port, server={"drain_timeout_s": 10}),
                               tempfile.mkdtemp(dir=self.workdir))
        self.addCleanup(self.gateway.kill)
        self.gateway.start()

    def in_flight(self) -> float:
        samples = parse_prometheus(self.gateway.metrics())
        return sum(v for name, _, v in samples if name == "portcullis_requests_in_flight")

    def connection_refused(self):
        try:
            with socket.create_connection(("127.0.0.1", self.gateway.port), timeout=0.5):
                return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False

    def test_in_flight_request_completes_and_exit_code_is_zero(self):
        """A slow request in flight when SIGTERM arrives still gets its 200; meanwhile new
        connections are refused; then the gateway exits 0."""
        result = {}
        sent = threading.Event()

        def slow_request():
            try:
                with self.gateway.connect(timeout=15) as c:
                    c.send(build_request("GET", "/echo/slow", [("X-Echo-Delay-Ms", str(SLOW_MS))]))
                    sent.set()
                    result["response"] = c.read_response(timeout=15)
                    result["done_at"] = time.monotonic()
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                result["error"] = e
                sent.set()

        t = threading.Thread(target=slow_request)
        start = time.monotonic()
        t.start()
        self.assertTrue(sent.wait(5))
        # The request must be inside the gateway before SIGTERM: the in-flight gauge says so.
        wait_until(lambda: self.in_flight() >= 1, 2, message="the slow request to be in flight")
        self.gateway.terminate()
        wait_until(self.connection_refused, 1.5, message="listener to close after SIGTERM")
        refused_at = time.monotonic()
        t.join(15)
        self.assertNotIn("error", result, f"in-flight request failed: {result.get('error')!r}")
        r = result["response"]
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().path, "/echo/slow")
        self.assertLess(refused_at, result["done_at"],
                        "new connections were still accepted while the request was in flight")
        self.assertGreaterEqual(result["done_at"] - start, SLOW_MS / 1000)
        self.assertEqual(self.gateway.wait_exit(10), 0, self.gateway.output()[-2000:])

    def test_idle_gateway_exits_zero_promptly(self):
        """With nothing in flight (an idle keep-alive connection open) SIGTERM ends the
        process quickly with exit code 0."""
        with self.gateway.connect() as c:
            c.send(build_request("GET", "/echo/idle"))
            self.assertEqual(c.read_response().status, 200)
            start = time.monotonic()
            self.gateway.terminate()
            rc = self.gateway.wait_exit(8)
            self.assertEqual(rc, 0, self.gateway.output()[-2000:])
            self.assertLess(time.monotonic() - start, 5, "idle keep-alive connection delayed exit")
            self.assertTrue(c.peer_closed(2), "idle connection left open after exit")


class LameDuckTest(unittest.TestCase):
    """server.drain_delay_s: on SIGTERM /readyz turns 503 at once while the listener keeps
    accepting and serving, so a load balancer can stop sending first."""

    DELAY_S = 3

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-lameduck-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)

    def start_gateway(self, server: dict) -> Gateway:
        g = Gateway(base_config(self.echo.port, server=server), tempfile.mkdtemp(dir=self.workdir))
        self.addCleanup(g.kill)
        g.start()
        return g

    def test_readyz_fails_while_new_connections_are_still_served(self):
        g = self.start_gateway({"drain_delay_s": self.DELAY_S, "drain_timeout_s": 5})
        self.assertEqual(g.admin_get("/readyz").status, 200)
        start = time.monotonic()
        g.terminate()
        wait_until(lambda: g.admin_get("/readyz").status == 503, 1,
                   message="/readyz to turn 503 right after SIGTERM")
        # A new connection during the delay is accepted and served, keep-alive intact.
        with g.connect() as c:
            c.send(build_request("GET", "/echo/lame-duck"))
            r = c.read_response()
            self.assertEqual(r.status, 200, str(r))
            self.assertEqual(r.echo().path, "/echo/lame-duck")
        self.assertLess(time.monotonic() - start, self.DELAY_S,
                        "the request was not served within the delay")
        r = g.admin_get("/readyz")
        self.assertEqual(r.status, 503)
        self.assertEqual(json.loads(r.body), {"ready": False, "not_ready": [
            {"dependency": "server", "reason": "draining", "gating": True}]})
        # After the delay the listener closes.
        wait_until(lambda: self._refused(g), self.DELAY_S + 2,
                   message="listener to close after drain_delay_s")
        self.assertGreaterEqual(time.monotonic() - start, self.DELAY_S - 0.2)
        self.assertEqual(g.wait_exit(10), 0, g.output()[-2000:])

    def test_a_second_sigterm_ends_the_delay(self):
        g = self.start_gateway({"drain_delay_s": 60, "drain_timeout_s": 5})
        g.terminate()
        wait_until(lambda: g.admin_get("/readyz").status == 503, 1,
                   message="/readyz to turn 503 right after SIGTERM")
        self.assertFalse(self._refused(g), "the listener closed during the delay")
        g.terminate()
        self.assertEqual(g.wait_exit(5), 0, g.output()[-2000:])

    def test_request_cut_at_drain_deadline_is_logged_with_a_reason(self):
        g = self.start_gateway({"drain_delay_s": 0, "drain_timeout_s": 1})
        result = {}

        def slow_request():
            try:
                with g.connect(timeout=10) as c:
                    c.send(build_request("GET", "/echo/cut", [("X-Echo-Delay-Ms", "5000"),
                                                              ("X-Request-Id", "cut-at-drain")]))
                    result["response"] = c.read_response(timeout=10)
            except Exception as e:  # noqa: BLE001 - the connection is expected to be cut
                result["error"] = e

        t = threading.Thread(target=slow_request)
        t.start()
        wait_until(lambda: sum(v for n, _, v in parse_prometheus(g.metrics())
                               if n == "portcullis_requests_in_flight") >= 1, 2,
                   message="the slow request to be in flight")
        g.terminate()
        self.assertEqual(g.wait_exit(10), 0, g.output()[-2000:])
        t.join(5)
        self.assertNotIn("response", result, "a request past the drain deadline was answered")
        entry = g.wait_for_access_log("cut-at-drain")
        self.assertEqual(entry["reason"], "drain_timeout", entry)
        self.assertEqual(entry["path"], "/echo/cut")

    @staticmethod
    def _refused(g: Gateway) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", g.port), timeout=0.5):
                return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False


if __name__ == "__main__":
    unittest.main()
