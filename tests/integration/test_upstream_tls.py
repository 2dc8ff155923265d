"""TLS to upstreams end to end (issue 12, item 4): the real gateway in front of nginx serving
https with certificates made at test time (certs.py), requiring a client certificate.

The gateway verifies the upstream's certificate (its chain to ca_file, its name or IP, its
dates) and presents its own; every failed handshake is 502 with the access-log reason
upstream_tls and the reason in the gateway's log, and nothing is ever sent in clear text.
Connections are pooled (nginx sees one connection carry many requests) and sessions
resumed (nginx's $ssl_session_reused). tls_verify: false is possible, and warned about.
Config mistakes are FILE:LINE:COL at check and on SIGHUP (the old config keeps serving).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from certs import Pki
from harness import (Echo, Gateway, base_config, build_request, gateway_bin, line_of,
                     parse_prometheus, pattern_bytes, route, to_yaml, wait_until)
from nginx_tls import Nginx, Site
from tls_tools import curl


class StrictTlsServer:
    """A Python (OpenSSL) https server that refuses, in the TLS handshake itself, a client
    without a certificate from `client_ca`. TLS 1.2 only: in TLS 1.3 the client's side of the
    handshake ends before the server has judged its certificate, so the refusal would only be
    seen when the request is written or the answer read."""

    def __init__(self, chain: str, key: str, client_ca: str):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(chain, key)
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, body: bytes, kind: str = "application/json"):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                if "/big/" in self.path:  # /.../big/N: N bytes of pattern_bytes
                    return self.answer(pattern_bytes(0, int(self.path.rsplit("/", 1)[1])),
                                       "application/octet-stream")
                peer = self.connection.getpeercert() or {}
                subject = dict(x[0] for x in peer.get("subject", ()))
                self.answer(json.dumps({"client_cn": subject.get("commonName", "")}).encode())

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.answer(json.dumps({"bytes": len(body),
                                        "sha256": hashlib.sha256(body).hexdigest()}).encode())

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # refused handshakes are expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class UpstreamTlsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-UpstreamTlsTest-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        pki = Pki(cls.workdir)
        cls.ca = pki.ca("upstream-ca")
        cls.clients_ca = pki.ca("clients-ca")
        cls.other_ca = pki.ca("other-ca")
        cls.good = cls.ca.server("orders", dns=["orders.internal", "localhost"], ips=["127.0.0.1"])
        cls.expired = cls.ca.server("expired", dns=["orders.internal"], ips=["127.0.0.1"],
                                    expired=True)
        cls.wrong_name = cls.ca.server("wrong-name", dns=["billing.internal"], ips=[])
        cls.gw_cert = cls.clients_ca.client("gateway", cn="gateway.internal")
        cls.nginx = Nginx(cls.workdir, [
            Site("orders", cls.good.chain, cls.good.key, client_ca=cls.clients_ca.cert),
            Site("fresh", cls.good.chain, cls.good.key, client_ca=cls.clients_ca.cert,
                 keepalive=False),
            Site("expired", cls.expired.chain, cls.expired.key),
            Site("wrong-name", cls.wrong_name.chain, cls.wrong_name.key),
        ])
        cls.addClassCleanup(cls.nginx.stop)
        cls.strict = StrictTlsServer(cls.good.chain, cls.good.key, cls.clients_ca.cert)
        cls.addClassCleanup(cls.strict.stop)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cls.gateway = Gateway(cls.config(), cls.workdir)
        cls.addClassCleanup(cls.gateway.kill)
        cls.gateway.start()

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()

    # ---- configuration ---------------------------------------------------------------------------

    @classmethod
    def mtls(cls, port: int, **more) -> dict:
        """An https upstream on nginx, trusting the test CA, presenting the gateway's cert."""
        u = {"url": f"https://127.0.0.1:{port}", "ca_file": cls.ca.cert,
             "server_name": "orders.internal", "client_cert_file": cls.gw_cert.cert,
             "client_key_file": cls.gw_cert.key, "timeout_s": 5}
        u.update(more)
        return {k: v for k, v in u.items() if v is not None}

    @classmethod
    def upstreams(cls) -> dict:
        port = cls.nginx.port
        return {
            "orders": cls.mtls(port("orders")),
            "byip": cls.mtls(port("orders"), server_name=None),
            "byname": cls.mtls(port("orders"), server_name=None,
                               url=f"https://localhost:{port('orders')}"),
            "fresh": cls.mtls(port("fresh")),
            "nocert": cls.mtls(port("orders"), client_cert_file=None, client_key_file=None),
            "untrusted": cls.mtls(port("orders"), ca_file=cls.other_ca.cert),
            "expired": cls.mtls(port("expired")),
            "wrongname": cls.mtls(port("wrong-name")),
            "insecure": {"url": f"https://127.0.0.1:{port('wrong-name')}", "tls_verify": False},
            "strict": cls.mtls(cls.strict.port, client_cert_file=None, client_key_file=None),
            "strictok": cls.mtls(cls.strict.port),
        }

    @classmethod
    def config(cls, upstreams: dict | None = None) -> dict:
        ups = upstreams or cls.upstreams()
        routes = [route(name, upstream=name, path_prefix=f"/{name}") for name in ups]
        routes.append(route("echo", path_prefix="/echo"))
        return base_config(cls.echo.port, routes=routes, upstreams=ups)

    # ---- helpers ---------------------------------------------------------------------------------

    def get_json(self, target: str) -> dict:
        r = self.gateway.request("GET", target)
        self.assertEqual(r.status, 200, str(r))
        return r.json()

    def assert_tls_failure(self, target: str, upstream: str, logged: str) -> None:
        r = self.gateway.request("GET", target)
        self.assertEqual(r.status, 502, str(r))
        self.assertEqual(r.json()["error"], "bad_gateway")
        entry = self.gateway.wait_for_access_log(r.header("X-Request-Id"))
        self.assertEqual(entry["reason"], "upstream_tls", entry)
        self.assertEqual(entry["upstream"], upstream)
        self.gateway.wait_for_output(
            rf"upstream '{upstream}': TLS handshake with 127\.0\.0\.1:\d+ failed: .*{logged}")
        # Nothing reached nginx: no request, and no clear-text attempt on its TLS port.
        time.sleep(0.2)  # a line nginx would write comes shortly after its answer
        self.assertEqual([e for e in self.nginx.access_log() if e["uri"] == target], [])
        self.assertNotIn("plain HTTP request", self.nginx.errors())

    # ---- tests -----------------------------------------------------------------------------------

    def test_reaches_the_upstream_with_its_client_certificate(self):
        seen = self.get_json("/orders/a?x=1")
        self.assertEqual(seen["site"], "orders")
        self.assertEqual(seen["uri"], "/orders/a?x=1")
        self.assertEqual(seen["client_verify"], "SUCCESS")
        self.assertIn("CN=gateway.internal", seen["client_dn"])
        self.assertEqual(seen["sni"], "orders.internal")
        self.assertEqual(seen["host"], f"127.0.0.1:{self.nginx.port('orders')}")
        # X-Forwarded-Proto stays what the client used.
        self.assertEqual(seen["xfp"], "http")
        self.assertIn(seen["protocol"], ("TLSv1.2", "TLSv1.3"))

    def test_the_name_checked_is_the_urls_host_without_server_name(self):
        by_ip = self.get_json("/byip/x")
        self.assertEqual(by_ip["sni"], "", "an IP address is never sent as SNI")
        self.assertIn("CN=gateway.internal", by_ip["client_dn"])
        by_name = self.get_json("/byname/x")
        self.assertEqual(by_name["sni"], "localhost")

    def test_no_client_certificate_is_a_502(self):
        # nginx refuses at the HTTP level (ssl_verify_client on, answered 444: closed).
        r = self.gateway.request("GET", "/nocert/x")
        self.assertEqual(r.status, 502, str(r))
        entry = self.gateway.wait_for_access_log(r.header("X-Request-Id"))
        self.assertEqual(entry["reason"], "upstream_read_failed", entry)
        refused = self.nginx.wait_for_requests("orders", "/nocert/x", 1)
        self.assertEqual([(e["status"], e["client_verify"]) for e in refused], [(444, "NONE")])
        # A server that refuses in the handshake (TLS 1.2): reason upstream_tls, and the
        # server's alert in the gateway's log.
        r = self.gateway.request("GET", "/strict/x")
        self.assertEqual(r.status, 502, str(r))
        entry = self.gateway.wait_for_access_log(r.header("X-Request-Id"))
        self.assertEqual(entry["reason"], "upstream_tls", entry)
        self.gateway.wait_for_output(r"upstream 'strict': TLS handshake with 127\.0\.0\.1:\d+ "
                                     r"failed: .*alert")
        # The same server with the gateway's certificate.
        self.assertEqual(self.get_json("/strictok/x")["client_cn"], "gateway.internal")

    def test_large_bodies_both_ways_over_tls(self):
        # Pieces larger than the gateway's coalescing threshold, on one kept-alive connection.
        body = os.urandom(300 * 1024)
        with self.gateway.connect() as c:
            c.send(build_request("POST", "/strictok/upload", body=body))
            r = c.read_response("POST")
            self.assertEqual(r.status, 200, str(r))
            self.assertEqual(r.json(), {"bytes": len(body),
                                        "sha256": hashlib.sha256(body).hexdigest()})
            c.send(build_request("GET", "/strictok/big/1000000"))
            r = c.read_response("GET")
            self.assertEqual(r.status, 200, str(r))
            self.assertEqual(r.body, pattern_bytes(0, 1000000))
            c.send(build_request("POST", "/strictok/small", body=b"x" * 100))
            self.assertEqual(c.read_response("POST").json()["bytes"], 100)

    def test_an_untrusted_certificate_is_a_502(self):
        self.assert_tls_failure("/untrusted/x", "untrusted", "unable to get local issuer")

    def test_an_expired_certificate_is_a_502(self):
        self.assert_tls_failure("/expired/x", "expired", "certificate has expired")

    def test_a_certificate_for_another_name_is_a_502(self):
        self.assert_tls_failure("/wrongname/x", "wrongname", "hostname mismatch")

    def test_tls_failures_are_counted(self):
        self.gateway.request("GET", "/untrusted/count")
        samples = parse_prometheus(self.gateway.metrics())
        counted = [v for n, labels, v in samples
                   if n == "portcullis_upstream_errors_total"
                   and labels.get("upstream") == "untrusted" and labels.get("kind") == "upstream_tls"]
        self.assertTrue(counted and counted[0] >= 1, counted)

    def test_verification_off_reaches_a_wrong_certificate_and_is_warned_about(self):
        seen = self.get_json("/insecure/x")
        self.assertEqual(seen["site"], "wrong-name")
        text = to_yaml(self.gateway.config)
        line = line_of(text, "  insecure:")
        warning = (rf"gateway\.yaml:{line}:\d+: tls_verify: false: the certificate of upstream "
                   r"'insecure' is not verified")
        self.assertRegex(self.gateway.stderr_text(), warning)
        r = subprocess.run([gateway_bin(), "check", "-c", self.gateway.config_path],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, warning + r".*\(warning\)")

    def test_connections_are_pooled_and_kept_alive(self):
        for i in range(5):
            self.get_json(f"/orders/pool/{i}")
        mine = self.nginx.wait_for_requests("orders", "/orders/pool/", 5)
        self.assertEqual(len(mine), 5, mine)
        self.assertEqual(len({e["connection"] for e in mine}), 1, mine)
        counts = [int(e["requests"]) for e in mine]
        self.assertEqual(counts, list(range(counts[0], counts[0] + 5)), mine)

    def test_sessions_are_resumed_on_new_connections(self):
        # The "fresh" site closes every connection after one request.
        for i in range(4):
            self.get_json(f"/fresh/{i}")
        mine = self.nginx.wait_for_requests("fresh", "/fresh/", 4)
        self.assertEqual(len({e["connection"] for e in mine}), len(mine), mine)
        self.assertEqual([e["reused"] for e in mine[1:]], ["r"] * (len(mine) - 1), mine)

    def test_plain_upstreams_are_unchanged(self):
        r = self.gateway.request("GET", "/echo/x")
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.echo().header("X-Forwarded-Proto"), "http")


