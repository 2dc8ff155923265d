"""The PostgreSQL key store end to end, against a real PostgreSQL 15 (pg.py): two gateways on
one database see every change made with the CLI within a second (LISTEN/NOTIFY, with the poll
interval set to a minute so that nothing else could), a missed notification is caught up by
sequence number when the listening connection comes back, the database can die and come
back while the gateways serve, a gateway started with the database down answers 503 until
it is up, concurrent CLI writes lose nothing, and the password never shows.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
import unittest
from typing import Optional

from harness import Echo, Gateway, base_config, gateway_bin, parse_prometheus, route, wait_until
from pg import Postgres

PEPPER = secrets.token_urlsafe(32)
os.environ["PORTCULLIS_KEY_PEPPER"] = PEPPER
PASSWORD_ENV = "PORTCULLIS_TEST_DB_PASSWORD"


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def key_config(echo: Echo, store: str, poll_ms: int = 1000, password_ref: bool = False,
               schema: Optional[str] = None) -> dict:
    cfg = base_config(echo.port, routes=[
        route("health", path="/healthz"),
        route("reports", path_prefix="/v1/reports", auth=["api_key"],
              require_scopes=["reports:read"]),
        route("other", path_prefix="/v1/other", auth=["api_key"]),
    ])
    cfg["api_keys"] = {"store": store, "pepper": "${PORTCULLIS_KEY_PEPPER}",
                       "poll_interval_ms": poll_ms}
    if password_ref:
        cfg["api_keys"]["password"] = "${" + PASSWORD_ENV + "}"
    if schema:
        cfg["api_keys"]["schema"] = schema
    return cfg


class Cli:
    """`portcullis keys ...` with -c FILE; keeps everything it printed for the leak checks."""

    def __init__(self) -> None:
        self.outputs: list = []

    def run(self, *args: str, config: Optional[str] = None, expect: Optional[int] = 0,
            env: Optional[dict] = None) -> subprocess.CompletedProcess:
        where = ["-c", config] if config else []
        p = subprocess.run([gateway_bin(), "keys", *args, *where], capture_output=True,
                           text=True, timeout=60, env=env)
        self.outputs.append(p.stdout + p.stderr)
        if expect is not None and p.returncode != expect:
            raise AssertionError(f"keys {' '.join(args)} exited {p.returncode}, not {expect}:\n"
                                 f"{p.stdout}{p.stderr}")
        return p

    def create(self, config: str, client: str, *extra: str) -> dict:
        return json.loads(self.run("create", "--client", client, "--json", *extra,
                                   config=config).stdout)


class PostgresTestBase(unittest.TestCase):
    """A PostgreSQL server with a `keys` database, echo, and a workdir; once per class."""

    pg: Postgres
    echo: Echo
    workdir: str
    cli: Cli

    @classmethod
    def setUpClass(cls) -> None:
        cls.workdir = tempfile.mkdtemp(prefix=f"portcullis-{cls.__name__}-")
        cls.addClassCleanup(cls._remove_workdir)
        cls.pg = Postgres()
        cls.addClassCleanup(cls.pg.destroy)
        cls.pg.start()
        cls.pg.create_database()
        os.environ[PASSWORD_ENV] = cls.pg.password
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)
        cls.cli = Cli()

    @classmethod
    def _remove_workdir(cls) -> None:
        import shutil
        if not os.environ.get("PORTCULLIS_KEEP_TMP"):
            shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def gateway(cls, name: str, config: dict, start: bool = True, wait_ready: bool = True) -> Gateway:
        d = os.path.join(cls.workdir, name)
        os.makedirs(d, exist_ok=True)
        g = Gateway(config, d)
        cls.addClassCleanup(g.kill)
        if start:
            g.start(wait_ready=wait_ready)
        return g

    @staticmethod
    def status(g: Gateway, key: str, path: str = "/v1/reports") -> int:
        return g.request("GET", path, [("X-API-Key", key)]).status

    def seconds_until(self, gateways, key: str, status: int, timeout: float = 5.0,
                      path: str = "/v1/reports") -> float:
        """Seconds until every gateway answers `status` to `key`."""
        start = time.monotonic()
        wait_until(lambda: all(self.status(g, key, path) == status for g in gateways), timeout,
                   interval=0.01, message=f"{path} to answer {status} on every gateway")
        return time.monotonic() - start

    def assert_no_password(self, *texts: str) -> None:
        for text in texts:
            self.assertNotIn(self.pg.password, text)


class TwoGatewaysTest(PostgresTestBase):
    """Two gateways, one database. The poll interval is a minute: only the notifications can
    make a change visible within a second."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        # One gateway has the password in the URL (masked everywhere), the other a reference.
        cls.cfg1 = key_config(cls.echo, cls.pg.url(), poll_ms=60000)
        cls.cfg2 = key_config(cls.echo, cls.pg.url(with_password=False), poll_ms=60000,
                              password_ref=True)
        cls.g1 = cls.gateway("g1", cls.cfg1, start=False)
        cls.g2 = cls.gateway("g2", cls.cfg2, start=False)
        migrated = cls.cli.run("migrate", config=cls.g1.config_path)
        assert "applied migration 1" in migrated.stdout, migrated.stdout
        cls.g1.start()
        cls.g2.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.g1.stop()
        cls.g2.stop()

    def test_migrate_is_versioned_and_idempotent(self):
        again = self.cli.run("migrate", config=self.g2.config_path)
        self.assertIn("schema version 2 (up to date)", again.stdout)
        self.assertEqual(self.pg.sql("SELECT string_agg(version::text, ',' ORDER BY version) "
                                     "FROM portcullis.schema_migrations"), "1,2")
        tables = self.pg.sql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM "
                             "pg_tables WHERE schemaname = 'portcullis'")
        self.assertEqual(tables, "api_keys,change_seq,meta,schema_migrations")

    def test_created_key_works_on_both_within_a_second(self):
        k = self.cli.create(self.g1.config_path, "created", "--scopes", "reports:read")
        took = self.seconds_until([self.g1, self.g2], k["key"], 200)
        self.assertLess(took, 1.0)
        r = self.g2.request("GET", "/v1/reports", [("X-API-Key", k["key"])])
        self.assertEqual(r.echo().header("X-Client-Id"), "created")
        # Only the hash is stored.
        stored = self.pg.sql(f"SELECT encode(secret_hmac, 'hex') || client_id || scopes FROM "
                             f"portcullis.api_keys WHERE id = '{k['id']}'")
        self.assertNotIn(k["key"][17:60], stored)

    def test_revoke_is_401_on_both_within_a_second(self):
        k = self.cli.create(self.g2.config_path, "revoked", "--scopes", "reports:read")
        self.seconds_until([self.g1, self.g2], k["key"], 200)
        self.cli.run("revoke", k["id"], config=self.g1.config_path)
        self.assertLess(self.seconds_until([self.g1, self.g2], k["key"], 401), 1.0)
        body = self.g1.request("GET", "/v1/reports", [("X-API-Key", k["key"])]).json()
        self.assertEqual(body.get("error_description"), "API key has been revoked")
        # Revocation is final, as with SQLite.
        p = self.cli.run("enable", k["id"], config=self.g1.config_path, expect=1)
        self.assertIn("revocation is final", p.stderr)

    def test_disable_and_enable_on_both_within_a_second(self):
        k = self.cli.create(self.g1.config_path, "toggled", "--scopes", "reports:read")
        self.seconds_until([self.g1, self.g2], k["key"], 200)
        self.cli.run("disable", k["id"], config=self.g2.config_path)
        self.assertLess(self.seconds_until([self.g1, self.g2], k["key"], 401), 1.0)
        self.cli.run("enable", k["id"], config=self.g2.config_path)
        self.assertLess(self.seconds_until([self.g1, self.g2], k["key"], 200), 1.0)

    def test_rotation_with_grace_on_both(self):
        old = self.cli.create(self.g1.config_path, "rotating", "--scopes", "reports:read")
        self.seconds_until([self.g1, self.g2], old["key"], 200)
        new = json.loads(self.cli.run("rotate", "--client", "rotating", "--grace", "3s",
                                      "--json", config=self.g2.config_path).stdout)
        self.assertLess(self.seconds_until([self.g1, self.g2], new["key"], 200), 1.0)
        # Within the grace period both keys work everywhere; after it only the new one.
        self.assertEqual([self.status(g, old["key"]) for g in (self.g1, self.g2)], [200, 200])
        self.seconds_until([self.g1, self.g2], old["key"], 401, timeout=6)
        self.assertEqual([self.status(g, new["key"]) for g in (self.g1, self.g2)], [200, 200])
        r = self.g1.request("GET", "/v1/reports", [("X-API-Key", old["key"])])
        self.assertEqual(r.json().get("error_description"), "API key has expired")

    def test_concurrent_cli_writes_lose_nothing(self):
        self.cli.create(self.g1.config_path, "busy", "--scopes", "reports:read")
        before = int(self.pg.sql("SELECT seq FROM portcullis.change_seq"))
        results = []

        def run(args):
            p = subprocess.run([gateway_bin(), "keys", *args, "-c", self.g1.config_path],
                               capture_output=True, text=True, timeout=60)
            results.append(p)

        jobs = [["create", "--client", f"parallel-{i}"] for i in range(6)]
        jobs += [["rotate", "--client", "busy", "--grace", "1h", "--json"] for _ in range(4)]
        threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual([p.returncode for p in results], [0] * len(jobs),
                         "\n".join(p.stderr for p in results))
        self.cli.outputs += [p.stdout + p.stderr for p in results]
        # Every write took its own change number, in turn.
        self.assertEqual(int(self.pg.sql("SELECT seq FROM portcullis.change_seq")),
                         before + len(jobs))
        # Four rotations one after the other: five keys, and only the newest has no expiry (two
        # rotations that read the same state would each leave a key without one).
        busy = json.loads(self.cli.run("list", "--client", "busy", "--json",
                                       config=self.g1.config_path).stdout)
        self.assertEqual(len(busy), 5)
        self.assertEqual(sum(1 for k in busy if k["expires_at"] is None), 1, busy)

    def test_the_password_never_shows(self):
        texts = [self.g1.output(), self.g2.output(), self.g1.metrics(), *self.cli.outputs]
        self.assert_no_password(*texts)
        self.assertIn(f"postgresql://portcullis:***@127.0.0.1:{self.pg.port}/keys",
                      self.g1.output())
        # `check` with an invalid store (any scheme) and the CLI's failures mask it too.
        bad = os.path.join(self.workdir, "bad.yaml")
        for store in (self.pg.url(sslmode="sometimes"), f"mysql://u:{self.pg.password}@db/x",
                      f"sqlite://u:{self.pg.password}@db/x"):
            with open(bad, "w") as f:
                f.write(f"api_keys:\n  store: \"{store}\"\n  pepper: ${{PORTCULLIS_KEY_PEPPER}}\n")
            p = subprocess.run([gateway_bin(), "check", "-c", bad], capture_output=True, text=True)
            self.assertEqual(p.returncode, 1)
            self.assertIn("invalid api_keys.store", p.stderr)
            self.assertIn(":***@", p.stderr)
            self.assert_no_password(p.stdout, p.stderr)
        wrong = self.pg.url().replace(self.pg.password, self.pg.password[::-1])
        for url, code in ((wrong, 1), (self.pg.url(sslmode="bogus"), 2),
                          (f"postgresql://portcullis:{self.pg.password}@127.0.0.1:1/keys", 1)):
            p = self.cli.run("list", "--store", url, expect=code)
            self.assertIn("portcullis keys:", p.stderr)
            self.assert_no_password(p.stdout, p.stderr)
            self.assertNotIn(self.pg.password[::-1], p.stdout + p.stderr)

    def test_metrics_say_how_fresh_the_view_is(self):
        text = self.g1.metrics()
        self.assertIn("# HELP portcullis_api_key_store_staleness_seconds ", text)
        self.assertIn("# HELP portcullis_api_key_usage_dropped_total ", text)
        samples = {n: v for n, _, v in parse_prometheus(text)}
        self.assertEqual(samples["portcullis_api_key_store_up"], 1)
        self.assertLess(samples["portcullis_api_key_store_staleness_seconds"], 61)


