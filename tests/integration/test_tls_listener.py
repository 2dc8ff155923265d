"""TLS on the listener (server.tls), driven by real clients: curl and `openssl s_client`.
Certificates are made at test time (certs.py). Covers SNI selection with exact and wildcard
names and the fallback to the first certificate, whole chains, TLS 1.1 refused and 1.3
working, ALPN http/1.1, no compression, session resumption, X-Forwarded-Proto: https, a
plain-HTTP request on the TLS port never proxied, and reloads of certificates (a new one seen
by new connections, a broken one refused while the old one keeps serving)."""

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

from certs import Pki
from harness import (Echo, Gateway, RawConnection, base_config, build_request, gateway_bin,
                     parse_prometheus, wait_until)
from tls_tools import curl, http_get, s_client


def metric(gateway, name, **labels):
    """The sum of the series of `name` whose labels include `labels` (0 when none)."""
    return sum(v for n, ls, v in parse_prometheus(gateway.metrics())
               if n == name and all(ls.get(k) == val for k, val in labels.items()))


def tls_config(echo_port, certificates, **tls):
    cfg = base_config(echo_port)
    cfg["server"]["tls"] = {"certificates": certificates, **tls}
    return cfg


class TlsGatewayCase(unittest.TestCase):
    """A PKI, echo and a gateway with server.tls, once per class."""

    @classmethod
    def make_pki(cls):
        raise NotImplementedError

    @classmethod
    def tls_settings(cls) -> dict:
        return {}

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix=f"portcullis-{cls.__name__}-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        cls.pki = Pki(cls.workdir)
        certificates = cls.make_pki()
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cfg = tls_config(cls.echo.port, certificates, **cls.tls_settings())
        cfg["server"].update(getattr(cls, "extra_server", {}))
        cls.gateway = Gateway(cfg, cls.workdir)
        cls.addClassCleanup(cls.gateway.kill)
        cls.gateway.start()

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()