class UpstreamTlsConfigTest(unittest.TestCase):
    """Mistakes in the TLS settings: FILE:LINE:COL from check, and on SIGHUP the old config
    keeps serving; a reload that changes the TLS settings is applied to new connections only
    (a pooled connection verified under the old settings is not reused)."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-UpstreamTlsConfigTest-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        pki = Pki(cls.workdir)
        cls.ca = pki.ca("ca")
        cls.other_ca = pki.ca("other")
        cls.server = cls.ca.server("orders", dns=["orders.internal"], ips=["127.0.0.1"])
        cls.gw = cls.ca.client("gw", cn="gw")
        cls.stranger = cls.ca.client("stranger", cn="stranger")
        cls.nginx = Nginx(cls.workdir, [Site("orders", cls.server.chain, cls.server.key,
                                             client_ca=cls.ca.cert)])
        cls.addClassCleanup(cls.nginx.stop)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)

    def config(self, **tls) -> dict:
        u = {"url": f"https://127.0.0.1:{self.nginx.port('orders')}", "ca_file": self.ca.cert,
             "client_cert_file": self.gw.cert, "client_key_file": self.gw.key}
        u.update(tls)
        u = {k: v for k, v in u.items() if v is not None}
        return base_config(self.echo.port, routes=[route("orders", upstream="orders",
                                                         path_prefix="/")],
                           upstreams={"orders": u})

    def check(self, cfg: dict) -> tuple:
        path = os.path.join(self.workdir, f"check-{self.id().rsplit('.', 1)[-1]}.yaml")
        text = to_yaml(cfg)
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([gateway_bin(), "check", "-c", path], capture_output=True, text=True,
                           timeout=10)
        return r, text, path

    def test_check_reports_each_mistake_at_its_position(self):
        cfg = self.config(client_key_file=self.stranger.key)
        r, text, path = self.check(cfg)
        self.assertEqual(r.returncode, 1, r.stderr)
        line = line_of(text, "  orders: {")
        col = text.splitlines()[line - 1].index(f'"{self.stranger.key}"') + 1
        self.assertIn(f"{path}:{line}:{col}: upstream 'orders': client_key_file "
                      f"{self.stranger.key} is not the key of client_cert_file {self.gw.cert}",
                      r.stderr)
        self.assertNotIn("PRIVATE KEY", r.stderr)
        # `run` refuses to start with the same message.
        ran = subprocess.run([gateway_bin(), "run", "-c", path], capture_output=True, text=True,
                             timeout=10)
        self.assertEqual(ran.returncode, 1, ran.stderr)
        self.assertIn(f"{path}:{line}:{col}: upstream 'orders': client_key_file", ran.stderr)

        r, text, path = self.check(self.config(ca_file=os.path.join(self.workdir, "none.pem")))
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, rf"{path}:{line}:\d+: ca_file .*none\.pem: cannot read")

        r, text, path = self.check(self.config(client_key_file=None))
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, rf"{path}:{line}:\d+: upstream 'orders': 'client_cert_file' "
                                   r"needs 'client_key_file' as well")

        plain = self.config()
        plain["upstreams"]["orders"]["url"] = f"http://127.0.0.1:{self.nginx.port('orders')}"
        r, text, path = self.check(plain)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, rf"{path}:{line}:\d+: 'ca_file' applies to TLS only: upstream "
                                   r"'orders' needs an https:// url")

    def test_tls_end_to_end(self):
        """curl --TLS--> the gateway's TLS listener --mutual TLS--> nginx: the upstream sees
        the gateway's certificate and X-Forwarded-Proto: https."""
        listener = self.ca.server("gateway-listener", dns=["localhost"], ips=["127.0.0.1"])
        cfg = self.config()
        cfg["server"]["tls"] = {"certificates": [{"cert_file": listener.chain,
                                                  "key_file": listener.key}]}
        os.makedirs(os.path.join(self.workdir, "e2e"))
        gw = Gateway(cfg, os.path.join(self.workdir, "e2e"))
        self.addCleanup(gw.kill)
        gw.start()
        r = curl(gw.port, "/e2e", ca=self.ca.cert)
        self.assertEqual(r.status, 200, r.stderr)
        seen = r.json()
        self.assertEqual(seen["xfp"], "https")
        self.assertIn("CN=gw", seen["client_dn"])
        self.assertEqual(seen["uri"], "/e2e")
        gw.stop()

    def test_the_example_config_checks(self):
        """examples/tls-upstreams.yaml, with its certs/ made here, passes `portcullis check`."""
        example = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                               "tls-upstreams.yaml")
        folder = os.path.join(self.workdir, "example")
        os.makedirs(os.path.join(folder, "certs"))
        shutil.copy(example, folder)
        shutil.copy(self.ca.cert, os.path.join(folder, "certs", "internal-ca.pem"))
        shutil.copy(self.gw.cert, os.path.join(folder, "certs", "gw.pem"))
        shutil.copy(self.gw.key, os.path.join(folder, "certs", "gw.key"))
        r = subprocess.run([gateway_bin(), "check", "-c",
                            os.path.join(folder, "tls-upstreams.yaml")],
                           capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, INTROSPECTION_SECRET="example-secret"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("warning", r.stderr)

    def test_reload_refuses_a_broken_file_and_applies_new_settings(self):
        os.makedirs(os.path.join(self.workdir, "reload"))
        gw = Gateway(self.config(), os.path.join(self.workdir, "reload"))
        self.addCleanup(gw.kill)
        gw.start()
        self.assertEqual(gw.request("GET", "/a").status, 200)

        # A CA file that holds no certificate: refused at its position, the old one serves.
        broken = os.path.join(self.workdir, "broken-ca.pem")
        with open(broken, "w") as f:
            f.write("not a certificate\n")
        mark = gw.output_mark()
        text = gw.write_config(self.config(ca_file=broken))
        gw.reload()
        line = line_of(text, "  orders: {")
        gw.wait_for_output(rf"gateway\.yaml:{line}:\d+: upstream 'orders': ca_file .*broken-ca"
                           r"\.pem: no PEM certificate in it", since=mark)
        gw.wait_for_output("reload refused", since=mark)
        self.assertEqual(gw.request("GET", "/b").status, 200)

        # Another CA: the pooled connection (verified under the old CA) is not reused.
        mark = gw.output_mark()
        gw.write_config(self.config(ca_file=self.other_ca.cert))
        gw.reload()
        gw.wait_for_output("configuration reloaded", since=mark)
        r = gw.request("GET", "/c")
        self.assertEqual(r.status, 502, str(r))
        self.assertEqual(gw.wait_for_access_log(r.header("X-Request-Id"))["reason"],
                         "upstream_tls")
        gw.stop()


if __name__ == "__main__":
    unittest.main()
