"""The real client address behind a load balancer: server.trusted_proxies with
X-Forwarded-For, and server.proxy_protocol (PROXY protocol v1 and v2 headers).

The address found is the one the access log's client_ip and an API key's CIDR restriction
use; the upstream is told the forwarded list plus the peer. X-Forwarded-For from an untrusted
peer is never believed, and a connection without a valid PROXY header gets no answer.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from harness import (GatewayTestCase, RawConnection, base_config, build_request, gateway_bin,
                     line_of, parse_prometheus, route, to_yaml, wait_until)

PEPPER_ENV = "PORTCULLIS_KEY_PEPPER"
os.environ.setdefault(PEPPER_ENV, secrets.token_urlsafe(32))

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v1(source: str, port: int = 51000) -> bytes:
    family = "TCP6" if ":" in source else "TCP4"
    dest = "2001:db8::1" if family == "TCP6" else "192.0.2.1"
    return f"PROXY {family} {source} {dest} {port} 443\r\n".encode()


def proxy_v2(source: str = "", command: int = 0x1, tlvs: bytes = b"") -> bytes:
    """A v2 header; an empty source with command 0 is LOCAL (a balancer's health check)."""
    if not source:
        body, family = b"", 0x00
    elif ":" in source:
        body = (socket.inet_pton(socket.AF_INET6, source)
                + socket.inet_pton(socket.AF_INET6, "2001:db8::1") + struct.pack("!HH", 51000, 443))
        family = 0x21
    else:
        body = (socket.inet_pton(socket.AF_INET, source)
                + socket.inet_pton(socket.AF_INET, "192.0.2.1") + struct.pack("!HH", 51000, 443))
        family = 0x11
    body += tlvs
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def request_id() -> str:
    return "addr-" + secrets.token_hex(8)


def create_key(workdir: str, client: str, cidrs: list) -> str:
    """A key allowed only from `cidrs`, made with `portcullis keys create`."""
    args = [gateway_bin(), "keys", "create", "--client", client, "--json",
            "--store", "sqlite://" + os.path.join(workdir, "keys.db")]
    for c in cidrs:
        args += ["--allow-cidr", c]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError(f"keys create failed: {p.stdout}{p.stderr}")
    return json.loads(p.stdout)["key"]


class ClientAddressTestBase(GatewayTestCase):
    """A gateway with `server` settings, a route /keyed/ behind API keys and one key allowed
    from 10.0.0.0/8 only. Requests carry their own X-Request-Id, to find their log line."""

    server: dict = {}
    ten_net_key: str

    @classmethod
    def make_config(cls, echo):
        # Made before the gateway starts (GatewayTestCase creates the workdir first).
        cls.ten_net_key = create_key(cls.workdir, "ten-net", ["10.0.0.0/8"])
        cfg = base_config(echo.port, server=cls.server)
        cfg["routes"].append(route("keyed", path_prefix="/keyed", auth=["api_key"]))
        cfg["api_keys"] = {"header": "X-API-Key", "store": "sqlite:keys.db",
                           "pepper": "${" + PEPPER_ENV + "}"}
        return cfg

    def send(self, target: str, headers=(), prefix: bytes = b"") -> tuple:
        """(response, access-log line) of one request on a fresh connection, the connection
        starting with `prefix` (a PROXY header)."""
        rid = request_id()
        with self.gateway.connect() as c:
            c.send(prefix + build_request("GET", target, [("X-Request-Id", rid), *headers]))
            r = c.read_response()
        return r, self.gateway.wait_for_access_log(rid)

    def proxy_errors(self, reason: str) -> float:
        for name, labels, value in parse_prometheus(self.gateway.metrics()):
            if name == "portcullis_proxy_protocol_errors_total" and labels.get("reason") == reason:
                return value
        return 0

    def assert_closed_without_answer(self, c: RawConnection) -> None:
        self.assertTrue(c.peer_closed(5), "the connection stayed open")
        self.assertEqual(bytes(c.buf), b"", "the gateway answered")


class TrustedProxyTest(ClientAddressTestBase):
    """127.0.0.1, where the tests connect from, is a trusted proxy."""

    server = {"trusted_proxies": ["127.0.0.1", "10.200.0.0/16"]}

    def keyed(self, xff: str):
        return self.send("/keyed/x", [("X-API-Key", self.ten_net_key), ("X-Forwarded-For", xff)])

    def test_forwarded_for_from_a_trusted_peer_is_the_logged_client(self):
        r, log = self.send("/echo/a", [("X-Forwarded-For", "198.51.100.7")])
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(log["client_ip"], "198.51.100.7", log)
        self.assertEqual(log["peer_ip"], "127.0.0.1", log)

    def test_rightmost_untrusted_hop_is_the_client(self):
        # The client forged the first hop; a second trusted balancer (10.200.0.0/16) is skipped.
        _, log = self.send("/echo/b", [("X-Forwarded-For", "10.1.2.3, 198.51.100.7"),
                                       ("X-Forwarded-For", "10.200.0.9")])
        self.assertEqual(log["client_ip"], "198.51.100.7", log)

    def test_malformed_hop_stops_at_the_trusted_hop_that_wrote_it(self):
        _, log = self.send("/echo/c", [("X-Forwarded-For", "198.51.100.7, not-an-ip")])
        self.assertEqual(log["client_ip"], "127.0.0.1", log)

    def test_key_cidr_is_checked_against_the_forwarded_client(self):
        r, log = self.keyed("10.1.2.3")
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().header("X-Client-Id"), "ten-net")
        self.assertEqual(log["client_ip"], "10.1.2.3", log)
        r, log = self.keyed("203.0.113.9")
        self.assertEqual(r.status, 403, str(r))
        self.assertEqual(log["reason"], "source_not_allowed", log)
        # A client cannot get into 10/8 by forging the leftmost hop.
        r, _ = self.keyed("10.1.2.3, 203.0.113.9")
        self.assertEqual(r.status, 403, str(r))

    def test_upstream_gets_the_list_plus_the_peer_and_the_peers_forwarding_headers(self):
        r, _ = self.send("/echo/d", [("X-Forwarded-For", "198.51.100.7, 10.200.0.9"),
                                     ("X-Forwarded-Proto", "https"),
                                     ("X-Forwarded-Host", "public.example"),
                                     ("Forwarded", "for=198.51.100.7;proto=https")])
        seen = r.echo()
        self.assertEqual(seen.header_all("X-Forwarded-For"), ["198.51.100.7, 10.200.0.9, 127.0.0.1"])
        self.assertEqual(seen.header_all("X-Forwarded-Proto"), ["https"])
        self.assertEqual(seen.header_all("X-Forwarded-Host"), ["public.example"])
        self.assertEqual(seen.header_all("Forwarded"), ["for=198.51.100.7;proto=https"])