class CatchUpTest(PostgresTestBase):
    """A change whose notification never arrives: seen by the periodic poll, or at once when
    the listening connection comes back."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.cli.run("migrate", "--store", cls.pg.url())

    def revoke_silently(self, key_id: str) -> None:
        """A revocation as the CLI writes it, minus the NOTIFY."""
        self.pg.sql("WITH c AS (UPDATE portcullis.change_seq SET seq = seq + 1 RETURNING seq) "
                    "UPDATE portcullis.api_keys SET status = 'revoked', seq = (SELECT seq FROM c) "
                    f"WHERE id = '{key_id}'")

    def test_gateway_with_the_documented_grants(self):
        # api-keys.md: what a gateway's role needs, and no more.
        password = "gw-" + secrets.token_urlsafe(12)
        self.pg.sql(f"CREATE ROLE gw LOGIN PASSWORD '{password}'")
        self.pg.sql("GRANT USAGE ON SCHEMA portcullis TO gw; "
                    "GRANT SELECT ON ALL TABLES IN SCHEMA portcullis TO gw; "
                    "GRANT UPDATE (last_used_at) ON portcullis.api_keys TO gw; "
                    "GRANT INSERT ON portcullis.meta TO gw")
        url = f"postgresql://gw:{password}@127.0.0.1:{self.pg.port}/keys"
        g = self.gateway("least", key_config(self.echo, url, poll_ms=60000))
        k = json.loads(self.cli.run("create", "--client", "least", "--scopes", "reports:read",
                                    "--json", "--store", self.pg.url()).stdout)
        self.assertLess(self.seconds_until([g], k["key"], 200), 1.0)
        wait_until(lambda: self.pg.sql("SELECT last_used_at IS NOT NULL FROM "
                                       f"portcullis.api_keys WHERE id = '{k['id']}'") == "t",
                   10, interval=0.2, message="last_used_at written by the gateway")
        self.assertNotIn(password, g.output())
        g.stop()

    def test_missed_notification_is_caught_up_on_reconnection(self):
        g = self.gateway("slow-poll", key_config(self.echo, self.pg.url(), poll_ms=60000))
        k = self.cli.create(g.config_path, "silent", "--scopes", "reports:read")
        self.seconds_until([g], k["key"], 200)
        self.revoke_silently(k["id"])
        time.sleep(1.5)
        self.assertEqual(self.status(g, k["key"]), 200, "no notification, no poll yet")
        mark = g.output_mark()
        # The listening connection drops (as on a network blip) and comes back.
        self.pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                    "application_name = 'portcullis-gateway' AND query LIKE 'LISTEN%'")
        g.wait_for_output(r"listening for key changes on .* again", timeout=5, since=mark)
        self.assertLess(self.seconds_until([g], k["key"], 401, timeout=3), 1.0)
        g.stop()

    def store_up(self, g: Gateway) -> float:
        return next(v for n, _, v in parse_prometheus(g.metrics())
                    if n == "portcullis_api_key_store_up")

    def test_a_restore_that_brings_the_counter_back_is_followed(self):
        """Found by an acceptance check: the database restored from a backup while the gateway
        could not reach it, then a key revoked there. The change counter was back at the very
        number the gateway had seen last, so reading the changes since found none: the revoked
        key, and a key the backup did not have, stayed accepted until a restart. After a
        failed read the gateway now reads the store whole."""
        password = "gw-" + secrets.token_urlsafe(12)
        self.pg.sql(f"CREATE ROLE restored LOGIN PASSWORD '{password}'")
        self.pg.sql("GRANT USAGE ON SCHEMA portcullis TO restored; "
                    "GRANT SELECT ON ALL TABLES IN SCHEMA portcullis TO restored; "
                    "GRANT UPDATE (last_used_at) ON portcullis.api_keys TO restored; "
                    "GRANT INSERT ON portcullis.meta TO restored")
        url = f"postgresql://restored:{password}@127.0.0.1:{self.pg.port}/keys"
        g = self.gateway("restored", key_config(self.echo, url, poll_ms=300))

        def create(client: str) -> dict:
            return json.loads(self.cli.run("create", "--client", client, "--scopes",
                                           "reports:read", "--json", "--store",
                                           self.pg.url()).stdout)

        kept = create("in-the-backup")
        backup_seq = self.pg.sql("SELECT seq FROM portcullis.change_seq")
        lost = create("after-the-backup")
        self.seconds_until([g], lost["key"], 200)
        # Cut off, as a restore or a failover does.
        self.pg.sql("ALTER ROLE restored NOLOGIN")
        self.pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE usename = 'restored'")
        wait_until(lambda: self.store_up(g) == 0, 10, interval=0.1, message="a failed read")
        # The restore: the backup's rows and counter; then a revocation after it.
        self.pg.sql(f"DELETE FROM portcullis.api_keys WHERE id = '{lost['id']}'; "
                    f"UPDATE portcullis.change_seq SET seq = {backup_seq}")
        self.revoke_silently(kept["id"])
        self.pg.sql("ALTER ROLE restored LOGIN")
        self.seconds_until([g], kept["key"], 401, timeout=10)
        self.assertEqual(self.status(g, lost["key"]), 401)
        self.assertIn("whole again after failing to read it", g.output())
        g.stop()

    def test_a_backend_that_hangs_is_given_up(self):
        """Found by an acceptance check: with the gateway's backend stopped (as a hung server,
        or a pooler holding the socket open, would be), key changes stalled for as long as it
        hung. A statement that hears nothing for 10 s gives its connection up."""
        g = self.gateway("hung", key_config(self.echo, self.pg.url(), poll_ms=500))
        k = self.cli.create(g.config_path, "hung", "--scopes", "reports:read")
        self.seconds_until([g], k["key"], 200)
        pids = [int(p) for p in self.pg.sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'portcullis-gateway' "
            "AND query NOT LIKE 'LISTEN%'").split()]
        self.assertTrue(pids)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            self.cli.run("revoke", k["id"], config=g.config_path)
            self.assertLess(self.seconds_until([g], k["key"], 401, timeout=25), 25)
            self.assertIn("did not answer within 10000 ms", g.output())
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        g.stop()

    def test_periodic_poll_by_sequence_number(self):
        g = self.gateway("fast-poll", key_config(self.echo, self.pg.url(), poll_ms=500))
        k = self.cli.create(g.config_path, "polled", "--scopes", "reports:read")
        self.seconds_until([g], k["key"], 200)
        self.revoke_silently(k["id"])
        self.assertLess(self.seconds_until([g], k["key"], 401, timeout=3), 1.5)
        g.stop()


class OutageTest(PostgresTestBase):
    def test_database_lost_while_serving(self):
        cfg = key_config(self.echo, self.pg.url())
        cfg["api_keys"]["gates_readiness"] = False
        g = self.gateway("outage", cfg)
        k = self.cli.create(g.config_path, "steady", "--scopes", "reports:read")
        other = self.cli.create(g.config_path, "to-revoke", "--scopes", "reports:read")
        self.seconds_until([g], other["key"], 200)
        traffic_headers = [("X-API-Key", k["key"])]
        mark = g.output_mark()
        self.pg.kill()
        g.wait_for_output(r"key store unavailable, serving the last good view \(\d+ keys, \d+s "
                          r"old\)", timeout=5, since=mark)
        # The last good view keeps serving, for as long as it takes.
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            r = g.request("GET", "/v1/reports", traffic_headers)
            self.assertEqual(r.status, 200, str(r))
            time.sleep(0.05)
        samples = {n: v for n, _, v in parse_prometheus(g.metrics())}
        self.assertEqual(samples["portcullis_api_key_store_up"], 0)
        # Listed in /readyz; not gating here (api_keys.gates_readiness: false, as advised for
        # several gateways on one database).
        ready = g.admin_get("/readyz")
        self.assertEqual(ready.status, 200)
        self.assertIn({"dependency": "api_keys", "reason": "key store unreadable",
                       "gating": False}, ready.json()["not_ready"])
        self.assertGreaterEqual(samples["portcullis_api_key_store_staleness_seconds"], 4)
        # Uses that could not be written are dropped and counted, not queued.
        self.assertGreater(samples["portcullis_api_key_usage_dropped_total"], 0)
        self.assertEqual(self.status(g, other["key"]), 200)

        mark = g.output_mark()
        self.pg.start()
        g.wait_for_output(r"key store .* is readable again", timeout=10, since=mark)
        self.cli.run("revoke", other["id"], config=g.config_path)
        self.assertLess(self.seconds_until([g], other["key"], 401), 1.0)
        self.assertEqual(self.status(g, k["key"]), 200)
        self.assert_no_password(g.output(), g.metrics())
        g.stop()

    def test_database_down_at_start_up(self):
        cfg = key_config(self.echo, self.pg.url(), poll_ms=1000)
        g = self.gateway("late", cfg, start=False)
        key = self.cli.create(g.config_path, "early", "--scopes", "reports:read")
        self.pg.stop()
        try:
            g.start(wait_ready=False)
            r = g.request("GET", "/v1/reports", [("X-API-Key", key["key"])])
            self.assertEqual(r.status, 503, str(r))
            self.assertEqual(r.json().get("error"), "temporarily_unavailable")
            ready = g.admin_get("/readyz")
            self.assertEqual(ready.status, 503)
            self.assertIn({"dependency": "api_keys", "reason": "key store not loaded yet",
                           "gating": True}, ready.json()["not_ready"])
            # Routes without API keys are served meanwhile.
            self.assertEqual(g.request("GET", "/healthz").status, 200)
            g.wait_for_output(r"cannot load the key store .*503", timeout=5)
        finally:
            self.pg.start()
        took = self.seconds_until([g], key["key"], 200, timeout=10)
        self.assertLess(took, 5)
        self.assertEqual(g.admin_get("/readyz").status, 200)
        self.assert_no_password(g.output())
        g.stop()


class CopyFromSqliteTest(PostgresTestBase):
    """`keys copy --from sqlite:... --to postgresql://...`: every key, with its hash and
    settings, authenticates on the PostgreSQL gateway exactly as it did on the SQLite one."""

    def observe(self, g: Gateway, keys: dict) -> dict:
        seen = {}
        for name, k in keys.items():
            for path in ("/v1/reports", "/v1/other"):
                r = g.request("GET", path, [("X-API-Key", k["key"])])
                if r.status == 200:
                    e = r.echo()
                    what = (e.header("X-Client-Id"), e.header("X-User-Scopes"))
                else:
                    what = r.json().get("error_description")
                seen[(name, path)] = (r.status, what)
        return seen

    @staticmethod
    def listing(cli: Cli, config: str) -> list:
        rows = json.loads(cli.run("list", "--json", config=config).stdout)
        for r in rows:
            r.pop("last_used_at")  # written by use, at its own pace
        return rows

    def test_copied_keys_authenticate_identically(self):
        gs = self.gateway("sqlite", key_config(self.echo, "sqlite:keys.db"), start=False)
        sqlite_path = os.path.join(os.path.dirname(gs.config_path), "keys.db")
        c = lambda *a: self.cli.create(gs.config_path, *a)  # noqa: E731
        keys = {
            "plain": c("plain", "--scopes", "reports:read,export", "--label", "a label"),
            "expiring": c("expiring", "--scopes", "reports:read", "--expires",
                          rfc3339(time.time() + 86400)),
            "expired": c("expired", "--scopes", "reports:read", "--expires",
                         rfc3339(time.time() + 2)),
            "cidr_ok": c("cidr-ok", "--scopes", "reports:read", "--allow-cidr", "127.0.0.0/8"),
            "cidr_no": c("cidr-no", "--scopes", "reports:read", "--allow-cidr", "10.0.0.0/8",
                         "--allow-cidr", "2001:db8::/32"),
            "route_bound": c("route-bound", "--scopes", "reports:read", "--routes", "other"),
            "no_scope": c("no-scope"),
            "disabled": c("disabled", "--scopes", "reports:read"),
            "revoked": c("revoked", "--scopes", "reports:read"),
        }
        self.cli.run("disable", keys["disabled"]["id"], config=gs.config_path)
        self.cli.run("revoke", keys["revoked"]["id"], config=gs.config_path)
        time.sleep(2.5)  # "expired" is past its expiry from here on
        gs.start()
        before = self.observe(gs, keys)
        self.assertEqual(before[("plain", "/v1/reports")], (200, ("plain", "reports:read export")))
        self.assertEqual(before[("expired", "/v1/reports")][0], 401)
        self.assertEqual(before[("cidr_no", "/v1/reports")][0], 403)

        gp = self.gateway("postgres", key_config(self.echo, self.pg.url()), start=False)
        src = f"sqlite://{sqlite_path}"
        p = self.cli.run("copy", "--from", src, "--to", self.pg.url())
        self.assertIn("copied 9 keys", p.stdout)
        self.assertIn("9 added, 0 updated, 0 unchanged, 0 conflicting", p.stdout)
        self.assert_no_password(p.stdout, p.stderr)
        # Again: nothing to do.
        p = self.cli.run("copy", "--from", src, config=gp.config_path)
        self.assertIn("0 added, 0 updated, 9 unchanged, 0 conflicting", p.stdout)

        gp.start()
        self.assertEqual(self.observe(gp, keys), before)
        self.assertEqual(self.listing(self.cli, gp.config_path),
                         self.listing(self.cli, gs.config_path))

        # A change made in the old store is carried over by the next copy (and the running
        # gateway sees it at once: the copy notifies).
        self.cli.run("disable", keys["plain"]["id"], config=gs.config_path)
        p = self.cli.run("copy", "--from", src, config=gp.config_path)
        self.assertIn("0 added, 1 updated, 8 unchanged", p.stdout)
        self.assertLess(self.seconds_until([gp], keys["plain"]["key"], 401), 1.0)

        # An id that holds another key in the destination is left alone and fails the copy.
        self.pg.sql("UPDATE portcullis.api_keys SET secret_hmac = decode(repeat('ab', 32), "
                    f"'hex') WHERE id = '{keys['no_scope']['id']}'")
        p = self.cli.run("copy", "--from", src, config=gp.config_path, expect=1)
        self.assertIn("1 conflicting", p.stdout)
        self.assertIn(keys["no_scope"]["id"], p.stderr)
        gs.stop()
        gp.stop()

    def test_copy_refuses_another_pepper(self):
        other_dir = os.path.join(self.workdir, "other-pepper")
        os.makedirs(other_dir, exist_ok=True)
        store = f"sqlite://{other_dir}/keys.db"
        env = dict(os.environ, PORTCULLIS_KEY_PEPPER=secrets.token_urlsafe(32))
        self.cli.run("create", "--client", "x", "--store", store, env=env)
        target = self.pg.url()
        # Bind the destination to this module's pepper first.
        self.cli.run("migrate", "--store", target)
        self.cli.run("create", "--client", "y", "--store", target)
        p = self.cli.run("copy", "--from", store, "--to", target, expect=1)
        self.assertIn("pepper", p.stderr)
        self.assert_no_password(p.stdout, p.stderr)


if __name__ == "__main__":
    unittest.main()
