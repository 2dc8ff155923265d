"""Reload on SIGHUP: a valid new file is applied, an invalid one is reported with
FILE:LINE:COL and the old config keeps serving; in both cases requests that are flowing on
keep-alive connections during the reload all succeed."""

import re
import time
import unittest

from harness import (BackgroundTraffic, GatewayTestCase, base_config, build_request, free_port,
                     line_of, parse_prometheus, route, to_yaml, wait_until)


class ReloadTest(GatewayTestCase):

    @classmethod
    def make_config(cls, echo):
        return cls.config_with_routes(echo, [])

    @classmethod
    def config_with_routes(cls, echo, extra_routes):
        return base_config(echo.port, routes=[route("echo", path_prefix="/echo"), *extra_routes])

    def status_of(self, target):
        return self.get(target).status

    def apply_valid(self, marker):
        """Writes a valid config with a route /MARKER, reloads, and waits until it serves."""
        self.gateway.write_config(self.config_with_routes(self.echo, [route(marker, path_prefix=f"/{marker}")]))
        self.gateway.reload()
        wait_until(lambda: self.status_of(f"/{marker}/x") == 200, 10,
                   message=f"route /{marker} to appear after SIGHUP")

    def assert_traffic_clean(self, traffic):
        self.assertEqual(traffic.failures[:10], [], f"{len(traffic.failures)} requests failed during reload")
        self.assertGreater(traffic.ok, 20, "background traffic did not really flow")

    def test_valid_reload_adds_route_without_failing_requests(self):
        """A new route appears after SIGHUP while requests keep flowing without a failure."""
        self.assertEqual(self.status_of("/added/x"), 404)
        with BackgroundTraffic(self.gateway.port, "/echo/bg") as traffic:
            wait_until(lambda: traffic.count() >= 10, 10, message="background traffic to start")
            self.gateway.write_config(self.config_with_routes(self.echo, [route("added", path_prefix="/added")]))
            self.gateway.reload()
            wait_until(lambda: self.status_of("/added/x") == 200, 10, message="new route after SIGHUP")
            seen = self.get("/added/y").echo()
            self.assertEqual(seen.path, "/added/y")
            before = traffic.count()
            wait_until(lambda: traffic.count() >= before + 10, 10, message="traffic after reload")
        self.assert_traffic_clean(traffic)
        self.assertEqual(self.status_of("/echo/still"), 200)

    def test_valid_reload_removes_route(self):
        """A route removed from the file stops matching after SIGHUP."""
        self.apply_valid("temp")
        self.gateway.write_config(self.config_with_routes(self.echo, []))
        self.gateway.reload()
        wait_until(lambda: self.status_of("/temp/x") == 404, 10, message="route to disappear")
        self.assertEqual(self.status_of("/echo/x"), 200)

    def test_a_waiting_connection_serves_its_next_request_with_the_new_config(self):
        """A keep-alive connection waiting for its next request while the file is reloaded
        answers that request by the new config (a route added or removed meanwhile), however
        soon after the reload it comes."""
        self.apply_valid("gone")
        present = True
        for attempt in range(10):
            with self.gateway.connect() as conn:
                conn.send(build_request("GET", "/gone/a"))
                self.assertEqual(conn.read_response().status, 200 if present else 404)
                present = not present
                routes = [route("gone", path_prefix="/gone")] if present else []
                self.gateway.write_config(self.config_with_routes(self.echo, routes))
                self.gateway.reload()
                want = 200 if present else 404
                wait_until(lambda: self.status_of("/gone/b") == want, 10,
                           message="the reload seen by a new connection")
                conn.send(build_request("GET", "/gone/c"))
                self.assertEqual(conn.read_response().status, want, f"attempt {attempt}")

    def check_invalid_reload(self, marker, bad_text, expected_line):
        """Applies a known-good config, then the bad text under traffic; asserts the error is
        logged as FILE:LINE:COL and the good config keeps serving."""
        self.apply_valid(marker)
        with BackgroundTraffic(self.gateway.port, "/echo/bg") as traffic:
            wait_until(lambda: traffic.count() >= 10, 10, message="background traffic to start")
            mark = self.gateway.output_mark()
            self.gateway.write_config(text=bad_text)
            self.gateway.reload()
            m = self.gateway.wait_for_output(r"gateway\.yaml:(\d+):(\d+):", timeout=10, since=mark)
            before = traffic.count()
            wait_until(lambda: traffic.count() >= before + 10, 10, message="traffic after bad reload")
        self.assert_traffic_clean(traffic)
        if expected_line is not None:
            lines = {int(x) for x in re.findall(r"gateway\.yaml:(\d+):\d+:", self.gateway.output_since(mark))}
            self.assertIn(expected_line, lines,
                          f"diagnostic should point at line {expected_line}, got {m.group(0)}")
        # The previous config still serves, the broken one was not half-applied.
        self.assertEqual(self.status_of(f"/{marker}/x"), 200)
        self.assertEqual(self.status_of("/echo/x"), 200)
        self.assertEqual(self.gateway.proc.poll(), None, "gateway exited on a bad reload")

    def test_invalid_yaml_keeps_old_config(self):
        """Broken YAML: logged with FILE:LINE:COL, old routes keep serving, no request fails."""
        good = self.gateway.write_config(self.config_with_routes(
            self.echo, [route("broken", path_prefix="/broken")]))
        bad = good.replace('name: "broken"', 'name: [unclosed')
        self.assertNotEqual(bad, good)
        self.check_invalid_reload("yamlok", bad, None)
        self.assertEqual(self.status_of("/broken/x"), 404)

    def test_unknown_upstream_keeps_old_config(self):
        """A route naming an upstream that does not exist: logged with the route's line,
        old routes keep serving, no request fails."""
        text = self.gateway.write_config(self.config_with_routes(
            self.echo, [route("ghost", path_prefix="/ghost", upstream="no-such-upstream")]))
        self.check_invalid_reload("upstreamok", text, line_of(text, "no-such-upstream"))
        self.assertEqual(self.status_of("/ghost/x"), 404)

    def applied_reloads(self):
        for name, labels, value in parse_prometheus(self.gateway.metrics()):
            if name == "portcullis_config_reloads_total" and labels.get("result") == "applied":
                return int(value)
        return 0

    def reload_and_wait(self, config=None, text=None):
        """Writes the file, sends SIGHUP and waits until the reload is applied."""
        before = self.applied_reloads()
        self.gateway.write_config(config, text=text)
        self.gateway.reload()
        wait_until(lambda: self.applied_reloads() > before, 10, message="the reload to apply")

    def test_log_level_applies_on_reload(self):
        """log.level takes effect at the reload that changes it (issue 11: it was ignored)."""
        quiet = self.config_with_routes(self.echo, [])
        quiet["log"]["level"] = "warn"
        self.reload_and_wait(quiet)
        mark = self.gateway.output_mark()
        self.reload_and_wait(quiet)  # at warn, its "SIGHUP: reloading" info line is not written
        self.assertNotIn("SIGHUP: reloading", self.gateway.output_since(mark))
        self.assertNotIn("configuration reloaded", self.gateway.output_since(mark))
        mark = self.gateway.output_mark()
        self.reload_and_wait(self.config_with_routes(self.echo, []))  # back to info
        self.gateway.wait_for_output(r"configuration reloaded", since=mark)

    def test_admin_listen_change_warns_that_a_restart_is_needed(self):
        """A new admin.listen is not applied by SIGHUP: a warning says so (as for
        server.listen), and the admin listener stays where it was."""
        moved = self.gateway.with_ports(self.config_with_routes(self.echo, []))
        moved["admin"]["listen"] = f"127.0.0.1:{free_port()}"
        mark = self.gateway.output_mark()
        self.reload_and_wait(text=to_yaml(moved))
        self.gateway.wait_for_output(r"admin\.listen and admin\.enabled changes take effect "
                                     r"after a restart", since=mark)
        self.assertEqual(self.gateway.admin_get("/readyz").status, 200)
        # Back to the listener's own address: no warning.
        mark = self.gateway.output_mark()
        self.reload_and_wait(self.config_with_routes(self.echo, []))
        self.assertNotIn("admin.listen", self.gateway.output_since(mark))

    def test_valid_reload_after_invalid_one_is_applied(self):
        """After a rejected file, fixing it and sending SIGHUP again applies the fix."""
        text = self.gateway.write_config(self.config_with_routes(
            self.echo, [route("later", path_prefix="/later", upstream="missing")]))
        mark = self.gateway.output_mark()
        self.gateway.reload()
        self.gateway.wait_for_output(r"gateway\.yaml:\d+:\d+:", timeout=10, since=mark)
        self.assertEqual(self.status_of("/later/x"), 404)
        self.gateway.write_config(text=text.replace('"missing"', '"echo"'))
        self.gateway.reload()
        wait_until(lambda: self.status_of("/later/x") == 200, 10, message="fixed config to apply")