class UntrustedPeerTest(ClientAddressTestBase):
    """trusted_proxies lists someone else: 127.0.0.1 is an ordinary client."""

    server = {"trusted_proxies": ["192.0.2.0/24"]}

    def test_forged_forwarded_for_does_not_pass_a_key_cidr(self):
        r, log = self.send("/keyed/x", [("X-API-Key", self.ten_net_key),
                                        ("X-Forwarded-For", "10.1.2.3")])
        self.assertEqual(r.status, 403, str(r))
        self.assertEqual(r.json()["error_description"], "API key may not be used from this address")
        self.assertEqual(log["reason"], "source_not_allowed", log)
        self.assertEqual(log["client_ip"], "127.0.0.1", log)

    def test_forged_forwarding_headers_are_not_passed_on(self):
        r, log = self.send("/echo/e", [("X-Forwarded-For", "10.1.2.3"),
                                       ("X-Forwarded-Proto", "https"),
                                       ("X-Forwarded-Host", "evil.example"),
                                       ("Forwarded", "for=10.1.2.3")])
        self.assertEqual(log["client_ip"], "127.0.0.1", log)
        seen = r.echo()
        self.assertEqual(seen.header_all("X-Forwarded-For"), ["127.0.0.1"])
        self.assertEqual(seen.header_all("X-Forwarded-Proto"), ["http"])
        self.assertEqual(seen.header_all("X-Forwarded-Host"), ["gateway.test"])
        self.assertEqual(seen.header_all("Forwarded"), [])

    def test_forwarding_headers_spelt_with_underscores_are_not_passed_on(self):
        """Found by an acceptance check: CGI, WSGI and Rack read X_Forwarded_For as
        X-Forwarded-For, so a client chose the address such an upstream saw."""
        r, log = self.send("/echo/e", [("X_Forwarded_For", "10.1.2.3"),
                                       ("x_forwarded_proto", "https"),
                                       ("X-Forwarded_Host", "evil.example")])
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        forwarding = [(k, v) for k, v in seen.headers
                      if k.lower().replace("_", "-").startswith("x-forwarded-")]
        self.assertEqual(sorted(forwarding), [("X-Forwarded-For", "127.0.0.1"),
                                              ("X-Forwarded-Host", "gateway.test"),
                                              ("X-Forwarded-Proto", "http")])


