"""Shared machinery for the integration tests: the echo upstream, the gateway process,
a raw-socket HTTP/1.1 client that sends exact bytes, config writing, logs and metrics.

Python 3 standard library only. Binaries come from PORTCULLIS_BIN and PORTCULLIS_ECHO_BIN,
falling back to ../../build/portcullis and ../../build/portcullis-echo; the test identity
providers (tests/idp, Node.js) run with PORTCULLIS_NODE, falling back to `node` on PATH.
"""

from __future__ import annotations

import copy
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

HERE = Path(__file__).resolve().parent
BUILD_DIR = HERE.parent.parent / "build"

# Header names the gateway must never let a client set on the way upstream.
IDENTITY_HEADERS = ["X-User-Id", "X-Client-Id", "X-User-Scopes", "X-User-Roles", "X-Auth-Method"]

# Keys every access-log line carries.
ACCESS_LOG_KEYS = {"time", "request_id", "method", "path", "status", "route", "upstream",
                   "duration_ms", "client_id", "user_id", "auth_method", "reason", "host",
                   "user_agent", "upstream_status", "upstream_ms"}

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def gateway_bin() -> str:
    return os.environ.get("PORTCULLIS_BIN") or str(BUILD_DIR / "portcullis")


def echo_bin() -> str:
    return os.environ.get("PORTCULLIS_ECHO_BIN") or str(BUILD_DIR / "portcullis-echo")


def node_bin() -> str:
    """The Node.js that runs the test identity providers: PORTCULLIS_NODE (a path or a name on
    PATH), else `node`. Fails (never skips) when there is none."""
    wanted = os.environ.get("PORTCULLIS_NODE") or "node"
    found = shutil.which(wanted)
    if not found:
        raise RuntimeError(f"Node.js not found ({wanted!r}): the identity-provider tests need "
                           "it (bash scripts/idp-deps.sh, or set PORTCULLIS_NODE)")
    return found


IDP_DIR = HERE.parent / "idp"


def idp_packages_problem() -> Optional[str]:
    """Why tests/idp/node_modules cannot be used as it is: missing, or not the versions
    tests/idp/package-lock.json pins (an install from before the lock file changed); None
    when it can."""
    with open(IDP_DIR / "package-lock.json") as f:
        pinned = json.load(f)["packages"]
    for name in ("jose", "oidc-provider"):
        installed = IDP_DIR / "node_modules" / name / "package.json"
        if not installed.is_file():
            return "tests/idp/node_modules is missing"
        with open(installed) as f:
            version = json.load(f).get("version")
        want = pinned.get(f"node_modules/{name}", {}).get("version")
        if version != want:
            return f"tests/idp/node_modules has {name} {version}, the lock file pins {want}"
    return None


def require_binary(path: str) -> None:
    """Fails (never skips: a skipped suite proves nothing) when a binary is missing."""
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"binary not found or not executable: {path} "
                           "(build it, or set PORTCULLIS_BIN / PORTCULLIS_ECHO_BIN)")

def start_listening(argv: list, stderr, what: str, timeout: float = 10,
                    env: Optional[dict] = None) -> tuple:
    """Starts a process that prints "listening 127.0.0.1:PORT" once it accepts connections
    (portcullis-echo, the node test IdPs); returns (process, port)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, env=env)
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().decode() if ready else ""
    m = re.match(r"^listening 127\.0\.0\.1:(\d+)$", line.strip())
    if not m:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{what} did not start: {line!r}")
    return proc, int(m.group(1))


def stop_process(proc: subprocess.Popen, grace: float = 5) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()



def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list:
    """`n` different TCP ports on 127.0.0.1 that nothing listens on right now (all bound at
    once while they are picked: free_port() twice can hand out the same port)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