class TlsListenerTest(TlsGatewayCase):

    @classmethod
    def make_pki(cls):
        cls.root = cls.pki.ca("root-ca")
        issuing = cls.root.intermediate("issuing-ca")
        # The default certificate comes through an intermediate: its chain must go out whole.
        cls.api = issuing.server("api", dns=["api.example.test", "localhost"])
        cls.partner = cls.root.server("partner", dns=["partner.example.test"])
        # No server_names: the wildcard DNS name in the certificate is used.
        cls.wild = cls.root.server("wild", dns=["*.wild.example.test"], ips=[])
        return [{"cert_file": cls.api.chain, "key_file": cls.api.key},
                {"cert_file": cls.partner.cert, "key_file": cls.partner.key,
                 "server_names": ["partner.example.test"]},
                {"cert_file": cls.wild.cert, "key_file": cls.wild.key}]

    def handshake(self, servername=None, args=(), send=b""):
        return s_client(self.gateway.port, self.root.root, servername, args, send)

    def new_session(self, servername, flag, file):
        """A full handshake for `servername` whose session is saved to workdir/`file`; the
        file's path and the handshake."""
        path = os.path.join(self.workdir, file)
        first = self.handshake(servername, [flag, "-sess_out", path],
                               http_get(servername or "x"))
        self.assertFalse(first.reused, first.output[-3000:])
        return path, first

    def test_sni_picks_the_certificate_and_falls_back_to_the_first(self):
        """SNI: an exact server_names entry, a '*.' name from the certificate itself, and the
        first certificate for an unknown name or no SNI at all."""
        cases = [("partner.example.test", "partner.example.test"),
                 ("PARTNER.example.test", "partner.example.test"),
                 ("a.wild.example.test", "*.wild.example.test"),
                 ("a.b.wild.example.test", "api.example.test"),
                 ("unknown.example.test", "api.example.test"),
                 (None, "api.example.test")]
        for servername, cn in cases:
            with self.subTest(servername=servername):
                h = self.handshake(servername)
                self.assertEqual(h.subject_cn, cn, h.output[-3000:])

    def test_whole_chain_is_sent(self):
        """The intermediate in cert_file goes out with the leaf: a client trusting only the
        root verifies the chain."""
        h = self.handshake("api.example.test", ["-verify_hostname", "api.example.test"])
        self.assertTrue(h.ok, h.output[-3000:])
        self.assertEqual(h.chain_length, 2, h.output[-3000:])
        self.assertIn("Verify return code: 0 (ok)", h.output)

    def test_curl_gets_an_answer_and_upstream_sees_https(self):
        """curl over TLS reaches the upstream; the upstream is told X-Forwarded-Proto: https
        (a client's own value is replaced)."""
        r = curl(self.gateway.port, "/echo/tls", self.root.root, host="api.example.test",
                 headers=[("X-Forwarded-Proto", "http")])
        self.assertEqual(r.exit_code, 0, r.stderr)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.echo_headers("X-Forwarded-Proto"), ["https"])
        self.assertEqual(r.json()["path"], "/echo/tls")

    def test_tls13_works_and_tls12_too(self):
        for flag, version in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
            with self.subTest(version=version):
                h = self.handshake("api.example.test", [flag], http_get("api.example.test"))
                self.assertEqual(h.version, version, h.output[-3000:])
                self.assertIn("HTTP/1.1 200", h.output)

    def test_tls11_and_older_are_refused(self):
        """The client offers TLS 1.1 (and 1.0) only, with its own security level lowered so
        that it really offers them: the gateway refuses the handshake."""
        before = metric(self.gateway, "portcullis_tls_handshake_failures_total",
                        reason="protocol_version")
        for flag in ("-tls1_1", "-tls1"):
            with self.subTest(flag=flag):
                h = self.handshake("api.example.test", [flag, "-cipher", "DEFAULT@SECLEVEL=0"],
                                   http_get("api.example.test"))
                self.assertFalse(h.ok, h.output[-3000:])
                self.assertNotIn("HTTP/1.1", h.output)
        wait_until(lambda: metric(self.gateway, "portcullis_tls_handshake_failures_total",
                                  reason="protocol_version") >= before + 2, 5,
                   message="the refusals to be counted as protocol_version")

    def test_alpn_offers_http11_only(self):
        h = self.handshake("api.example.test", ["-alpn", "h2,http/1.1"])
        self.assertEqual(h.alpn, "http/1.1", h.output[-3000:])
        before = metric(self.gateway, "portcullis_tls_handshake_failures_total",
                        reason="no_application_protocol")
        h2 = self.handshake("api.example.test", ["-alpn", "h2"])
        self.assertFalse(h2.ok, h2.output[-3000:])
        wait_until(lambda: metric(self.gateway, "portcullis_tls_handshake_failures_total",
                                  reason="no_application_protocol") > before, 5,
                   message="the ALPN refusal to be counted")

    def test_no_compression(self):
        h = self.handshake("api.example.test", ["-tls1_2"])
        self.assertIn("Compression: NONE", h.output)

    def test_client_renegotiation_is_refused(self):
        """A TLS 1.2 client asks to renegotiate ('R' typed to s_client): the gateway answers
        with the no_renegotiation alert and the connection ends."""
        p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{self.gateway.port}",
                              "-servername", "api.example.test", "-tls1_2"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.addCleanup(p.kill)
        seen = b""
        # The session summary ends with the verification result: the handshake is done.
        while b"Verify return code" not in seen:
            line = p.stdout.readline()
            if not line:
                break
            seen += line
        p.stdin.write(b"R\n")
        p.stdin.flush()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("the connection stayed open after a renegotiation request")
        out = (seen + p.stdout.read()).decode("utf-8", "replace")
        p.stdin.close()
        p.stdout.close()
        self.assertIn("New, TLSv1.2", out)
        self.assertIn("RENEGOTIATING", out)
        self.assertIn("no renegotiation", out)

    def test_sessions_resume(self):
        """s_client -sess_out, then -sess_in: the second handshake reuses the session, in
        TLS 1.3 (tickets into the server's cache) and TLS 1.2 (session id)."""
        for flag in ("-tls1_3", "-tls1_2"):
            with self.subTest(version=flag):
                sess, first = self.new_session("api.example.test", flag, f"session{flag}.pem")
                self.assertIn("HTTP/1.1 200", first.output)
                second = self.handshake("api.example.test", [flag, "-sess_in", sess],
                                        http_get("api.example.test"))
                self.assertTrue(second.reused, second.output[-3000:])
                self.assertIn("HTTP/1.1 200", second.output)
        self.assertGreaterEqual(metric(self.gateway, "portcullis_tls_handshakes_total",
                                       resumed="true"), 2)

    def test_a_session_resumes_only_for_the_name_it_was_made_for(self):
        """RFC 6066 §3: a session made for one server name is not resumed for another, even
        one the same certificate serves, nor without a name; the same name in other letter
        case resumes it."""
        for flag in ("-tls1_3", "-tls1_2"):
            with self.subTest(version=flag):
                sess, _ = self.new_session("api.example.test", flag, f"named-session{flag}.pem")
                for other in ("partner.example.test", "localhost", None):
                    again = self.handshake(other, [flag, "-sess_in", sess], http_get("x"))
                    self.assertTrue(again.ok, again.output[-3000:])
                    self.assertFalse(again.reused, f"{other}: " + again.output[-3000:])
                same = self.handshake("API.Example.Test", [flag, "-sess_in", sess],
                                      http_get("api.example.test"))
                self.assertTrue(same.reused, same.output[-3000:])
                self.assertIn("HTTP/1.1 200", same.output)
                # A session made without a name is not one for the name "." either.
                unnamed, _ = self.new_session(None, flag, f"unnamed-session{flag}.pem")
                dot = self.handshake(".", [flag, "-sess_in", unnamed], http_get("x"))
                self.assertFalse(dot.reused, dot.output[-3000:])
                again = self.handshake(None, [flag, "-sess_in", unnamed], http_get("x"))
                self.assertTrue(again.reused, again.output[-3000:])

    def test_plain_http_on_the_tls_port_is_never_proxied(self):
        """A request in clear text gets no HTTP answer (the handshake fails and the
        connection closes) and never reaches a route."""
        before = metric(self.gateway, "portcullis_tls_handshake_failures_total",
                        reason="http_request")
        with RawConnection(self.gateway.port, timeout=5) as c:
            c.send(build_request("GET", "/echo/plain-marker"))
            received = b""
            try:
                while True:
                    chunk = c.sock.recv(65536)
                    if not chunk:
                        break
                    received += chunk
            except (ConnectionResetError, socket.timeout):
                pass
        self.assertNotIn(b"HTTP/", received)
        self.assertNotIn(b"plain-marker", received)
        wait_until(lambda: metric(self.gateway, "portcullis_tls_handshake_failures_total",
                                  reason="http_request") > before, 5,
                   message="the clear-text request to be counted")
        self.assertFalse([e for e in self.gateway.access_log()
                          if "plain-marker" in e.get("path", "")])