class ProxyProtocolTest(ClientAddressTestBase):
    """Every connection starts with a PROXY header; 192.0.2.0/24 are trusted balancers in
    front of the one that writes it."""

    server = {"proxy_protocol": True, "trusted_proxies": ["192.0.2.0/24"], "header_timeout_s": 2}

    def test_v1_header_names_the_client(self):
        r, log = self.send("/echo/v1", prefix=proxy_v1("198.51.100.7"))
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(log["client_ip"], "198.51.100.7", log)
        self.assertEqual(log["peer_ip"], "198.51.100.7", log)
        self.assertEqual(r.echo().header_all("X-Forwarded-For"), ["198.51.100.7"])

    def test_v1_tcp6_and_v2_headers_name_the_client(self):
        for prefix, client in ((proxy_v1("2001:db8::7"), "2001:db8::7"),
                               (proxy_v2("203.0.113.9"), "203.0.113.9"),
                               (proxy_v2("2001:db8::9", tlvs=b"\x02\x00\x0bapi.example"),
                                "2001:db8::9")):
            r, log = self.send("/echo/v2", prefix=prefix)
            self.assertEqual(r.status, 200, f"{prefix!r}: {r}")
            self.assertEqual(log["client_ip"], client, log)

    def test_v2_local_keeps_the_tcp_peer(self):
        r, log = self.send("/echo/local", prefix=proxy_v2(command=0x0))
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(log["client_ip"], "127.0.0.1", log)

    def test_key_cidr_uses_the_header_address(self):
        r, _ = self.send("/keyed/x", [("X-API-Key", self.ten_net_key)], prefix=proxy_v1("10.1.2.3"))
        self.assertEqual(r.status, 200, str(r))
        r, _ = self.send("/keyed/x", [("X-API-Key", self.ten_net_key)],
                         prefix=proxy_v1("203.0.113.9"))
        self.assertEqual(r.status, 403, str(r))

    def test_trusted_proxies_apply_on_top_of_the_header(self):
        # The header names a trusted balancer; the client is in its X-Forwarded-For.
        r, log = self.send("/echo/on-top", [("X-Forwarded-For", "198.51.100.7")],
                           prefix=proxy_v1("192.0.2.10"))
        self.assertEqual(log["client_ip"], "198.51.100.7", log)
        self.assertEqual(log["peer_ip"], "192.0.2.10", log)
        self.assertEqual(r.echo().header_all("X-Forwarded-For"), ["198.51.100.7, 192.0.2.10"])
        # Named as an untrusted client by the header, the same X-Forwarded-For is ignored.
        _, log = self.send("/echo/on-top", [("X-Forwarded-For", "10.1.2.3")],
                           prefix=proxy_v1("198.51.100.8"))
        self.assertEqual(log["client_ip"], "198.51.100.8", log)

    def test_one_header_serves_every_request_on_the_connection(self):
        rids = [request_id(), request_id()]
        with self.gateway.connect() as c:
            # The header and the first request in one write: the bytes after the header are
            # the request's.
            c.send(proxy_v2("203.0.113.20") + build_request("GET", "/echo/k1",
                                                            [("X-Request-Id", rids[0])]))
            self.assertEqual(c.read_response().status, 200)
            c.send(build_request("GET", "/echo/k2", [("X-Request-Id", rids[1])]))
            self.assertEqual(c.read_response().status, 200)
        for rid in rids:
            self.assertEqual(self.gateway.wait_for_access_log(rid)["client_ip"], "203.0.113.20")

    def test_split_delivery(self):
        """The header in pieces, its last piece in one write with the request's first bytes."""
        header = proxy_v1("198.51.100.30")
        for cut in (1, 6, len(header) - 1):
            rid = request_id()
            request = build_request("GET", "/echo/split", [("X-Request-Id", rid)])
            with self.gateway.connect() as c:
                c.send(header[:cut])
                time.sleep(0.05)
                c.send(header[cut:] + request[:10])
                time.sleep(0.05)
                c.send(request[10:])
                self.assertEqual(c.read_response().status, 200, f"cut at {cut}")
            self.assertEqual(self.gateway.wait_for_access_log(rid)["client_ip"], "198.51.100.30")
        v2 = proxy_v2("2001:db8::30")
        rid = request_id()
        with self.gateway.connect() as c:
            c.send(v2[:14])
            time.sleep(0.05)
            c.send(v2[14:] + build_request("GET", "/echo/split", [("X-Request-Id", rid)]))
            self.assertEqual(c.read_response().status, 200)
        self.assertEqual(self.gateway.wait_for_access_log(rid)["client_ip"], "2001:db8::30")

    def test_connection_without_a_header_is_closed_without_an_answer(self):
        before = self.proxy_errors("not_proxy_protocol")
        mark = self.gateway.output_mark()
        with self.gateway.connect() as c:
            c.send(build_request("GET", "/echo/none", [("X-Forwarded-For", "10.1.2.3")]))
            self.assert_closed_without_answer(c)
        self.gateway.wait_for_output(r"no valid PROXY protocol header \(not_proxy_protocol\)",
                                     since=mark)
        wait_until(lambda: self.proxy_errors("not_proxy_protocol") == before + 1, 5,
                   message="portcullis_proxy_protocol_errors_total{reason=not_proxy_protocol}")

    def test_garbage_is_refused(self):
        cases = (
            (b"PROXY TCP4 198.51.100.7 192.0.2.1 99999 443\r\n", "malformed"),  # port
            (b"PROXY TCP4 not-an-address 192.0.2.1 1 443\r\n", "malformed"),
            # inet_pton stops at a NUL: this was read as 198.51.100.7.
            (b"PROXY TCP4 198.51.100.7\x00 192.0.2.1 1 443\r\n", "malformed"),
            (b"PROXY TCP4 " + b"1" * 120, "too_long"),
            (V2_SIGNATURE + b"\x21\x11\xff\xff", "too_long"),  # a 64 KiB length field
            # A TLV of 9 bytes with 2 left in the header.
            (V2_SIGNATURE + b"\x21\x11\x00\x11" + b"\x00" * 12 + b"\x02\x00\x09ab", "malformed"),
            (V2_SIGNATURE + b"\x31\x11\x00\x0c" + b"\x00" * 12, "malformed"),  # version 3
            (b"\x16\x03\x01\x00\xa5\x01\x00\x00", "not_proxy_protocol"),  # a TLS ClientHello
        )
        for data, reason in cases:
            before = self.proxy_errors(reason)
            with self.subTest(data=data), self.gateway.connect() as c:
                c.send(data + build_request("GET", "/echo/garbage"))
                self.assert_closed_without_answer(c)
            wait_until(lambda: self.proxy_errors(reason) == before + 1, 5,
                       message=f"{reason} counted for {data!r}")

    def test_incomplete_header_times_out_without_an_answer(self):
        before = self.proxy_errors("timeout")
        with self.gateway.connect() as c:
            c.send(b"PROXY TCP4 198.51.100.7")
            start = time.monotonic()
            self.assert_closed_without_answer(c)
            self.assertLess(time.monotonic() - start, 4.5, "header_timeout_s is 2")
        wait_until(lambda: self.proxy_errors("timeout") == before + 1, 5,
                   message="timeout counted")


