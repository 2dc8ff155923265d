#!/usr/bin/env python3
"""Measures the gateway's memory with many idle keep-alive connections.

    python3 bench/idle_conns.py --port 9010 --pid PID [-n 5000] [--tls]

Opens N connections to 127.0.0.1:PORT; on each, sends one keep-alive GET and reads the
whole response, then leaves the connection open and idle. Then reads VmRSS (now) and VmHWM
(peak) of process PID from /proc/PID/status and prints them in MiB:

    baseline VmRSS: 9.1 MiB
    open: 5000 of 5000
    VmRSS: 31.4 MiB
    VmHWM: 33.0 MiB

With --tls, each connection is a TLS one (certificate not verified: only the memory of the
server is measured), whatever the server negotiates with Python's default client.

Needs an open-files limit above N (bench/run.sh raises it) and, on the gateway, a
server.max_connections above N and an idle_timeout_s longer than the measurement.
Standard library only.
"""

import argparse
import resource
import socket
import ssl
import sys
import time


def status_kib(pid, field):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # "VmRSS:	  12345 kB"
    raise RuntimeError(f"{field} not found in /proc/{pid}/status")


def mib(kib):
    return f"{kib / 1024:.1f}"


def read_response(sock, deadline):
    """Reads one HTTP/1.1 response (Content-Length or chunked). Returns its status code."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += recv_some(sock, deadline)
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get(b"connection") == b"close":
        raise RuntimeError("the gateway answered Connection: close")
    if b"content-length" in headers:
        length = int(headers[b"content-length"])
        while len(body) < length:
            body += recv_some(sock, deadline)
    elif headers.get(b"transfer-encoding", b"").endswith(b"chunked"):
        while not body.endswith(b"0\r\n\r\n"):
            body += recv_some(sock, deadline)
    return status


def recv_some(sock, deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no complete response in time")
    sock.settimeout(remaining)
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("connection closed before the response was complete")
    return data


def still_open(s):
    """Whether the server still holds connection `s` open (a closed one reads EOF)."""
    s.setblocking(False)
    try:
        data = s.recv(1, socket.MSG_PEEK) if not isinstance(s, ssl.SSLSocket) else s.recv(1)
    except (BlockingIOError, ssl.SSLWantReadError):
        return True  # nothing to read: idle and open (TLS: a session ticket may have been read)
    except OSError:
        return False
    return len(data) > 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the gateway's process id")
    ap.add_argument("-n", type=int, default=5000, help="connections to hold (default 5000)")
    ap.add_argument("--path", default="/")
    ap.add_argument("--tls", action="store_true", help="TLS connections (no verification)")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds to wait idle before reading the memory (default 1)")
    args = ap.parse_args()

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < args.n + 50:
        sys.exit(f"idle_conns: open-files limit {soft} is too low for {args.n} connections "
                 f"(raise it with ulimit -n)")

    baseline = status_kib(args.pid, "VmRSS")
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               f"User-Agent: idle_conns\r\n\r\n").encode()
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        tls.set_alpn_protocols(["http/1.1"])
    socks = []
    try:
        for i in range(args.n):
            deadline = time.monotonic() + 10
            try:
                s = socket.create_connection((args.host, args.port), timeout=10)
                if tls is not None:
                    s = tls.wrap_socket(s, server_hostname="localhost")
                socks.append(s)
                s.sendall(request)
                status = read_response(s, deadline)
            except (OSError, RuntimeError) as e:
                sys.exit(f"idle_conns: connection {i + 1} of {args.n} failed: {e}")
            if status != 200:
                sys.exit(f"idle_conns: connection {i + 1} got status {status}, expected 200")

        time.sleep(args.settle)
        rss = status_kib(args.pid, "VmRSS")
        hwm = status_kib(args.pid, "VmHWM")

        # A connection the gateway closed reads EOF (or an error); an idle open one would block.
        open_count = sum(1 for s in socks if still_open(s))

        print(f"baseline VmRSS: {mib(baseline)} MiB")
        print(f"open: {open_count} of {args.n}")
        print(f"VmRSS: {mib(rss)} MiB")
        print(f"VmHWM: {mib(hwm)} MiB")
        if open_count < args.n:
            sys.exit(f"idle_conns: the gateway closed {args.n - open_count} of the idle connections")
    finally:
        for s in socks:
            s.close()


if __name__ == "__main__":
    main()