class TlsMinVersionTest(TlsGatewayCase):

    @classmethod
    def make_pki(cls):
        cls.root = cls.pki.ca("root-ca")
        cls.api = cls.root.server("api", dns=["api.example.test"])
        return [{"cert_file": cls.api.cert, "key_file": cls.api.key}]

    @classmethod
    def tls_settings(cls):
        return {"min_version": "1.3", "session_timeout_s": 0}

    def test_session_timeout_0_turns_resumption_off(self):
        """No ticket is sent, so the client has no session to save and resume."""
        sess = os.path.join(self.workdir, "session.pem")
        first = s_client(self.gateway.port, self.root.root, "api.example.test",
                         ["-sess_out", sess], http_get("api.example.test"))
        self.assertIn("HTTP/1.1 200", first.output)
        self.assertFalse(os.path.exists(sess), "the gateway gave the client a session to resume")

    def test_min_version_13_refuses_tls12(self):
        h12 = s_client(self.gateway.port, self.root.root, "api.example.test", ["-tls1_2"])
        self.assertFalse(h12.ok, h12.output[-3000:])
        h13 = s_client(self.gateway.port, self.root.root, "api.example.test", ["-tls1_3"],
                       http_get("api.example.test"))
        self.assertEqual(h13.version, "TLSv1.3", h13.output[-3000:])
        self.assertIn("HTTP/1.1 200", h13.output)


class TlsBehindProxyProtocolTest(TlsGatewayCase):
    """server.proxy_protocol with TLS: the PROXY header comes in clear, then the handshake.
    A balancer may send the header and the ClientHello in one packet: the bytes read with the
    header are the start of the handshake."""

    @classmethod
    def make_pki(cls):
        cls.root = cls.pki.ca("root-ca")
        cls.api = cls.root.server("api", dns=["api.example.test"])
        return [{"cert_file": cls.api.cert, "key_file": cls.api.key}]

    @classmethod
    def setUpClass(cls):
        cls.extra_server = {"proxy_protocol": True}
        super().setUpClass()

    def exchange(self, coalesce):
        ctx = ssl.create_default_context(cafile=self.root.root)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="api.example.test")
        header = b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n"
        with socket.create_connection(("127.0.0.1", self.gateway.port), timeout=10) as sock:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            hello = outgoing.read()
            if coalesce:
                sock.sendall(header + hello)  # one write: the header and the ClientHello
            else:
                sock.sendall(header)
                sock.sendall(hello)
            while True:
                data = sock.recv(65536)
                self.assertTrue(data, "the gateway closed the connection during the handshake")
                incoming.write(data)
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    pass
                finally:
                    pending = outgoing.read()
                    if pending:
                        sock.sendall(pending)
            tls.write(http_get("api.example.test", "/echo/behind-proxy"))
            sock.sendall(outgoing.read())
            answer = b""
            closed = False
            while not closed:
                data = sock.recv(65536)
                if not data:
                    break
                incoming.write(data)
                while True:
                    try:
                        piece = tls.read(65536)
                    except ssl.SSLWantReadError:
                        break
                    except ssl.SSLZeroReturnError:  # close_notify: the answer is complete
                        closed = True
                        break
                    if not piece:
                        closed = True
                        break
                    answer += piece
        return answer

    def test_header_and_client_hello_in_one_packet(self):
        for coalesce in (True, False):
            with self.subTest(coalesce=coalesce):
                answer = self.exchange(coalesce)
                self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:300])
        def both_logged():
            found = [e for e in self.gateway.access_log() if e.get("path") == "/echo/behind-proxy"]
            return found if len(found) >= 2 else None
        entries = wait_until(both_logged, 5, message="both requests in the access log")
        self.assertEqual(len(entries), 2)
        self.assertEqual({e["client_ip"] for e in entries}, {"203.0.113.7"})