_held_closed_ports: list = []


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that refuses connections for the rest of this test process.

    The port stays bound (without listening) by a socket this process holds, so no other test
    running in parallel can be handed it and start answering there; a port that was merely free
    a moment ago (free_port) can be."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    _held_closed_ports.append(s)
    return s.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.02,
               message: str = "condition") -> object:
    """Polls predicate until it returns something truthy; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def proc_status_kib(pid: int, key: str) -> int:
    """A value from /proc/PID/status in KiB, e.g. VmHWM or VmRSS."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def reset_peak_rss(pid: int) -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0, needs permission). False if unsupported."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --- YAML config -------------------------------------------------------------------------------

def _flow(value) -> str:
    """One value in YAML flow style (JSON-compatible scalars, so quoting is always right)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def to_yaml(config: dict) -> str:
    """Top-level sections in block style; each upstream and each route on one line of its own,
    so a test can find the line a given route is on."""
    lines = []
    for section, body in config.items():
        if isinstance(body, dict):
            lines.append(f"{section}:")
            for k, v in body.items():
                lines.append(f"  {k}: {_flow(v)}")
        elif isinstance(body, list):
            lines.append(f"{section}:")
            for item in body:
                lines.append(f"  - {_flow(item)}")
        else:
            lines.append(f"{section}: {_flow(body)}")
    return "\n".join(lines) + "\n"


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of text containing needle."""
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise ValueError(f"{needle!r} not in text")


def route(name: str, upstream: str = "echo", auth: str = "none", **match_and_options) -> dict:
    """A route entry. Keyword arguments path/path_prefix/methods/host go under match:, the
    rest (forward_authorization, strip_prefix, ...) on the route itself."""
    match = {k: match_and_options.pop(k) for k in ("path", "path_prefix", "methods", "host")
             if k in match_and_options}
    r = {"name": name, "match": match, "upstream": upstream, "auth": auth}
    r.update(match_and_options)
    return r


def base_config(echo_port: int, routes: Optional[list] = None, server: Optional[dict] = None,
                upstreams: Optional[dict] = None, log: Optional[dict] = None) -> dict:
    """The configuration of the brief; listen ports are filled in by Gateway."""
    cfg = {
        "server": {"listen": "127.0.0.1:0", "workers": 1, "max_header_bytes": 16384,
                   "max_body_bytes": 10485760, "header_timeout_s": 10, "idle_timeout_s": 60,
                   "body_timeout_s": 60, "drain_timeout_s": 30,
                   # Tests stop their gateways at once; test_shutdown covers the delay.
                   "drain_delay_s": 0},
        "admin": {"listen": "127.0.0.1:0"},
        "upstreams": {"echo": {"url": f"http://127.0.0.1:{echo_port}", "timeout_s": 30,
                               "connect_timeout_s": 5}},
        "identity": {
            "headers": {"user_id": "X-User-Id", "client_id": "X-Client-Id",
                        "scopes": "X-User-Scopes", "roles": "X-User-Roles",
                        "auth_method": "X-Auth-Method", "request_id": "X-Request-Id"},
            "strip_inbound": ["X-Scopes", "X-Subject"],
        },
        "routes": routes if routes is not None else [
            route("health", path="/healthz"),
            route("reports", path_prefix="/v1/reports", methods=["GET"]),
            route("fwd", path_prefix="/fwd", forward_authorization=True),
            route("echo", path_prefix="/echo"),
        ],
        "log": {"level": "info", "access": "stdout", "redact_query_params": ["token", "api_key"]},
    }
    if server:
        cfg["server"].update(server)
    if upstreams:
        cfg["upstreams"].update(upstreams)
    if log:
        cfg["log"].update(log)
    return cfg


# --- HTTP over a raw socket ---------------------------------------------------------------------

@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list  # [(name, value)] in received order, names as sent
    body: bytes = b""
    interim: list = field(default_factory=list)  # 1xx responses that came before this one
    body_bytes: int = 0  # counted even when a sink consumed the body

    def header(self, name: str) -> Optional[str]:
        """First value of a header (case-insensitive name), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def echo(self) -> "EchoView":
        """The echo upstream's description of the request it received."""
        try:
            data = self.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or "body_sha256" not in data:
            raise AssertionError(f"not an echo answer: {self}")
        return EchoView(data)

    def __str__(self) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in self.headers)
        return f"HTTP/{self.version} {self.status} {self.reason}\n{head}\n\n{self.body[:500]!r}"


