"""Real TLS clients for the listener tests: curl (requests, client certificates) and
`openssl s_client` (SNI, versions, ALPN, resumption), run as processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Optional, Sequence


def require_tool(name: str) -> str:
    """Fails (never skips) when a client the TLS tests drive is missing."""
    path = shutil.which(name)
    if not path:
        raise RuntimeError(f"{name} not found: the TLS tests need it")
    return path


@dataclass
class CurlResult:
    exit_code: int
    status: int          # 0 when no HTTP answer came (handshake refused, connection closed)
    headers: dict        # lower-case name -> last value
    body: bytes
    stderr: str

    def json(self):
        return json.loads(self.body)

    def echo_header(self, name: str) -> Optional[str]:
        """A header as the echo upstream received it (the body is echo's JSON)."""
        for k, v in self.json()["headers"]:
            if k.lower() == name.lower():
                return v
        return None

    def echo_headers(self, name: str) -> list:
        return [v for k, v in self.json()["headers"] if k.lower() == name.lower()]


def curl(port: int, path: str, ca: Optional[str], host: str = "localhost",
         cert: Optional[str] = None, key: Optional[str] = None, headers: Sequence = (),
         extra: Sequence[str] = (), timeout: float = 10) -> CurlResult:
    """GET https://HOST:PORT/PATH with HOST resolved to 127.0.0.1 (so SNI and verification
    use HOST), trusting `ca`, presenting `cert`/`key` when given."""
    with tempfile.TemporaryDirectory() as d:
        head_path, body_path = os.path.join(d, "head"), os.path.join(d, "body")
        args = [require_tool("curl"), "-sS", "--http1.1", "--max-time", str(timeout),
                "--resolve", f"{host}:{port}:127.0.0.1", "-D", head_path, "-o", body_path,
                "-w", "%{http_code}"]
        if ca:
            args += ["--cacert", ca]
        if cert:
            args += ["--cert", cert, "--key", key]
        for name, value in headers:
            args += ["-H", f"{name}: {value}"]
        args += [*extra, f"https://{host}:{port}{path}"]
        p = subprocess.run(args, capture_output=True, timeout=timeout + 5)
        head = body = b""
        if os.path.exists(head_path):
            with open(head_path, "rb") as f:
                head = f.read()
        if os.path.exists(body_path):
            with open(body_path, "rb") as f:
                body = f.read()
        head = head.decode("latin-1")
    found = {}
    for line in head.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip().lower()] = value.strip()
    code = p.stdout.decode().strip()
    return CurlResult(p.returncode, int(code) if code.isdigit() else 0, found, body,
                      p.stderr.decode("utf-8", "replace"))


@dataclass
class Handshake:
    exit_code: int
    output: str  # s_client's stdout and stderr together

    @property
    def ok(self) -> bool:
        return "Cipher is (NONE)" not in self.output and bool(
            re.search(r"^(New|Reused), TLSv1\.[23]", self.output, re.M))

    @property
    def reused(self) -> bool:
        return bool(re.search(r"^Reused, TLSv1\.[23]", self.output, re.M))

    @property
    def version(self) -> Optional[str]:
        m = re.search(r"^(?:New|Reused), (TLSv1\.[0-3])", self.output, re.M)
        return m.group(1) if m else None

    @property
    def subject_cn(self) -> Optional[str]:
        """The CN of the certificate the server presented (depth 0 of the chain)."""
        m = re.search(r"^\s*0 s:.*?CN ?= ?([^,\n/]+)", self.output, re.M)
        return m.group(1).strip() if m else None

    @property
    def chain_length(self) -> int:
        return len(re.findall(r"^\s*\d+ s:", self.output, re.M))

    @property
    def alpn(self) -> Optional[str]:
        m = re.search(r"^ALPN protocol: (\S+)", self.output, re.M)
        return m.group(1) if m else None


def s_client(port: int, ca: Optional[str] = None, servername: Optional[str] = None,
             args: Sequence[str] = (), send: bytes = b"", timeout: float = 10) -> Handshake:
    """`openssl s_client` to 127.0.0.1:PORT; `send` goes to the server once connected (with
    -ign_eof the client then waits for the server to close)."""
    cmd = [require_tool("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-showcerts"]
    if ca:
        cmd += ["-CAfile", ca, "-verify_return_error"]
    if servername:
        cmd += ["-servername", servername]
    else:
        cmd += ["-noservername"]
    if send:
        cmd += ["-ign_eof"]
    cmd += list(args)
    p = subprocess.run(cmd, input=send, capture_output=True, timeout=timeout)
    return Handshake(p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace"))


def http_get(host: str, path: str = "/echo/tls") -> bytes:
    """A request that closes the connection after its answer (for s_client -ign_eof)."""
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").encode()


def listener_tls(server, client_ca, client_cert="optional") -> dict:
    """The `server.tls` section of a listener serving `server` (a certs.Pki leaf) and asking
    for client certificates issued by `client_ca` (a certs.Pki CA)."""
    return {"certificates": [{"cert_file": server.cert, "key_file": server.key}],
            "client_ca_file": client_ca.cert, "client_cert": client_cert}