class TlsReloadTest(TlsGatewayCase):
    """SIGHUP re-reads certificate and key files."""

    @classmethod
    def make_pki(cls):
        cls.root = cls.pki.ca("root-ca")
        first = cls.root.server("api-v1", dns=["api.example.test"], cn="api-v1")
        # The files the config names; tests overwrite them.
        cls.cert_path = os.path.join(cls.workdir, "api.pem")
        cls.key_path = os.path.join(cls.workdir, "api.key")
        shutil.copy(first.cert, cls.cert_path)
        shutil.copy(first.key, cls.key_path)
        return [{"cert_file": cls.cert_path, "key_file": cls.key_path}]

    def cn_now(self):
        return s_client(self.gateway.port, self.root.root, "api.example.test").subject_cn

    def install(self, cert):
        shutil.copy(cert.cert, self.cert_path)
        shutil.copy(cert.key, self.key_path)

    def reload_and_wait(self, pattern):
        mark = self.gateway.output_mark()
        self.gateway.reload()
        return self.gateway.wait_for_output(pattern, 10, since=mark)

    def open_tls(self):
        ctx = ssl.create_default_context(cafile=self.root.root)
        raw = socket.create_connection(("127.0.0.1", self.gateway.port), timeout=10)
        return ctx.wrap_socket(raw, server_hostname="api.example.test")

    @staticmethod
    def keep_alive_get(conn, path):
        conn.sendall(build_request("GET", path))
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        while len(body) < length:
            body += conn.recv(65536)
        return int(head.split()[1])

    def test_1_new_certificate_seen_by_new_connections(self):
        self.assertEqual(self.cn_now(), "api-v1")
        kept = self.open_tls()
        self.addCleanup(kept.close)
        self.assertEqual(self.keep_alive_get(kept, "/echo/before"), 200)
        self.install(self.root.server("api-v2", dns=["api.example.test"], cn="api-v2"))
        self.reload_and_wait(r"configuration reloaded")
        self.assertEqual(self.cn_now(), "api-v2")
        # A connection made before the reload carries on with its session.
        self.assertEqual(self.keep_alive_get(kept, "/echo/after"), 200)

    def test_2_broken_certificate_keeps_the_old_one_serving(self):
        before = self.cn_now()
        with open(self.cert_path, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
        m = self.reload_and_wait(r"reload refused")
        out = self.gateway.output()
        self.assertRegex(out, r"gateway\.yaml:\d+:\d+: cert_file .*api\.pem")
        self.assertEqual(self.cn_now(), before)
        r = curl(self.gateway.port, "/echo/still", self.root.root, host="api.example.test")
        self.assertEqual(r.status, 200, r.stderr)
        self.assertTrue(m)

    def test_3_key_that_does_not_match_is_refused(self):
        before = self.cn_now()
        other = self.root.server("api-v3", dns=["api.example.test"], cn="api-v3")
        shutil.copy(other.cert, self.cert_path)  # the key stays the old one
        mark = self.gateway.output_mark()
        self.gateway.reload()
        self.gateway.wait_for_output(r"reload refused", 10, since=mark)
        self.assertRegex(self.gateway.output_since(mark),
                         r"gateway\.yaml:\d+:\d+: key_file .*api\.key does not match")
        self.assertEqual(self.cn_now(), before)


class TlsCheckTest(unittest.TestCase):
    """`portcullis check` on server.tls: the key matches its certificate, the files are
    readable, a certificate expiring within 14 days (or expired) is warned about; errors and
    warnings carry FILE:LINE:COL; a key's content is never printed."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="portcullis-tls-check-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        pki = Pki(cls.dir)
        ca = pki.ca("root-ca")
        cls.good = ca.server("good", dns=["api.example.test"])
        cls.other = ca.server("other", dns=["other.example.test"])
        cls.soon = ca.server("soon", dns=["soon.example.test"], days=5)
        cls.old = ca.server("old", dns=["old.example.test"], expired=True)

    def check(self, cert, key, name="tls.yaml", extra=""):
        text = ("server:\n"
                "  listen: 127.0.0.1:18443\n"
                "  tls:\n"
                "    certificates:\n"
                f"      - cert_file: {cert}\n"
                f"        key_file: {key}\n"
                f"{extra}"
                "admin: { listen: 127.0.0.1:18444 }\n"
                "upstreams:\n  echo: { url: http://127.0.0.1:9 }\n"
                "routes:\n  - { name: all, match: { path_prefix: / }, upstream: echo, "
                "auth: none }\n")
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([gateway_bin(), "check", "-c", path], capture_output=True,
                           text=True, timeout=20)
        return p.returncode, p.stdout + p.stderr

    def test_good_files_pass(self):
        rc, out = self.check(self.good.cert, self.good.key)
        self.assertEqual(rc, 0, out)
        self.assertNotIn("warning", out)

    def test_key_that_does_not_match_is_an_error_at_the_key(self):
        rc, out = self.check(self.good.cert, self.other.key, "mismatch.yaml")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"mismatch\.yaml:6:19: key_file .*other/key\.pem does not match "
                              r"cert_file .*good/cert\.pem")
        with open(self.other.key) as f:
            for line in f.read().splitlines():
                if "-----" not in line:
                    self.assertNotIn(line, out)

    def test_unreadable_files_are_errors_at_their_lines(self):
        missing = os.path.join(self.dir, "missing.pem")
        rc, out = self.check(missing, self.dir, "unreadable.yaml")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"unreadable\.yaml:5:20: cert_file .*missing\.pem: cannot read")
        self.assertRegex(out, r"unreadable\.yaml:6:19: key_file .*: cannot read: ")

    def test_not_pem_key_is_an_error_and_its_content_is_not_printed(self):
        key = os.path.join(self.dir, "garbage.key")
        with open(key, "w") as f:
            f.write("this-is-secret-material-0123456789\n")
        rc, out = self.check(self.good.cert, key, "garbage.yaml")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"garbage\.yaml:6:19: key_file .*garbage\.key: (no|not a) PEM private key")
        self.assertNotIn("this-is-secret-material", out)

    def test_certificate_expiring_within_14_days_is_a_warning(self):
        rc, out = self.check(self.soon.cert, self.soon.key, "soon.yaml")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"soon\.yaml:5:20: cert_file .*soon/cert\.pem expires on "
                              r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in [45] days\).*\(warning\)")

    def test_expired_certificate_is_a_warning(self):
        rc, out = self.check(self.old.cert, self.old.key, "old.yaml")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"old\.yaml:5:20: cert_file .*old/cert\.pem has expired")

    def test_example_config_checks(self):
        """examples/tls.yaml is valid once its certificate files exist."""
        here = os.path.join(self.dir, "example")
        os.makedirs(os.path.join(here, "certs"))
        shutil.copy(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "tls.yaml"),
                    here)
        ca = Pki(here).ca("example-ca")
        for name, cert in (("api", self.good), ("partner", ca.server("partner"))):
            shutil.copy(cert.cert, os.path.join(here, "certs", f"{name}.pem"))
            shutil.copy(cert.key, os.path.join(here, "certs", f"{name}.key"))
        shutil.copy(ca.cert, os.path.join(here, "certs", "clients-ca.pem"))
        p = subprocess.run([gateway_bin(), "check", "-c", os.path.join(here, "tls.yaml")],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("warning", p.stdout + p.stderr)

    def test_client_ca_file_without_certificates_is_an_error(self):
        ca = os.path.join(self.dir, "empty-ca.pem")
        with open(ca, "w") as f:
            f.write("no certificates here\n")
        rc, out = self.check(self.good.cert, self.good.key, "ca.yaml",
                             f"    client_ca_file: {ca}\n    client_cert: optional\n")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"ca\.yaml:7:21: client_ca_file .*empty-ca\.pem: no PEM certificate")


if __name__ == "__main__":
    unittest.main()