class EchoView:
    """What echo saw: method, target, path, query, headers (ordered list), body hash."""

    def __init__(self, data: dict):
        self.data = data
        self.method = data["method"]
        self.target = data["target"]
        self.path = data["path"]
        self.query = data["query"]
        self.headers = [(k, v) for k, v in data["headers"]]
        self.body_bytes = data["body_bytes"]
        self.body_sha256 = data["body_sha256"]

    def header_all(self, name: str) -> list:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name: str) -> Optional[str]:
        values = self.header_all(name)
        return values[0] if values else None

    def header_names_normalised(self) -> set:
        """Header names lower-cased with '_' read as '-', the way a lax server might."""
        return {k.lower().replace("_", "-") for k, _ in self.headers}


class ConnectionClosed(Exception):
    pass


class RawConnection:
    """One TCP connection to a server; sends exact bytes and parses responses itself."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()  # received, not yet parsed (deleting from the front is cheap)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def readable(self) -> bool:
        """True when the peer has sent something (or closed) that is not read yet."""
        return bool(self.buf) or bool(select.select([self.sock], [], [], 0)[0])

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("response timed out")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionClosed("connection closed by peer")
        self.buf += chunk

    def _read_line(self, deadline: float, limit: int = 1 << 20) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > limit:
                raise AssertionError("line too long in response")
            self._fill(deadline)

    def _read_exact(self, n: int, deadline: float, sink: Optional[Callable[[bytes], None]],
                    out: list) -> None:
        while n > 0:
            if not self.buf:
                self._fill(deadline)
            piece = bytes(self.buf[:n])
            del self.buf[:len(piece)]
            n -= len(piece)
            (sink or out.append)(piece)

    def read_head(self, timeout: Optional[float] = None) -> Response:
        """Reads a status line and headers (no body)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        status_line = self._read_line(deadline).decode("latin-1")
        m = re.match(r"^HTTP/(\d\.\d) (\d{3})(?: (.*))?$", status_line)
        if not m:
            raise AssertionError(f"bad status line: {status_line!r}")
        headers = []
        while True:
            line = self._read_line(deadline).decode("latin-1")
            if line == "":
                break
            name, _, value = line.partition(":")
            headers.append((name, value.strip(" \t")))
        return Response(m.group(1), int(m.group(2)), m.group(3) or "", headers)

    def read_response(self, method: str = "GET", timeout: Optional[float] = None,
                      sink: Optional[Callable[[bytes], None]] = None,
                      return_interim: bool = False) -> Response:
        """Reads one full response. 1xx responses are collected into .interim (or returned
        themselves with return_interim). With sink, body pieces go to it instead of .body."""
        deadline = time.monotonic() + (timeout or self.timeout)
        interim = []
        while True:
            resp = self.read_head(deadline - time.monotonic())
            if 100 <= resp.status < 200 and resp.status != 101:
                if return_interim:
                    return resp
                interim.append(resp)
                continue
            break
        resp.interim = interim
        out: list = []
        counted = [0]

        def counting_sink(piece: bytes) -> None:
            counted[0] += len(piece)
            (sink or out.append)(piece)

        te = (resp.header("Transfer-Encoding") or "").lower()
        if method.upper() == "HEAD" or resp.status in (204, 304):
            pass
        elif "chunked" in te:
            while True:
                size_line = self._read_line(deadline).split(b";")[0].strip()
                size = int(size_line, 16)
                if size == 0:
                    while self._read_line(deadline) != b"":  # trailers
                        pass
                    break
                self._read_exact(size, deadline, counting_sink, out)
                if self._read_line(deadline) != b"":
                    raise AssertionError("chunk not followed by CRLF")
        elif resp.header("Content-Length") is not None:
            self._read_exact(int(resp.header("Content-Length")), deadline, counting_sink, out)
        else:
            try:
                while True:
                    if self.buf:
                        counting_sink(bytes(self.buf))
                        self.buf.clear()
                    self._fill(deadline)
            except ConnectionClosed:
                pass
        resp.body = b"".join(out)
        resp.body_bytes = counted[0]
        return resp

    def peer_closed(self, timeout: float = 5.0) -> bool:
        """True when the peer closes (EOF or reset) within timeout with nothing more to read;
        False if it sends more data or stays open."""
        if self.buf:
            return False
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                return False
            if not chunk:
                return True
            self.buf += chunk
            return False


