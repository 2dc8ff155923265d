"""A real PostgreSQL 15 for the integration tests: initdb and pg_ctl in a temporary directory,
on a free loopback port, with its unix socket in that directory and password (SCRAM)
authentication over TCP.

PostgreSQL refuses to run as root. When the tests run as root (CI does), the server runs as
an unprivileged system user (`portcullis-test`, created when missing; `nobody` when it cannot
be) through `runuser -u`, in a directory that user owns.

Binaries come from PORTCULLIS_PG_BIN (default /usr/lib/postgresql/15/bin: Debian's
`postgresql-15`, which scripts/deps.sh installs).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from typing import Optional

from harness import free_port

PG_BIN = os.environ.get("PORTCULLIS_PG_BIN", "/usr/lib/postgresql/15/bin")
TEST_USER = "portcullis-test"
SUPERUSER = "portcullis"


def _unprivileged_user() -> Optional[str]:
    """None when not root; else an account PostgreSQL will run as."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(TEST_USER)
        return TEST_USER
    except KeyError:
        pass
    made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                           "/usr/sbin/nologin", TEST_USER], capture_output=True)
    if made.returncode == 0 or _exists(TEST_USER):
        return TEST_USER
    return "nobody"


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def require_postgres() -> None:
    """Fails (never skips) when PostgreSQL is not installed."""
    for tool in ("initdb", "pg_ctl", "psql"):
        if not os.access(os.path.join(PG_BIN, tool), os.X_OK):
            raise RuntimeError(f"{PG_BIN}/{tool} not found: install postgresql-15 "
                               "(bash scripts/deps.sh) or set PORTCULLIS_PG_BIN")


class Postgres:
    """One PostgreSQL server: start(), stop(), kill() (an immediate shutdown, as a crash),
    sql() as the superuser, and url() for the gateway."""

    def __init__(self) -> None:
        require_postgres()
        self.user = _unprivileged_user()
        # Not under a test's private workdir: the server's user must be able to reach it.
        self.dir = tempfile.mkdtemp(prefix="portcullis-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.port = free_port()
        self.password = "pw-" + secrets.token_urlsafe(18)
        if self.user is not None:
            shutil.chown(self.dir, self.user, self.user)
        pwfile = os.path.join(self.dir, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.user is not None:
            shutil.chown(pwfile, self.user, self.user)
        self._as_server([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", SUPERUSER,
                         "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256",
                         "-E", "UTF8", "--locale=C", "--no-sync"])
        os.unlink(pwfile)
        self.running = False

    def _as_server(self, argv: list, check: bool = True) -> subprocess.CompletedProcess:
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--"] + argv
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}):\n{p.stdout}{p.stderr}"
                               + self.server_log()[-3000:])
        return p

    def server_log(self) -> str:
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def start(self) -> None:
        # fsync off (the machine does not crash during a test); commits stay synchronous, so
        # an immediate shutdown loses nothing that was committed.
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=100")
        self._as_server([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log,
                         "-w", "-t", "60", "-o", opts, "start"])
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._as_server([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast",
                             "-w", "stop"], check=False)
            self.running = False

    def kill(self) -> None:
        """Immediate shutdown: every connection drops at once, as when the server dies."""
        if self.running:
            self._as_server([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m",
                             "immediate", "-w", "stop"])
            self.running = False

    def destroy(self) -> None:
        self.stop()
        if os.environ.get("PORTCULLIS_KEEP_TMP"):
            print(f"\nkept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # Client side -------------------------------------------------------------------------

    def url(self, db: str = "keys", with_password: bool = True, **params: str) -> str:
        auth = f"{SUPERUSER}:{self.password}" if with_password else SUPERUSER
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}" + (f"?{query}" if query else "")

    def sql(self, statement: str, db: str = "keys") -> str:
        """Runs SQL as the superuser over TCP; returns psql's unaligned output."""
        env = dict(os.environ, PGPASSWORD=self.password)
        p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-At", "-v",
                            "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                            SUPERUSER, "-d", db, "-c", statement],
                           capture_output=True, text=True, timeout=60, env=env)
        if p.returncode != 0:
            raise RuntimeError(f"psql failed: {statement}\n{p.stderr}")
        return p.stdout.strip()

    def create_database(self, name: str = "keys") -> None:
        self.sql(f'CREATE DATABASE "{name}"', db="postgres")
