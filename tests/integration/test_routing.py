"""Routing: paths are normalised before matching and forwarding, prefixes match whole
segments, methods are enforced, hosts (exact or wildcard) restrict a route, and anything
unmatched gets a JSON 404."""

import unittest

from harness import GatewayTestCase, base_config, route


class RoutingTest(GatewayTestCase):

    @classmethod
    def make_config(cls, echo):
        return base_config(echo.port, routes=[
            route("health", path="/healthz"),
            route("reports", path_prefix="/v1/reports", methods=["GET"]),
            route("fwd", path_prefix="/fwd", forward_authorization=True),
            # The more specific hosts first, as the loader requires.
            route("api-host", path_prefix="/hosted", host="api.example.test"),
            route("eu-tenants", path_prefix="/hosted", host="*.eu.example.test"),
            route("tenants", path_prefix="/hosted", host="*.example.test"),
        ])

    def assert_reaches(self, target, expected_path, method="GET", expected_query=""):
        r = self.gateway.request(method, target)
        self.assertEqual(r.status, 200, f"{method} {target} -> {r}")
        seen = r.echo()
        self.assertEqual(seen.path, expected_path, f"{target} forwarded as {seen.target}")
        self.assertEqual(seen.query, expected_query)
        return seen

    def test_exact_path_route(self):
        """`path: /healthz` matches /healthz exactly (the upstream's, not the admin's)."""
        self.assert_reaches("/healthz", "/healthz")

    def test_exact_path_does_not_match_below_it(self):
        """`path: /healthz` does not match /healthz/x or /healthzx."""
        for target in ("/healthz/x", "/healthzx"):
            with self.subTest(target=target):
                self.assert_error_json(self.get(target), 404)

    def test_prefix_matches_itself_and_below(self):
        """`path_prefix: /v1/reports` matches /v1/reports, /v1/reports/ and /v1/reports/7."""
        self.assert_reaches("/v1/reports", "/v1/reports")
        seen = self.assert_reaches("/v1/reports/7", "/v1/reports/7")
        self.assertEqual(seen.method, "GET")
        r = self.get("/v1/reports/")
        self.assertEqual(r.status, 200, str(r))
        self.assertIn(r.echo().path, ("/v1/reports/", "/v1/reports"))

    def test_prefix_is_segment_aware(self):
        """/v1/reportsX is not under /v1/reports: 404."""
        for target in ("/v1/reportsX", "/v1/reports-old/1", "/v1/report"):
            with self.subTest(target=target):
                self.assert_error_json(self.get(target), 404)

    def test_dot_dot_and_double_slash_are_normalised(self):
        """`/v1/reports/../reports//7` is matched and forwarded as /v1/reports/7."""
        self.assert_reaches("/v1/reports/../reports//7", "/v1/reports/7")

    def test_single_dot_is_normalised(self):
        """`/v1/./reports` is matched and forwarded as /v1/reports."""
        self.assert_reaches("/v1/./reports", "/v1/reports")

    def test_normalised_path_keeps_query(self):
        """Normalisation touches the path only; the query string is forwarded as sent."""
        self.assert_reaches("/v1/reports/./a/../b?x=1&y=%2F", "/v1/reports/b", expected_query="x=1&y=%2F")

    def test_dot_dot_cannot_escape_a_prefix_into_another_route(self):
        """`/v1/reports/../../fwd/x` normalises to /fwd/x: it is routed as /fwd/x (to the fwd
        route), never forwarded with the dots to the reports route's upstream."""
        r = self.get("/v1/reports/../../fwd/x")
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().path, "/fwd/x")

    def test_dot_dot_above_root_is_not_forwarded(self):
        """`/../v1/reports` cannot go above the root: either refused (400) or clamped to
        /v1/reports; the upstream never sees '..'."""
        r = self.get("/../v1/reports")
        if r.status == 200:
            self.assertEqual(r.echo().path, "/v1/reports")
        else:
            self.assertIn(r.status, (400, 404), str(r))

    def test_wrong_method_is_refused(self):
        """POST to a GET-only route does not reach the upstream. The gateway may answer 404
        (no route matched) or 405 (the path matched, the method not)."""
        r = self.gateway.request("POST", "/v1/reports/7", body=b"x")
        self.assertIn(r.status, (404, 405), str(r))
        self.assert_error_json(r, r.status)
        print(f"\n  note: POST to a GET-only route answered {r.status}")

    def test_other_unlisted_method_is_refused(self):
        """DELETE to the GET-only route is refused too, while GET works."""
        self.assert_reaches("/v1/reports/1", "/v1/reports/1")
        r = self.gateway.request("DELETE", "/v1/reports/1")
        self.assertIn(r.status, (404, 405), str(r))

    def test_exact_and_wildcard_hosts(self):
        """An exact host wins over the wildcards that cover it and a longer wildcard over a
        shorter one; a wildcard matches one or more labels in front of its domain (any case,
        any port), never the domain itself or a look-alike."""
        cases = {
            "api.example.test": "api-host",
            "API.Example.Test:8080": "api-host",
            "shop.eu.example.test": "eu-tenants",
            "a.b.eu.example.test": "eu-tenants",
            "eu.example.test": "tenants",
            "x.api.example.test": "tenants",
            "Acme.Example.Test": "tenants",
        }
        for i, (host, expected) in enumerate(cases.items()):
            with self.subTest(host=host):
                rid = f"host-{i}"
                r = self.get("/hosted/x", [("X-Request-Id", rid)], host=host)
                self.assertEqual(r.status, 200, str(r))
                self.assertEqual(self.gateway.wait_for_access_log(rid)["route"], expected)
        for host in ("example.test", "badexample.test", "example.test.evil", ".example.test"):
            with self.subTest(host=host):
                self.assert_error_json(self.get("/hosted/x", host=host), 404)

    def test_unknown_path_is_404_json(self):
        """A path no route matches: 404 with a small JSON error body."""
        self.assert_error_json(self.get("/nothing/here"), 404)
        self.assert_error_json(self.get("/"), 404)


if __name__ == "__main__":
    unittest.main()