def build_request(method: str, target: str, headers: Sequence = (), body: Optional[bytes] = None,
                  host: Optional[str] = "gateway.test", version: str = "1.1") -> bytes:
    """Request bytes exactly as given; Host and Content-Length are added unless present."""
    names = {k.lower() for k, _ in headers}
    lines = [f"{method} {target} HTTP/{version}"]
    if host is not None and "host" not in names:
        lines.append(f"Host: {host}")
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def chunked(pieces: Iterable[bytes]) -> bytes:
    """A chunked body from pieces (empty pieces are skipped), with the final 0 chunk."""
    out = []
    for p in pieces:
        if p:
            out.append(b"%x\r\n%s\r\n" % (len(p), p))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def pattern_bytes(offset: int, n: int) -> bytes:
    """echo's X-Echo-Bytes pattern: byte i = i % 251, for i in [offset, offset+n)."""
    start = offset % 251
    reps = (start + n) // 251 + 1
    return (bytes(range(251)) * reps)[start:start + n]


# --- processes ----------------------------------------------------------------------------------

class Echo:
    """The echo upstream, on a free port."""

    def __init__(self, workdir: str):
        require_binary(echo_bin())
        self.stderr_path = os.path.join(workdir, "echo.stderr")
        self._stderr = open(self.stderr_path, "wb")
        self.proc, self.port = start_listening([echo_bin(), "--listen", "127.0.0.1:0"],
                                               self._stderr, "echo")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)
        self._stderr.close()


