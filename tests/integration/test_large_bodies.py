"""1 GiB through the gateway in each direction, streamed: the bytes arrive intact and the
gateway's peak resident memory (VmHWM) grows by less than 64 MiB."""

import hashlib
import time
import unittest

from harness import GatewayTestCase, base_config, build_request, pattern_bytes, proc_status_kib

GIB = 1 << 30
PIECE = 1 << 20
MAX_GROWTH_KIB = 64 * 1024


class LargeBodyTest(GatewayTestCase):

    @classmethod
    def make_config(cls, echo):
        return base_config(echo.port, server={"max_body_bytes": 4 * GIB, "body_timeout_s": 60})

    def setUp(self):
        # Warm up (connection pool, buffers) so the baseline is the steady state.
        self.assertEqual(self.get("/echo/warmup").status, 200)
        self.baseline_kib = proc_status_kib(self.gateway.pid, "VmHWM")

    def assert_memory_flat(self, what):
        peak = proc_status_kib(self.gateway.pid, "VmHWM")
        growth = peak - self.baseline_kib
        self.assertLess(growth, MAX_GROWTH_KIB,
                        f"{what}: gateway VmHWM grew by {growth // 1024} MiB "
                        f"({self.baseline_kib // 1024} -> {peak // 1024} MiB)")

    def test_upload_1gib(self):
        """A 1 GiB Content-Length upload reaches the upstream intact (echo's byte count and
        SHA-256 match) with flat gateway memory."""
        piece = bytes(range(256)) * (PIECE // 256)
        digest = hashlib.sha256()
        with self.gateway.connect(timeout=120) as c:
            c.send(build_request("PUT", "/echo/upload", [("Content-Length", str(GIB))]))
            sent = 0
            while sent < GIB:
                c.send(piece)
                digest.update(piece)
                sent += len(piece)
            r = c.read_response("PUT", timeout=120)
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.body_bytes, GIB)
        self.assertEqual(seen.body_sha256, digest.hexdigest())
        self.assert_memory_flat("1 GiB upload")

    def test_chunked_upload_1gib(self):
        """The same 1 GiB sent chunked (length unknown up front) also streams with flat memory."""
        piece = bytes(range(255, -1, -1)) * (PIECE // 256)
        digest = hashlib.sha256()
        with self.gateway.connect(timeout=120) as c:
            c.send(build_request("POST", "/echo/upload-chunked", [("Transfer-Encoding", "chunked")]))
            for _ in range(GIB // PIECE):
                c.send(b"%x\r\n" % len(piece))
                c.send(piece)
                c.send(b"\r\n")
                digest.update(piece)
            c.send(b"0\r\n\r\n")
            r = c.read_response("POST", timeout=120)
        self.assertEqual(r.status, 200, str(r))
        seen = r.echo()
        self.assertEqual(seen.body_bytes, GIB)
        self.assertEqual(seen.body_sha256, digest.hexdigest())
        self.assert_memory_flat("1 GiB chunked upload")

    def test_download_1gib(self):
        """A 1 GiB chunked response from the upstream arrives intact with flat gateway memory."""
        window = pattern_bytes(0, PIECE + 251)
        state = {"offset": 0, "bad_at": None}

        def check(piece: bytes) -> None:
            off = state["offset"]
            pos = 0
            while pos < len(piece):
                n = min(PIECE, len(piece) - pos)
                start = (off + pos) % 251
                if state["bad_at"] is None and piece[pos:pos + n] != window[start:start + n]:
                    state["bad_at"] = off + pos
                pos += n
            state["offset"] = off + len(piece)

        with self.gateway.connect(timeout=120) as c:
            c.send(build_request("GET", "/echo/download", [("X-Echo-Bytes", str(GIB))]))
            r = c.read_response("GET", timeout=120, sink=check)
        self.assertEqual(r.status, 200, str(r))
        self.assertEqual(r.body_bytes, GIB)
        self.assertIsNone(state["bad_at"], f"pattern broken near byte {state['bad_at']}")
        self.assert_memory_flat("1 GiB download")


    def test_slow_reader_does_not_make_gateway_buffer(self):
        """A client that stops reading a 1 GiB download for 2 s: the gateway applies
        backpressure to the upstream instead of buffering what the client has not taken."""
        with self.gateway.connect(timeout=120) as c:
            c.send(build_request("GET", "/echo/stalled", [("X-Echo-Bytes", str(GIB))]))
            head = c.read_head(timeout=10)
            self.assertEqual(head.status, 200, str(head))
            time.sleep(2)  # the stall itself is what is tested; nothing to poll
            self.assert_memory_flat("stalled 1 GiB download")
        # The stalled connection is dropped mid-body; the gateway keeps serving.
        self.assertEqual(self.get("/echo/after-stall").status, 200)


if __name__ == "__main__":
    unittest.main()
