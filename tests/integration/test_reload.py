"""Reload on SIGHUP: a valid new file is applied, an invalid one is reported with
FILE:LINE:COL and the old config keeps serving; in both cases requests that are flowing on
keep-alive connections during the reload all succeed."""

import re
import unittest

from harness import BackgroundTraffic, GatewayTestCase, base_config, line_of, route, wait_until


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


if __name__ == "__main__":
    unittest.main()