class ReloadStormTest(GatewayTestCase):
    """50 reloads in a row while several clients keep requests flowing on keep-alive
    connections: no request fails and the gateway lives on. Each reload swaps in a runtime
    with different server limits and routes, so a session that kept a reference into the
    runtime it started on (instead of holding the snapshot) reads freed memory, which the
    ASan build reports (scripts/test.sh runs this suite under ASan too)."""

    RELOADS = 50

    @classmethod
    def make_config(cls, echo):
        return cls.config_for(echo, 0)

    @classmethod
    def config_for(cls, echo, n):
        extra = [route(f"gen{n}", path_prefix=f"/gen{n}")] if n % 2 else []
        return base_config(echo.port, routes=[route("echo", path_prefix="/echo"), *extra],
                           server={"workers": 2, "header_timeout_s": 10 + n % 3,
                                   "idle_timeout_s": 60 + n % 2,
                                   "max_header_bytes": 16384 + 64 * (n % 2)})

    def applied_reloads(self):
        for name, labels, value in parse_prometheus(self.gateway.metrics()):
            if name == "portcullis_config_reloads_total" and labels.get("result") == "applied":
                return int(value)
        return 0

    def test_fifty_reloads_under_load_fail_no_request(self):
        with BackgroundTraffic(self.gateway.port, "/echo/storm", threads=6) as traffic:
            wait_until(lambda: traffic.count() >= 50, 15, message="background traffic to start")
            base = self.applied_reloads()
            for n in range(1, self.RELOADS + 1):
                self.gateway.write_config(self.config_for(self.echo, n))
                before = traffic.count()
                self.gateway.reload()
                # One reload at a time (signals of one kind coalesce while one is pending),
                # and some requests between two reloads.
                wait_until(lambda: self.applied_reloads() >= base + n, 10,
                           message=f"reload {n} to be applied")
                wait_until(lambda: traffic.count() >= before + 5 or self.gateway.proc.poll() is not None,
                           10, message=f"traffic after reload {n}")
                self.assertIsNone(self.gateway.proc.poll(),
                                  f"gateway died during reload {n}:\n" + self.gateway.output()[-4000:])
            time.sleep(0.2)
        self.assertEqual(traffic.failures[:10], [],
                         f"{len(traffic.failures)} of {traffic.ok + len(traffic.failures)} "
                         "requests failed during the reload storm")
        self.assertGreater(traffic.ok, 6 * self.RELOADS, "background traffic did not really flow")
        self.assertEqual(self.applied_reloads(), base + self.RELOADS)
        self.assertIsNone(self.gateway.proc.poll(), "gateway exited during the reload storm")
        # The last file is the one serving: reload 50 removed the route reload 49 added.
        self.assertEqual(self.get(f"/gen{self.RELOADS - 1}/x").status, 404)
        self.assertEqual(self.get("/echo/after").status, 200)


if __name__ == "__main__":
    unittest.main()
