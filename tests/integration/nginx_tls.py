"""nginx (Debian nginx-light) as an https upstream, for the upstream TLS tests: one process
(master_process off) with one server block per TLS setup, each on its own loopback port.

Every answer is a small JSON document describing the TLS connection it came over (the client
certificate's subject, whether the session was resumed, nginx's connection number and the
request's number on it) and the request (URI, Host, X-Forwarded-Proto). The access log holds
the same as JSON lines, one per request.

A server that requires a client certificate uses `ssl_verify_client on`. nginx completes the
handshake and refuses at the HTTP level (495/496); here those are answered with 444, which
closes the connection without a response, as a strict upstream would.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from typing import Optional

from harness import free_port, stop_process, wait_until

_FIELDS = ('"uri":"$request_uri","host":"$http_host","xfp":"$http_x_forwarded_proto",'
           '"client_dn":"$ssl_client_s_dn","client_verify":"$ssl_client_verify",'
           '"reused":"$ssl_session_reused","protocol":"$ssl_protocol","sni":"$ssl_server_name",'
           '"connection":"$connection","requests":"$connection_requests"')


def nginx_bin() -> str:
    """The nginx binary (fails, never skips, when it is missing)."""
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                     else None)
    if not path:
        raise RuntimeError("nginx not found: the upstream TLS tests need nginx-light "
                           "(scripts/deps.sh)")
    return path


@dataclass
class Site:
    """One server block: its certificate (chain and key), the CA clients must chain to when
    it requires a client certificate, and whether connections are kept alive."""
    name: str
    chain: str
    key: str
    client_ca: Optional[str] = None
    keepalive: bool = True
    port: int = 0


class Nginx:
    def __init__(self, workdir: str, sites: list, name: str = "nginx"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.sites = {s.name: s for s in sites}
        self.access_path = os.path.join(self.dir, "access.log")
        self.error_path = os.path.join(self.dir, "error.log")
        # The ports are free when chosen, but a test running in parallel may take one before
        # nginx binds it: then nginx exits at once, and it starts again on other ports.
        for attempt in range(3):
            if self._start(sites):
                return
        raise RuntimeError("nginx did not start:\n" + self.errors())

    def _start(self, sites: list) -> bool:
        for s in sites:
            s.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self._config(sites))
        pid_file = os.path.join(self.dir, "nginx.pid")
        if os.path.exists(pid_file):
            os.unlink(pid_file)
        self._stderr = open(os.path.join(self.dir, "stderr"), "ab")
        self.proc = subprocess.Popen([nginx_bin(), "-p", self.dir, "-c", conf, "-e",
                                      self.error_path], stdout=subprocess.DEVNULL,
                                     stderr=self._stderr)
        try:
            # nginx writes its pid file once it holds every listening socket: from then on the
            # ports answer as nginx, not as whoever might have taken one meanwhile.
            wait_until(lambda: self._running() and os.path.exists(pid_file), 10, interval=0.02,
                       message="nginx to bind its ports")
            for s in sites:
                wait_until(lambda: self._accepting(s.port), 10, interval=0.05,
                           message=f"nginx listening on {s.port}")
            return True
        except (AssertionError, RuntimeError):
            self.stop()
            if "Address already in use" in self.errors():
                return False
            raise RuntimeError("nginx did not start:\n" + self.errors()) from None

    def _running(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError("nginx exited:\n" + self.errors())
        return True

    def _accepting(self, port: int) -> bool:
        self._running()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def _config(self, sites: list) -> str:
        tmp = os.path.join(self.dir, "tmp")
        blocks = []
        for s in sites:
            lines = [f"listen 127.0.0.1:{s.port} ssl;",
                     f"ssl_certificate {s.chain};", f"ssl_certificate_key {s.key};",
                     "ssl_protocols TLSv1.2 TLSv1.3;"]
            if s.client_ca:
                lines += [f"ssl_client_certificate {s.client_ca};", "ssl_verify_client on;",
                          "error_page 495 496 = @refuse;", "location @refuse { return 444; }"]
            if not s.keepalive:
                lines.append("keepalive_timeout 0;")
            lines.append("location / { default_type application/json; "
                         f"return 200 '{{\"site\":\"{s.name}\",{_FIELDS}}}'; }}")
            blocks.append("  server {\n" + "".join(f"    {l}\n" for l in lines) + "  }\n")
        return (
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            f"pid {self.dir}/nginx.pid;\nerror_log {self.error_path} info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"  log_format tls escape=json '{{\"site\":\"$server_port\",\"status\":$status,{_FIELDS}}}';\n"
            f"  access_log {self.access_path} tls;\n"
            f"  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;\n"
            f"  fastcgi_temp_path {tmp}/fastcgi; uwsgi_temp_path {tmp}/uwsgi;\n"
            f"  scgi_temp_path {tmp}/scgi;\n"
            "  keepalive_requests 10000;\n  keepalive_timeout 60s;\n"
            + "".join(blocks) + "}\n")

    def port(self, site: str) -> int:
        return self.sites[site].port

    def access_log(self, site: Optional[str] = None) -> list:
        """Every request nginx logged (on one site's port when given), oldest first."""
        entries = []
        try:
            with open(self.access_path) as f:
                for line in f:
                    if line.strip():
                        entries.append(json.loads(line))
        except FileNotFoundError:
            pass
        if site is not None:
            entries = [e for e in entries if e["site"] == str(self.port(site))]
        return entries

    def wait_for_requests(self, site: str, uri_prefix: str, count: int,
                          timeout: float = 5.0) -> list:
        """The site's logged requests whose URI starts with `uri_prefix`, once there are
        `count` of them (nginx writes a line after the response has left)."""
        def found():
            entries = [e for e in self.access_log(site) if e["uri"].startswith(uri_prefix)]
            return entries if len(entries) >= count else None
        return wait_until(found, timeout, message=f"{count} nginx log lines for {uri_prefix}")

    def errors(self) -> str:
        try:
            with open(self.error_path, errors="replace") as f:
                return f.read()[-3000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc)
        self._stderr.close()