class ReloadTest(ClientAddressTestBase):
    """A reload changes trusted_proxies for the next request, and proxy_protocol for the next
    connection."""

    server = {}

    def test_reload_applies_both_settings(self):
        _, log = self.send("/echo/r", [("X-Forwarded-For", "198.51.100.7")])
        self.assertEqual(log["client_ip"], "127.0.0.1", log)
        cfg = dict(self.gateway.config)
        cfg["server"] = {**cfg["server"], "trusted_proxies": ["127.0.0.1"], "proxy_protocol": True}
        mark = self.gateway.output_mark()
        self.gateway.write_config(cfg)
        self.gateway.reload()
        self.gateway.wait_for_output("configuration reloaded", since=mark)
        _, log = self.send("/echo/r", [("X-Forwarded-For", "198.51.100.7")],
                           prefix=proxy_v1("127.0.0.1"))
        self.assertEqual(log["client_ip"], "198.51.100.7", log)
        with self.gateway.connect() as c:
            c.send(build_request("GET", "/echo/r"))
            self.assert_closed_without_answer(c)


class CheckTest(unittest.TestCase):
    """`portcullis check` accepts the settings and refuses a bad block at file:line:col."""

    def check(self, server: dict) -> tuple:
        text = to_yaml(base_config(18080, server={"listen": "127.0.0.1:18081", **server}))
        path = os.path.join(self.dir, "gateway.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([gateway_bin(), "check", "-c", path], capture_output=True, text=True,
                           timeout=20)
        return p, text, path

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="portcullis-check-addr-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_good_settings_pass(self):
        p, _, path = self.check({"trusted_proxies": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"],
                                 "proxy_protocol": True})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"{path}: ok", p.stdout)

    def test_bad_block_is_refused_at_its_position(self):
        p, text, path = self.check({"trusted_proxies": ["10.0.0.0/8", "10.0.0.1/8"]})
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        line = line_of(text, "trusted_proxies")
        col = text.splitlines()[line - 1].index('"10.0.0.1/8"') + 1
        self.assertIn(f"{path}:{line}:{col}: trusted_proxies: '10.0.0.1/8' has host bits set "
                      "(did you mean 10.0.0.0/8?)", p.stderr)

    def test_trusting_everyone_is_a_warning(self):
        p, _, _ = self.check({"trusted_proxies": ["0.0.0.0/0"]})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r"'0\.0\.0\.0/0' trusts every peer.*\(warning\)")


if __name__ == "__main__":
    unittest.main()
