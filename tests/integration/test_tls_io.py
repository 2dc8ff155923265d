"""How the TLS listener moves bytes: what an idle TLS connection costs in memory (OpenSSL runs
over the socket with no buffer of the gateway's own, SSL_MODE_RELEASE_BUFFERS frees record
buffers when idle), and a small answer leaving as one TLS record (head and body coalesced,
not a record each)."""

import ssl
import socket
import struct
import subprocess
import time
import unittest

from harness import RawConnection, build_request, gateway_bin, proc_status_kib
from test_tls_listener import TlsGatewayCase

IDLE_CONNECTIONS = 400


def sanitized_build() -> bool:
    """ASan keeps freed memory in quarantine and pads every allocation: its RSS says little."""
    out = subprocess.run(["ldd", gateway_bin()], capture_output=True, text=True).stdout
    return "libasan" in out


class ApiCertCase(TlsGatewayCase):
    """A listener with one certificate for api.example.test, and TLS connections to it."""

    @classmethod
    def make_pki(cls):
        cls.root = cls.pki.ca("root-ca")
        cls.api = cls.root.server("api", dns=["api.example.test"])
        return [{"cert_file": cls.api.cert, "key_file": cls.api.key}]

    def client_context(self):
        return ssl.create_default_context(cafile=self.root.root)

    def tls_connection(self, ctx=None):
        c = RawConnection(self.gateway.port)
        ctx = ctx or self.client_context()
        c.sock = ctx.wrap_socket(c.sock, server_hostname="api.example.test")
        return c


class TlsIoTest(ApiCertCase):

    def test_idle_tls_connections_hold_little_memory(self):
        ctx = self.client_context()
        pid = self.gateway.pid
        # Warm up: the allocator's arenas and the session cache's first entries.
        with self.tls_connection(ctx) as c:
            c.send(build_request("GET", "/echo/warm", host="api.example.test"))
            self.assertEqual(c.read_response().status, 200)
        before = proc_status_kib(pid, "VmRSS")
        conns = []
        try:
            for i in range(IDLE_CONNECTIONS):
                c = self.tls_connection(ctx)
                conns.append(c)
                c.send(build_request("GET", f"/echo/idle/{i}", host="api.example.test"))
                self.assertEqual(c.read_response().status, 200)
            time.sleep(0.5)
            grown = proc_status_kib(pid, "VmRSS") - before
            # An idle connection gave its buffers back: it must still serve (under ASan a
            # buffer used after it was released would show here).
            for i, c in enumerate(conns[::10]):
                c.send(build_request("GET", f"/echo/again/{i}", host="api.example.test"))
                self.assertEqual(c.read_response().status, 200)
        finally:
            for c in conns:
                c.close()
        if sanitized_build():
            # ASan pads every allocation and quarantines freed memory (it measured 160 to 350
            # KiB per connection from run to run): RSS says nothing about the gateway there, so
            # the bound is judged by the dev build's run of this test, in the same CI run.
            return
        per_connection = grown / IDLE_CONNECTIONS
        # Measured ~14.9 KiB: OpenSSL's SSL, session and keys, and ~0.5 KiB of the gateway's
        # own, an idle connection being parked (server/http_session.cc: no coroutine frame, no
        # request state). HAProxy holds ~15.5 KiB in all. Before parking it was ~20 KiB (~5
        # the gateway's own); Asio's ssl stream held ~74 KiB (its own 34 KiB of record
        # buffers, a BIO pair's 34 KiB more, and the read buffer kept while idle).
        self.assertLess(per_connection, 17,
                        f"{grown} KiB for {IDLE_CONNECTIONS} idle TLS connections")

    def test_parked_connection_serves_again_and_again(self):
        """An idle connection parks (its coroutine ends) and is taken up again by its next
        request, as many times as it goes idle."""
        with self.tls_connection(self.client_context()) as c:
            for i in range(5):
                c.send(build_request("GET", f"/echo/park/{i}", host="api.example.test"))
                response = c.read_response()
                self.assertEqual(response.status, 200)
                time.sleep(0.05)

    def records_of_next_answer(self, path):
        """Sends two requests on one TLS connection; returns the TLS records that carried the
        second answer (type, length), read off the socket under the TLS layer."""
        ctx = self.client_context()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="api.example.test")
        with socket.create_connection(("127.0.0.1", self.gateway.port), timeout=10) as sock:
            def pump_handshake():
                while True:
                    try:
                        tls.do_handshake()
                        return
                    except ssl.SSLWantReadError:
                        pass
                    finally:
                        pending = outgoing.read()
                        if pending:
                            sock.sendall(pending)
                    incoming.write(sock.recv(65536))
            pump_handshake()

            def answer(raw_log):
                """Reads one whole answer (Content-Length framed); returns its bytes."""
                data = b""
                while True:
                    try:
                        data += tls.read(65536)
                    except ssl.SSLWantReadError:
                        chunk = sock.recv(65536)
                        self.assertTrue(chunk, "the gateway closed the connection")
                        raw_log.append(chunk)
                        incoming.write(chunk)
                        continue
                    head, sep, body = data.partition(b"\r\n\r\n")
                    if sep:
                        length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:")]
                        if length and len(body) >= length[0]:
                            return data

            request = build_request("GET", path, host="api.example.test")
            tls.write(request)
            sock.sendall(outgoing.read())
            first = answer([])  # with any post-handshake message (session tickets) before it
            self.assertTrue(first.startswith(b"HTTP/1.1 200"), first[:200])
            time.sleep(0.2)
            tls.write(request)
            sock.sendall(outgoing.read())
            raw = []
            second = answer(raw)
            self.assertTrue(second.startswith(b"HTTP/1.1 200"), second[:200])
        stream = b"".join(raw)
        records = []
        while len(stream) >= 5:
            kind, _, length = struct.unpack("!BHH", stream[:5])
            records.append((kind, length))
            stream = stream[5 + length:]
        self.assertEqual(stream, b"", "the answer ended inside a record")
        return records

    def test_small_answer_is_one_record(self):
        records = self.records_of_next_answer("/echo/one-record")
        # 23: application_data (TLS 1.3 wraps every record in it).
        self.assertEqual(len(records), 1, f"records: {records}")
        self.assertEqual(records[0][0], 23)


if __name__ == "__main__":
    unittest.main()


class ParkedIdleTimeoutTest(ApiCertCase):
    """A parked idle connection still ends at idle_timeout_s, and one used again before it
    keeps serving."""

    extra_server = {"idle_timeout_s": 1}

    def test_idle_connection_is_closed_at_the_idle_timeout(self):
        with self.tls_connection() as c:
            c.send(build_request("GET", "/echo/before", host="api.example.test"))
            self.assertEqual(c.read_response().status, 200)
            started = time.monotonic()
            c.sock.settimeout(5)
            try:
                data = c.sock.recv(1024)  # a session ticket is read inside the TLS layer
            except (ssl.SSLError, OSError):
                data = b""
            waited = time.monotonic() - started
            self.assertEqual(data, b"", "the gateway sent something on an idle connection")
            # idle_timeout_s: 1, the sweeper's granularity on top.
            self.assertGreater(waited, 0.8)
            self.assertLess(waited, 4)

    def test_connection_used_before_the_timeout_keeps_serving(self):
        with self.tls_connection() as c:
            for i in range(4):
                c.send(build_request("GET", f"/echo/kept/{i}", host="api.example.test"))
                self.assertEqual(c.read_response().status, 200)
                time.sleep(0.6)  # parked for most of the idle timeout, then taken up again
