"""Proxying: requests reach the upstream intact, bodies stream both ways, keep-alive and
pipelining work, upstream failures become 502/504, hop-by-hop headers are removed and
X-Forwarded-* are set."""

import hashlib
import os
import time
import unittest

from harness import (GatewayTestCase, base_config, build_request, chunked, closed_port,
                     pattern_bytes, route)


class ProxyTest(GatewayTestCase):

    @classmethod
    def make_config(cls, echo):
        dead_port = closed_port()  # nothing listens here, ever
        return base_config(
            echo.port,
            upstreams={
                "dead": {"url": f"http://127.0.0.1:{dead_port}", "timeout_s": 5,
                         "connect_timeout_s": 2},
                "slow": {"url": echo.url, "timeout_s": 1, "connect_timeout_s": 5},
            },
            routes=[
                route("echo", path_prefix="/echo"),
                route("dead", path_prefix="/dead", upstream="dead"),
                route("slow", path_prefix="/slow", upstream="slow"),
            ])

    # --- requests arrive intact ---------------------------------------------------------------

    def test_method_path_query_and_headers_reach_echo(self):
        """The upstream sees the client's method, path, query and its own headers, in order."""
        seen = self.echo_of("GET", "/echo/a/b?x=1&y=two",
                            [("X-Custom", "hello"), ("X-Multi", "one"), ("X-Multi", "two")])
        self.assertEqual(seen.method, "GET")
        self.assertEqual(seen.path, "/echo/a/b")
        self.assertEqual(seen.query, "x=1&y=two")
        self.assertEqual(seen.header_all("X-Custom"), ["hello"])
        self.assertEqual(seen.header_all("X-Multi"), ["one", "two"])

    def test_other_methods_reach_echo(self):
        """PUT, DELETE, PATCH and OPTIONS are forwarded with their method unchanged."""
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            with self.subTest(method=method):
                body = b"data" if method in ("PUT", "PATCH") else None
                seen = self.echo_of(method, "/echo/m", body=body)
                self.assertEqual(seen.method, method)
                self.assertEqual(seen.body_bytes, len(body or b""))

    def test_upstream_status_is_passed_through(self):
        """An upstream 503 reaches the client as the upstream's answer, not a gateway error."""
        r = self.get("/echo/status", [("X-Echo-Status", "503")])
        self.assertEqual(r.status, 503, str(r))
        self.assertEqual(r.echo().path, "/echo/status")

    # --- connection handling ------------------------------------------------------------------

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        """Five requests on one connection each get an HTTP/1.1 answer and the connection
        stays open between them."""
        with self.gateway.connect() as c:
            for i in range(5):
                c.send(build_request("GET", f"/echo/ka/{i}"))
                r = c.read_response()
                self.assertEqual(r.version, "1.1")
                self.assertEqual(r.status, 200, str(r))
                self.assertEqual(r.echo().path, f"/echo/ka/{i}")
                self.assertNotIn("close", (r.header("Connection") or "").lower())
            self.assertFalse(c.peer_closed(0.2), "gateway closed a keep-alive connection")

    def test_pipelined_requests_are_answered_in_order(self):
        """Three requests sent in one write are answered in the order sent, even when the
        first is the slowest at the upstream."""
        data = (build_request("GET", "/echo/p/1", [("X-Echo-Delay-Ms", "300")])
                + build_request("POST", "/echo/p/2", body=b"two")
                + build_request("GET", "/echo/p/3"))
        with self.gateway.connect() as c:
            c.send(data)
            paths = []
            for _ in range(3):
                r = c.read_response()
                self.assertEqual(r.status, 200, str(r))
                paths.append(r.echo().path)
        self.assertEqual(paths, ["/echo/p/1", "/echo/p/2", "/echo/p/3"])

    # --- bodies -------------------------------------------------------------------------------

    def test_content_length_body_arrives_intact(self):
        """A 300 KB Content-Length body reaches the upstream byte for byte."""
        body = os.urandom(300_000)
        seen = self.echo_of("POST", "/echo/cl", body=body)
        self.assertEqual(seen.body_bytes, len(body))
        self.assertEqual(seen.body_sha256, hashlib.sha256(body).hexdigest())

    def test_chunked_request_body_is_streamed(self):
        """A chunked upload in uneven pieces reaches the upstream byte for byte."""
        pieces = [os.urandom(n) for n in (1, 17, 65536, 100_000, 3, 250_000)]
        whole = b"".join(pieces)
        r = self.gateway.send_raw(
            build_request("POST", "/echo/chunked", [("Transfer-Encoding", "chunked")])
            + chunked(pieces))
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.body_bytes, len(whole))
        self.assertEqual(seen.body_sha256, hashlib.sha256(whole).hexdigest())

    def test_chunked_response_is_streamed(self):
        """A chunked upstream response of 3 MB arrives complete and still chunked (the
        gateway streams it rather than buffering it to learn its length)."""
        n = 3 * 1024 * 1024 + 7
        r = self.get("/echo/bytes", [("X-Echo-Bytes", str(n))], timeout=30)
        self.assertEqual(r.status, 200, str(r))
        self.assertIn("chunked", (r.header("Transfer-Encoding") or "").lower(), str(r))
        self.assertIsNone(r.header("Content-Length"))
        self.assertEqual(len(r.body), n)
        self.assertEqual(r.body, pattern_bytes(0, n))

    def test_content_length_response(self):
        """An upstream response with Content-Length keeps it and arrives complete."""
        n = 1_000_003
        r = self.get("/echo/bytes", [("X-Echo-Bytes", str(n)), ("X-Echo-Bytes-Length", "1")],
                     timeout=30)
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.header("Content-Length"), str(n))
        self.assertEqual(r.body, pattern_bytes(0, n))

    def test_bodies_around_the_one_buffer_size_arrive_intact(self):
        """A message whose head and first body piece fit in 4 KiB leaves as one buffer (the
        piece copied behind the head); one that does not, as head and piece apart. Sizes on
        both sides of that line arrive byte for byte, chunked or with Content-Length, both
        ways, on one kept-alive connection."""
        sizes = (0, 1, 3700, 4000, 4095, 4096, 4097, 8191, 65537)
        with self.gateway.connect() as conn:
            for n in sizes:
                for length in (False, True):
                    headers = [("X-Echo-Bytes", str(n))]
                    if length:
                        headers.append(("X-Echo-Bytes-Length", "1"))
                    conn.send(build_request("GET", "/echo/bytes", headers))
                    r = conn.read_response("GET", 10)
                    self.assertEqual(r.status, 200, f"{n} {length}: {r}")
                    self.assertEqual(r.body, pattern_bytes(0, n), f"{n} bytes, length={length}")
                body = os.urandom(n)
                conn.send(build_request("POST", "/echo/up", [], body))
                r = conn.read_response("POST", 10)
                self.assertEqual(r.status, 200, f"upload {n}: {r}")
                seen = r.echo()
                self.assertEqual(seen.body_bytes, n)
                self.assertEqual(seen.body_sha256, hashlib.sha256(body).hexdigest())
                r = self.gateway.send_raw(
                    build_request("POST", "/echo/up", [("Transfer-Encoding", "chunked")])
                    + chunked([body[: n // 2], body[n // 2:]] if n > 1 else [body]))
                self.assertEqual(r.status, 200, f"chunked upload {n}: {r}")
                self.assertEqual(r.echo().body_sha256, hashlib.sha256(body).hexdigest())

    def test_head_has_headers_but_no_body(self):
        """HEAD gets the upstream's headers (Content-Length of the body a GET would get) and
        no body; the next request on the same connection is read correctly, which proves no
        body bytes followed."""
        cases = [
            ([], None),
            ([("X-Echo-Bytes", "5000")], None),  # upstream announces chunked
            ([("X-Echo-Bytes", "5000"), ("X-Echo-Bytes-Length", "1")], "5000"),
        ]
        with self.gateway.connect() as c:
            for extra, length in cases:
                with self.subTest(headers=extra):
                    c.send(build_request("HEAD", "/echo/head", extra))
                    r = c.read_response("HEAD")
                    self.assertEqual(r.status, 200, str(r))
                    if length is not None:
                        self.assertEqual(r.header("Content-Length"), length, str(r))
                    c.send(build_request("GET", "/echo/after-head"))
                    after = c.read_response()
                    self.assertEqual(after.status, 200, str(after))
                    self.assertEqual(after.echo().path, "/echo/after-head")

    def test_expect_100_continue(self):
        """With Expect: 100-continue the client gets `100 Continue` before it sends the body,
        then the final answer for the full body."""
        body = b"hello world"
        with self.gateway.connect() as c:
            c.send(build_request("POST", "/echo/expect",
                                 [("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
            interim = c.read_response("POST", timeout=5, return_interim=True)
            self.assertEqual(interim.status, 100, str(interim))
            self.assertEqual(interim.version, "1.1")
            c.send(body)
            r = c.read_response("POST")
            self.assertEqual(r.status, 200, str(r))
            seen = r.echo()
            self.assertEqual(seen.body_bytes, len(body))
            self.assertEqual(seen.body_sha256, hashlib.sha256(body).hexdigest())

    # --- upstream failures --------------------------------------------------------------------

    def test_502_when_upstream_port_is_closed(self):
        """Nothing listening at the upstream: 502 with a JSON error body."""
        r = self.get("/dead/x")
        body = self.assert_error_json(r, 502)
        if r.header("X-Request-Id"):
            self.assertEqual(body["request_id"], r.header("X-Request-Id"))

    def test_502_when_upstream_closes_without_answering(self):
        """The upstream drops the connection after the request head: 502."""
        r = self.get("/echo/close", [("X-Echo-Close", "1")])
        self.assert_error_json(r, 502)

    def test_gateway_keeps_serving_after_upstream_failure(self):
        """A 502 does not poison the client connection or the pool: the next request works."""
        with self.gateway.connect() as c:
            c.send(build_request("GET", "/echo/close", [("X-Echo-Close", "1")]))
            r = c.read_response()
            self.assertEqual(r.status, 502, str(r))
            if "close" not in (r.header("Connection") or "").lower():
                c.send(build_request("GET", "/echo/next"))
                self.assertEqual(c.read_response().status, 200)
        self.assertEqual(self.get("/echo/next2").status, 200)

    def test_504_when_upstream_is_slower_than_timeout(self):
        """Upstream timeout_s is 1 and echo waits 3 s: 504 after about 1 s, not 3."""
        start = time.monotonic()
        r = self.get("/slow/x", [("X-Echo-Delay-Ms", "3000")], timeout=10)
        elapsed = time.monotonic() - start
        self.assert_error_json(r, 504)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 2.8, "504 should come at timeout_s, not after the upstream answered")

    # --- hop-by-hop and forwarding headers ----------------------------------------------------

    def test_hop_by_hop_request_headers_do_not_reach_upstream(self):
        """Connection, Keep-Alive, TE, Proxy-Connection and headers named in Connection are
        removed before the request goes upstream."""
        seen = self.echo_of("GET", "/echo/hop", [
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Proxy-Connection", "keep-alive"),
            ("X-Secret-Hop", "must-not-pass"),
            ("X-Kept", "yes"),
        ])
        names = {k.lower() for k, _ in seen.headers}
        for hop in ("keep-alive", "te", "proxy-connection", "x-secret-hop"):
            self.assertNotIn(hop, names, f"{hop} reached the upstream: {seen.headers}")
        for v in seen.header_all("Connection"):
            self.assertNotIn("x-secret-hop", v.lower())
        self.assertEqual(seen.header_all("X-Kept"), ["yes"])

    def test_upgrade_header_does_not_reach_upstream(self):
        """An Upgrade request header is hop-by-hop; the request is served without it."""
        seen = self.echo_of("GET", "/echo/upgrade", [("Upgrade", "foo/1")])
        self.assertEqual(seen.header_all("Upgrade"), [])

    def test_hop_by_hop_response_headers_do_not_reach_client(self):
        """A header the upstream names in its Connection header is removed from the response."""
        r = self.get("/echo/resp-hop", [("X-Echo-Set-Header", "Connection: X-Resp-Hop"),
                                        ("X-Echo-Set-Header", "X-Resp-Hop: secret"),
                                        ("X-Echo-Set-Header", "X-Resp-Kept: visible")])
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.header_all("X-Resp-Hop"), [], str(r))
        self.assertEqual(r.header("X-Resp-Kept"), "visible", str(r))

    def test_x_forwarded_headers_are_set(self):
        """X-Forwarded-For carries the client address, X-Forwarded-Proto is http and
        X-Forwarded-Host is the Host the client asked for."""
        seen = self.echo_of("GET", "/echo/xff", host="api.example.test")
        self.assertEqual(seen.header_all("X-Forwarded-For"), ["127.0.0.1"])
        self.assertEqual(seen.header_all("X-Forwarded-Proto"), ["http"])
        self.assertEqual(seen.header_all("X-Forwarded-Host"), ["api.example.test"])

    def test_x_forwarded_for_from_an_untrusted_client_is_replaced(self):
        """No server.trusted_proxies: a client's X-Forwarded-For and Forwarded are not passed
        on; the upstream sees the peer's address alone (test_client_address.py covers trusted
        peers)."""
        seen = self.echo_of("GET", "/echo/xff2", [("X-Forwarded-For", "203.0.113.7, 198.51.100.2"),
                                                  ("Forwarded", "for=203.0.113.7")])
        self.assertEqual(seen.header_all("X-Forwarded-For"), ["127.0.0.1"])
        self.assertEqual(seen.header_all("Forwarded"), [])

    def test_spoofed_x_forwarded_proto_and_host_are_replaced(self):
        """A client cannot claim https or another host through X-Forwarded-Proto/Host."""
        seen = self.echo_of("GET", "/echo/xfp", [("X-Forwarded-Proto", "https"),
                                                 ("X-Forwarded-Host", "evil.example")],
                            host="api.example.test")
        self.assertEqual(seen.header_all("X-Forwarded-Proto"), ["http"])
        self.assertEqual(seen.header_all("X-Forwarded-Host"), ["api.example.test"])


if __name__ == "__main__":
    unittest.main()