class Gateway:
    """`portcullis run -c FILE` on free ports, with its stdout and stderr captured to files."""

    def __init__(self, config: dict, workdir: str):
        require_binary(gateway_bin())
        self.workdir = workdir
        self.port, self.admin_port = free_ports(2)
        self.config_path = os.path.join(workdir, "gateway.yaml")
        self.stdout_path = os.path.join(workdir, "gateway.stdout")
        self.stderr_path = os.path.join(workdir, "gateway.stderr")
        self.config = self.with_ports(config)
        self.proc: Optional[subprocess.Popen] = None
        self.write_config(self.config)

    def with_ports(self, config: dict) -> dict:
        """A copy of config listening on this gateway's ports."""
        cfg = copy.deepcopy(config)
        cfg.setdefault("server", {})["listen"] = f"127.0.0.1:{self.port}"
        cfg.setdefault("admin", {})["listen"] = f"127.0.0.1:{self.admin_port}"
        return cfg

    def write_config(self, config: Optional[dict] = None, text: Optional[str] = None) -> str:
        """Writes the config file (a dict gets this gateway's ports); returns the text."""
        # The dict the file was written from (None for a text): start() can then move the
        # gateway to other ports if another test took these meanwhile.
        self._written_from = None
        if text is None:
            self._written_from = config if config is not None else self.config
            text = to_yaml(self.with_ports(self._written_from))
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        return text

    def start(self, timeout: float = 15.0, wait_ready: bool = True) -> None:
        """Starts the gateway and waits until it accepts connections and /readyz says ready
        (with wait_ready=False: until /readyz answers at all).

        free_port() hands out a port that was free a moment ago; a test running in parallel
        can take it before the gateway binds it. When the gateway exits because its address
        is in use, and its config file was written from a dict, it is given other ports and
        started again (at most three times)."""
        for attempt in range(3):
            try:
                self._start_once(timeout, wait_ready)
                return
            except RuntimeError as e:
                if (attempt == 2 or self._written_from is None
                        or "Address already in use" not in str(e)):
                    raise
                self.port, self.admin_port = free_ports(2)
                self.write_config(self._written_from)

    def _start_once(self, timeout: float, wait_ready: bool) -> None:
        self._close_files()  # a previous attempt's
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([gateway_bin(), "run", "-c", self.config_path],
                                     stdout=self._stdout, stderr=self._stderr)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode} during start:\n"
                                   + self.output()[-4000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                status = self.admin_get("/readyz", timeout=2).status
                return status == 200 or not wait_ready
            except (OSError, ConnectionClosed):
                return False

        wait_until(ready, timeout, interval=0.05, message="gateway to accept connections and be ready")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def reload(self) -> None:
        """SIGHUP: re-read the config file."""
        self.proc.send_signal(signal.SIGHUP)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"gateway did not exit within {timeout}s of SIGTERM:\n"
                                 + self.output()[-4000:])
        finally:
            self._close_files()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM; asserts the gateway exits 0."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.terminate()
        rc = self.wait_exit(timeout)
        if rc != 0:
            raise AssertionError(f"gateway exited with {rc} after SIGTERM, not 0:\n"
                                 + self.output()[-4000:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_files()

    def _close_files(self) -> None:
        for f in (getattr(self, "_stdout", None), getattr(self, "_stderr", None)):
            if f is not None and not f.closed:
                f.close()

    # Output ------------------------------------------------------------------------------------

    def stdout_text(self) -> str:
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_text(self) -> str:
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def output(self) -> str:
        return self.stdout_text() + self.stderr_text()

    def access_log(self) -> list:
        """Every JSON object line on stdout that looks like an access-log entry."""
        entries = []
        for line in self.stdout_text().splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and "request_id" in obj and "status" in obj:
                entries.append(obj)
        return entries

    def wait_for_access_log(self, request_id: str, timeout: float = 5.0) -> dict:
        def find():
            matches = [e for e in self.access_log() if e.get("request_id") == request_id]
            return matches[0] if matches else None
        return wait_until(find, timeout, message=f"access-log line for request_id {request_id}")

    def wait_for_path_log(self, path: str, timeout: float = 5.0) -> dict:
        """The latest access-log line for `path` (waits for the first one)."""
        def find():
            matches = [e for e in self.access_log() if e.get("path") == path]
            return matches[-1] if matches else None
        return wait_until(find, timeout, message=f"access-log line for {path}")

    def output_mark(self) -> tuple:
        """A position in the output, for output_since / wait_for_output(since=...)."""
        return (len(self.stdout_text()), len(self.stderr_text()))

    def output_since(self, mark: tuple = (0, 0)) -> str:
        return self.stdout_text()[mark[0]:] + self.stderr_text()[mark[1]:]

    def wait_for_output(self, pattern: str, timeout: float = 5.0, since: tuple = (0, 0)) -> re.Match:
        """Waits until the output written after `since` matches pattern."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.output_since(since)), timeout,
                          message=f"gateway output matching {pattern!r}")

    # Requests ----------------------------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> RawConnection:
        return RawConnection(self.port, timeout=timeout)

    def request(self, method: str, target: str, headers: Sequence = (),
                body: Optional[bytes] = None, timeout: float = 10.0, **kw) -> Response:
        """One request on a fresh connection."""
        with self.connect(timeout) as c:
            c.send(build_request(method, target, headers, body, **kw))
            return c.read_response(method, timeout)

    def send_raw(self, data: bytes, method: str = "GET", timeout: float = 10.0) -> Response:
        with self.connect(timeout) as c:
            c.send(data)
            return c.read_response(method, timeout)

    def admin_get(self, path: str, timeout: float = 5.0) -> Response:
        with RawConnection(self.admin_port, timeout=timeout) as c:
            c.send(build_request("GET", path, [("Connection", "close")], host="127.0.0.1"))
            return c.read_response("GET", timeout)

    def metrics(self) -> str:
        r = self.admin_get("/metrics")
        if r.status != 200:
            raise AssertionError(f"/metrics answered {r.status}")
        return r.body.decode()


def parse_prometheus(text: str) -> list:
    """[(name, {label: value}, float)] for every sample line of a Prometheus text exposition."""
    samples = []
    rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
    label_rx = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = rx.match(line)
        if not m:
            continue
        labels = dict(label_rx.findall(m.group(2) or ""))
        try:
            samples.append((m.group(1), labels, float(m.group(3))))
        except ValueError:
            pass
    return samples


# --- test base ----------------------------------------------------------------------------------

class GatewayTestCase(unittest.TestCase):
    """Starts echo and a gateway once for the class. Subclasses override make_config."""

    echo: Echo
    gateway: Gateway
    workdir: str

    @classmethod
    def make_config(cls, echo: Echo) -> dict:
        return base_config(echo.port)

    @classmethod
    def setUpClass(cls) -> None:
        cls.workdir = tempfile.mkdtemp(prefix=f"portcullis-{cls.__name__}-")
        cls.addClassCleanup(cls._remove_workdir)
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cls.gateway = Gateway(cls.make_config(cls.echo), cls.workdir)
        cls.addClassCleanup(cls.gateway.kill)
        cls.gateway.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.gateway.stop()  # asserts exit code 0

    @classmethod
    def _remove_workdir(cls) -> None:
        if os.environ.get("PORTCULLIS_KEEP_TMP"):
            print(f"\nkept {cls.workdir}")
        else:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    # Conveniences --------------------------------------------------------------------------------

    def get(self, target: str, headers: Sequence = (), **kw) -> Response:
        return self.gateway.request("GET", target, headers, **kw)

    def echo_of(self, method: str, target: str, headers: Sequence = (),
                body: Optional[bytes] = None, **kw) -> EchoView:
        """Sends a request that must be proxied; asserts 200 and returns what echo saw."""
        r = self.gateway.request(method, target, headers, body, **kw)
        self.assertEqual(r.status, 200, f"{method} {target} -> {r}")
        return r.echo()

    def assert_error_json(self, r: Response, status: int) -> dict:
        """A gateway error: the status, and a small JSON body with error and request_id."""
        self.assertEqual(r.status, status, str(r))
        self.assertIn("json", (r.header("Content-Type") or "").lower(), str(r))
        body = r.json()
        self.assertIn("error", body, str(r))
        self.assertIn("request_id", body, str(r))
        self.assertTrue(body["request_id"], str(r))
        self.assertLess(len(r.body), 4096, "error body should be small")
        return body

    def assert_rejected_and_closed(self, data: bytes, status: int = 400, timeout: float = 5.0) -> Response:
        """Sends exact bytes; the gateway must answer status and then close the connection
        (so nothing after the bad request, such as a smuggled second request, is read)."""
        with self.gateway.connect(timeout) as c:
            try:
                c.send(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = c.read_response("GET", timeout)
            self.assertEqual(r.status, status, f"request {data[:300]!r} -> {r}")
            self.assert_error_json(r, status)
            self.assertTrue(c.peer_closed(timeout),
                            f"connection stayed open after {status} for {data[:200]!r}")
            return r


class BackgroundTraffic:
    """Threads that each send GET requests on one keep-alive connection until stopped,
    recording every request that did not get a 200. A connection is reopened only when
    the gateway announced `Connection: close` on the response before it."""

    def __init__(self, port: int, target: str, threads: int = 2):
        self.port = port
        self.target = target
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures: list = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(15)

    def count(self) -> int:
        with self.lock:
            return self.ok

    def _run(self, index: int) -> None:
        conn = None
        n = 0
        while not self.stop_event.is_set():
            n += 1
            try:
                if conn is None:
                    conn = RawConnection(self.port, timeout=10)
                conn.send(build_request("GET", f"{self.target}?t={index}&n={n}"))
                r = conn.read_response("GET", 10)
                with self.lock:
                    if r.status == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"thread {index} request {n}: {r.status} {r.body[:200]!r}")
                if "close" in (r.header("Connection") or "").lower():
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                with self.lock:
                    self.failures.append(f"thread {index} request {n}: {type(e).__name__}: {e}")
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
