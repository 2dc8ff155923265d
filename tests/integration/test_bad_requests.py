"""Malformed and smuggling-shaped requests are refused (400, connection closed), and the
size and time limits answer 431, 413 and 408."""

import time
import unittest

from harness import ConnectionClosed, GatewayTestCase, base_config, build_request, chunked

MAX_BODY = 65536


def head(*header_lines: str, request_line: str = "POST /echo/bad HTTP/1.1") -> bytes:
    """A request head from exact header lines (Host included)."""
    return ("\r\n".join([request_line, "Host: gateway.test", *header_lines]) + "\r\n\r\n").encode("latin-1")


# A well-formed request put after a bad one: if the gateway reads it, it was smuggled.
SMUGGLED = b"GET /echo/smuggled HTTP/1.1\r\nHost: gateway.test\r\n\r\n"


class BadRequestTest(GatewayTestCase):

    @classmethod
    def make_config(cls, echo):
        return base_config(echo.port, server={"header_timeout_s": 1, "max_header_bytes": 16384,
                                              "max_body_bytes": MAX_BODY})

    def test_well_formed_request_is_accepted(self):
        """Control: a plain request on this gateway is proxied, so the refusals below are
        about the requests, not a broken gateway."""
        r = self.gateway.send_raw(head("Content-Length: 5") + b"hello")
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().body_bytes, 5)

    # --- message framing (request smuggling) --------------------------------------------------

    def test_content_length_and_transfer_encoding_together(self):
        """Both Content-Length and Transfer-Encoding: 400 and the connection is closed."""
        self.assert_rejected_and_closed(
            head("Content-Length: 5", "Transfer-Encoding: chunked") + b"0\r\n\r\n" + SMUGGLED)

    def test_transfer_encoding_before_content_length(self):
        """Same with the headers in the other order."""
        self.assert_rejected_and_closed(
            head("Transfer-Encoding: chunked", "Content-Length: 5") + b"0\r\n\r\n" + SMUGGLED)

    def test_two_different_content_lengths(self):
        """Two Content-Length headers that disagree: 400."""
        self.assert_rejected_and_closed(
            head("Content-Length: 5", "Content-Length: 6") + b"hello!" + SMUGGLED)

    def test_content_length_list_with_different_values(self):
        """One Content-Length header carrying two different values: 400."""
        self.assert_rejected_and_closed(head("Content-Length: 5, 6") + b"hello!")

    def test_unsupported_transfer_coding(self):
        """Transfer-Encoding: gzip (a coding the gateway does not decode): 400."""
        self.assert_rejected_and_closed(head("Transfer-Encoding: gzip") + b"xxxx")

    def test_chunked_twice(self):
        """Transfer-Encoding: chunked, chunked (in one header or two): 400."""
        self.assert_rejected_and_closed(
            head("Transfer-Encoding: chunked, chunked") + b"0\r\n\r\n" + SMUGGLED)
        self.assert_rejected_and_closed(
            head("Transfer-Encoding: chunked", "Transfer-Encoding: chunked") + b"0\r\n\r\n" + SMUGGLED)

    def test_chunked_not_last(self):
        """Transfer-Encoding: chunked, gzip (chunked must be the final coding): 400."""
        self.assert_rejected_and_closed(head("Transfer-Encoding: chunked, gzip") + b"0\r\n\r\n")

    def test_invalid_chunk_size(self):
        """A chunk size that is not hex: 400."""
        self.assert_rejected_and_closed(
            head("Transfer-Encoding: chunked") + b"zz\r\nhello\r\n0\r\n\r\n" + SMUGGLED)

    # --- header syntax ------------------------------------------------------------------------

    def test_obs_fold(self):
        """A header continued on a line starting with a space (obs-fold): 400."""
        self.assert_rejected_and_closed(
            head("X-Folded: first", " second", request_line="GET /echo/bad HTTP/1.1"))

    def test_obs_fold_with_tab(self):
        """The same with a tab."""
        self.assert_rejected_and_closed(
            head("X-Folded: first", "\tsecond", request_line="GET /echo/bad HTTP/1.1"))

    def test_bare_cr_in_header_value(self):
        """A CR not followed by LF inside a header value: 400."""
        self.assert_rejected_and_closed(
            head("X-Bad: a\rX-Injected: b", request_line="GET /echo/bad HTTP/1.1"))

    def test_control_characters_in_header_value(self):
        """NUL, 0x01, ESC and DEL inside a header value: 400."""
        for ch in ("\x00", "\x01", "\x1b", "\x7f"):
            with self.subTest(char=repr(ch)):
                self.assert_rejected_and_closed(
                    head(f"X-Bad: a{ch}b", request_line="GET /echo/bad HTTP/1.1"))

    def test_space_before_colon(self):
        """Whitespace between a header name and the colon: 400 (RFC 9112 5.1)."""
        self.assert_rejected_and_closed(head("X-Bad : value", request_line="GET /echo/bad HTTP/1.1"))

    def test_two_authorization_headers(self):
        """Two Authorization headers (which one would be checked?): 400."""
        self.assert_rejected_and_closed(
            head("Authorization: Bearer a", "Authorization: Bearer b",
                 request_line="GET /echo/bad HTTP/1.1"))

    def test_encoded_slash_or_backslash_in_path(self):
        """%2F or %5C in the path (in either case) would change what the path means: 400."""
        for target in ("/echo/a%2Fb", "/echo/a%2fb", "/echo/a%5Cb", "/echo/a%5cb",
                       "/echo%2F..%2Fadmin"):
            with self.subTest(target=target):
                self.assert_rejected_and_closed(build_request("GET", target))

    # --- limits -------------------------------------------------------------------------------

    def test_header_too_large_is_431(self):
        """One header bigger than max_header_bytes (16384): 431."""
        r = self.gateway.send_raw(build_request("GET", "/echo/big", [("X-Big", "a" * 20000)]))
        self.assert_error_json(r, 431)

    def test_many_headers_too_large_is_431(self):
        """Many small headers adding up past max_header_bytes: 431."""
        headers = [(f"X-H{i}", "v" * 90) for i in range(250)]
        r = self.gateway.send_raw(build_request("GET", "/echo/many", headers))
        self.assert_error_json(r, 431)

    def test_headers_under_limit_are_accepted(self):
        """Control: headers adding up to well under the limit pass."""
        r = self.gateway.request("GET", "/echo/ok", [("X-Medium", "m" * 8000)])
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().header("X-Medium"), "m" * 8000)

    def test_content_length_over_max_body_is_413(self):
        """Content-Length larger than max_body_bytes: 413 without waiting for the body."""
        with self.gateway.connect() as c:
            c.send(head(f"Content-Length: {MAX_BODY + 1}"))
            r = c.read_response("POST", timeout=5)
        self.assert_error_json(r, 413)

    def test_chunked_body_over_max_body_is_413(self):
        """A chunked body that grows past max_body_bytes: 413."""
        with self.gateway.connect() as c:
            c.send(head("Transfer-Encoding: chunked"))
            try:
                for _ in range(MAX_BODY // 4096 + 8):
                    if c.readable():
                        break  # answered already
                    c.send(b"1000\r\n" + b"x" * 4096 + b"\r\n")
                c.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the gateway may answer and close before we finish
            r = c.read_response("POST", timeout=5)
        self.assert_error_json(r, 413)

    def test_body_at_max_body_is_accepted(self):
        """Control: a body of exactly max_body_bytes, chunked, passes."""
        body = b"y" * MAX_BODY
        r = self.gateway.send_raw(head("Transfer-Encoding: chunked")
                                  + chunked([body[:1000], body[1000:]]))
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().body_bytes, MAX_BODY)

    def read_timeout_answer(self, conn, timeout):
        try:
            return conn.read_response(timeout=timeout)
        except ConnectionClosed:
            self.fail("the gateway closed the connection without answering 408")

    def test_slow_headers_are_408(self):
        """Half a request head, then silence past header_timeout_s (1 s): 408, then closed."""
        with self.gateway.connect() as c:
            c.send(b"GET /echo/slow HTTP/1.1\r\nHost: gatew")
            start = time.monotonic()
            r = self.read_timeout_answer(c, 6)
            elapsed = time.monotonic() - start
            self.assert_error_json(r, 408)
            self.assertTrue(c.peer_closed(3), "connection stayed open after 408")
        self.assertLess(elapsed, 4.0)

    def test_trickled_headers_are_408(self):
        """A head sent a few bytes at a time, each gap shorter than the timeout but the whole
        head slower than header_timeout_s (slowloris): 408."""
        data = build_request("GET", "/echo/trickle", [("X-Pad", "p" * 40)])
        with self.gateway.connect() as c:
            start = time.monotonic()
            try:
                for i in range(0, len(data) - 4, 4):
                    if c.readable():
                        break  # answered already
                    c.send(data[i:i + 4])
                    time.sleep(0.1)
                    if time.monotonic() - start > 4:
                        break
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = self.read_timeout_answer(c, 5)
        self.assert_error_json(r, 408)


class BodyProgressTest(GatewayTestCase):
    """server.body_timeout_s bounds a body that makes no progress, not a slow one (an
    acceptance check found a body trickled faster than the timeout cut at it all the same:
    Beast's read armed once waited for a whole buffer)."""

    @classmethod
    def make_config(cls, echo):
        return base_config(echo.port, server={"body_timeout_s": 1})

    def test_a_body_that_keeps_coming_is_not_cut(self):
        pieces = [b"x" * 100] * 10
        head = build_request("POST", "/echo/slow-body", [("Content-Length", "1000")])
        with self.gateway.connect() as c:
            c.send(head)
            start = time.monotonic()
            for p in pieces:
                time.sleep(0.3)
                c.send(p)
            r = c.read_response("POST", 10)
        self.assertGreater(time.monotonic() - start, 2.5)
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().body_bytes, 1000)

    def test_a_body_that_stops_is_408(self):
        head = build_request("POST", "/echo/stalled-body", [("Content-Length", "1000")])
        with self.gateway.connect() as c:
            c.send(head + b"x" * 100)
            r = c.read_response("POST", 10)
        self.assert_error_json(r, 408)


if __name__ == "__main__":
    unittest.main()
