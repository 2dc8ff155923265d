"""A real Redis for the integration tests: `redis-server` (Debian's package, which
scripts/deps.sh installs) on a free loopback port, in a temporary directory, without
persistence and not daemonized, optionally with `requirepass`. stop() kills it (as a crash:
every connection drops), pause()/resume() freeze it (a hung Redis: connections stay open,
nothing answers); start() again brings it back on the same port, empty.

Redis runs fine as root (CI runs the tests as root), so no other user is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Optional

from harness import free_port

REDIS_SERVER = os.environ.get("PORTCULLIS_REDIS_SERVER", "/usr/bin/redis-server")
REDIS_CLI = os.path.join(os.path.dirname(REDIS_SERVER), "redis-cli")


def require_redis() -> None:
    """Fails (never skips) when redis-server is not installed."""
    if not os.access(REDIS_SERVER, os.X_OK) or not os.access(REDIS_CLI, os.X_OK):
        raise RuntimeError(f"{REDIS_SERVER} not found: install redis-server "
                           "(bash scripts/deps.sh) or set PORTCULLIS_REDIS_SERVER")


class Redis:
    """One redis-server: start(), stop(), pause(), resume(), command() (through redis-cli),
    url() for the gateway."""

    def __init__(self, password: Optional[str] = None) -> None:
        require_redis()
        self.dir = tempfile.mkdtemp(prefix="portcullis-redis-")
        self.port = free_port()
        self.password = password
        self.proc: Optional[subprocess.Popen] = None
        self.log = os.path.join(self.dir, "redis.log")

    def start(self, timeout: float = 10.0) -> None:
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--daemonize", "no", "--logfile", self.log]
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}):\n"
                                   + self.server_log()[-2000:])
            try:
                if self.command("PING") == "PONG":
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING:\n" + self.server_log()[-2000:])

    def server_log(self) -> str:
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def pause(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def destroy(self) -> None:
        self.stop()
        if os.environ.get("PORTCULLIS_KEEP_TMP"):
            print(f"\nkept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    # Client side: redis-cli (installed with redis-server) for the tests' own checks ----------

    def command(self, *args: str, db: int = 0) -> str:
        """Runs one command with redis-cli; returns its raw output (without the last newline),
        raises when redis-cli fails or Redis answers an error."""
        argv = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), "-n", str(db), "--raw"]
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password  # not on the command line
        p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=10, env=env)
        out = p.stdout.rstrip("\n")
        if p.returncode != 0 or out.startswith(("ERR", "WRONGPASS", "NOAUTH")) or \
                "Could not connect" in p.stderr:
            raise OSError(f"redis-cli {' '.join(args)}: {out} {p.stderr.strip()}")
        return out

    def keys(self, pattern: str = "*", db: int = 0) -> list:
        out = self.command("KEYS", pattern, db=db)
        return sorted(k for k in out.split("\n") if k)
