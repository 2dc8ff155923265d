"""Per-key rate plans (issue 13 item 3) through the real `portcullis keys` CLI, on SQLite and on
a real PostgreSQL (pg.py): `keys create --rate-limit`, `keys update --rate-limit` (and `none`),
`keys list` showing the plan, the exit codes (0 done, 1 failed, 2 wrong command line), a key
store from before plans existed upgraded in place (a SQLite file on open, a PostgreSQL schema by
`keys migrate`), `keys copy` and `keys rotate` carrying the plan, and a gateway on an old
PostgreSQL schema that keeps serving while the schema is migrated under it and then uses a
plan set with `keys update` at once (LISTEN/NOTIFY; its limiter shows it). The limiter's side
for keys and tokens on SQLite is in test_rate_plans_gateway.py.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest
from typing import Optional

from harness import (Echo, Gateway, base_config, gateway_bin, parse_prometheus, require_binary,
                     route, wait_until)
from pg import Postgres

PEPPER = secrets.token_urlsafe(32)
os.environ["PORTCULLIS_KEY_PEPPER"] = PEPPER  # the CLI's, and the gateways' config reference

# The SQLite schema a version-1 portcullis created, word for word.
SQLITE_V1 = """
CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY NOT NULL,
  secret_hmac  BLOB NOT NULL CHECK (length(secret_hmac) = 32),
  client_id    TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  scopes       TEXT NOT NULL DEFAULT '',
  routes       TEXT NOT NULL DEFAULT '',
  cidrs        TEXT NOT NULL DEFAULT '',
  label        TEXT NOT NULL DEFAULT '',
  last_used_at INTEGER,
  seq          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_keys_seq ON api_keys (seq);
CREATE INDEX api_keys_client ON api_keys (client_id);
CREATE TABLE portcullis_meta (
  name  TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
"""


def keys(*args: str, expect: Optional[int] = 0) -> subprocess.CompletedProcess:
    p = subprocess.run([gateway_bin(), "keys", *args], capture_output=True, text=True,
                       timeout=60)
    if expect is not None and p.returncode != expect:
        raise AssertionError(f"keys {' '.join(args)} exited {p.returncode}, not {expect}:\n"
                             f"{p.stdout}{p.stderr}")
    return p


class PlanCliChecks:
    """The CLI checks both stores pass; `store` is the --store URL of an empty store."""

    store: str

    def create(self, client: str, *extra: str) -> dict:
        return json.loads(keys("--store", self.store, "create", "--client", client, "--json",
                               *extra).stdout)

    def listing(self) -> dict:
        rows = json.loads(keys("--store", self.store, "list", "--json").stdout)
        return {r["id"]: r for r in rows}

    def test_create_update_list(self):
        k = self.create("partner-123", "--rate-limit", "1000/1m")
        self.assertEqual(k["rate_limit"], "1000/1m")
        plain = self.create("plain")
        self.assertIsNone(plain["rate_limit"])
        rows = self.listing()
        self.assertEqual(rows[k["id"]]["rate_limit"], "1000/1m")
        self.assertIsNone(rows[plain["id"]]["rate_limit"])

        # The table shows a PLAN column: the plan, or '-'.
        table = keys("--store", self.store, "list").stdout.splitlines()
        header = table[0].split()
        self.assertIn("PLAN", header)
        line = next(row for row in table if row.startswith(k["id"]))
        self.assertIn(" 1000/1m ", f" {line} ")

        p = keys("--store", self.store, "update", k["id"], "--rate-limit", "500/1m")
        self.assertIn(f"key {k['id']} (client partner-123): rate limit 1000/1m -> 500/1m",
                      p.stdout)
        self.assertEqual(self.listing()[k["id"]]["rate_limit"], "500/1m")
        # Written in its largest unit.
        p = keys("--store", self.store, "update", k["id"], "--rate-limit", "120/3600s", "--json")
        self.assertEqual(json.loads(p.stdout),
                         {"id": k["id"], "client_id": "partner-123", "rate_limit": "120/1h",
                          "previous_rate_limit": "500/1m"})
        p = keys("--store", self.store, "update", k["id"], "--rate-limit", "none")
        self.assertIn("rate limit 120/1h -> none", p.stdout)
        self.assertIsNone(self.listing()[k["id"]]["rate_limit"])
        # A plan can be given to a key that had none.
        keys("--store", self.store, "update", plain["id"], "--rate-limit", "3/1s")
        self.assertEqual(self.listing()[plain["id"]]["rate_limit"], "3/1s")

    def test_human_create_output_names_the_plan(self):
        p = keys("--store", self.store, "create", "--client", "human", "--rate-limit", "10/1d")
        self.assertIn("plan:    10/1d", p.stdout)

    def test_exit_codes(self):
        k = self.create("codes")
        revoked = self.create("codes")
        keys("--store", self.store, "revoke", revoked["id"])
        cases = [
            # The command line is wrong: nothing is done (2), with a message.
            (2, ["create", "--client", "c", "--rate-limit", "lots"], "REQUESTS/WINDOW"),
            (2, ["create", "--client", "c", "--rate-limit", "10/1w"], "window"),
            (2, ["create", "--client", "c", "--rate-limit", "0/1m"], "number of requests"),
            (2, ["create", "--client", "c", "--rate-limit", "none"], "REQUESTS/WINDOW"),
            (2, ["update", k["id"]], "nothing to update"),
            (2, ["update", k["id"], "--rate-limit", "1000/1m/1m"], "window"),
            (2, ["update", "not-an-id", "--rate-limit", "1/1s"], "not a key id"),
            (2, ["update", "ptk_" + k["id"], "--rate-limit", "1/1s"], "the key id"),
            # The command ran and failed (1).
            (1, ["update", "AAAAAAAAAAAA", "--rate-limit", "1/1s"], "no key with id"),
            (1, ["update", revoked["id"], "--rate-limit", "1/1s"], "revocation is final"),
        ]
        before = len(self.listing())
        for code, args, message in cases:
            with self.subTest(args=args):
                p = keys("--store", self.store, *args, expect=None)
                self.assertEqual(p.returncode, code, p.stdout + p.stderr)
                self.assertIn(message, p.stderr)
        self.assertIsNone(self.listing()[k["id"]]["rate_limit"], "a refused update changed nothing")
        self.assertEqual(len(self.listing()), before, "a refused create made no key")

    def test_rotate_copies_the_plan(self):
        old = self.create("rotating", "--rate-limit", "7/1m")
        p = keys("--store", self.store, "rotate", "--client", "rotating", "--grace", "1h",
                 "--json")
        new = json.loads(p.stdout)
        self.assertNotEqual(new["id"], old["id"])
        self.assertEqual(new["rate_limit"], "7/1m")
        self.assertEqual(self.listing()[new["id"]]["rate_limit"], "7/1m")


class SqlitePlansTest(PlanCliChecks, unittest.TestCase):

    @classmethod
    def setUpClass(cls) -> None:
        require_binary(gateway_bin())
        cls.dir = tempfile.mkdtemp(prefix="portcullis-plans-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.store = f"sqlite://{cls.dir}/keys.db"

    def test_old_database_file_is_upgraded_in_place(self):
        """A keys.db written before plans existed: the next command upgrades it (its keys kept,
        without a plan) and the plan can then be set."""
        path = os.path.join(self.dir, "old.db")
        with sqlite3.connect(path) as db:
            db.executescript(SQLITE_V1)
            db.execute("INSERT INTO api_keys (id, secret_hmac, client_id, status, created_at, seq) "
                       "VALUES ('OldKey123456', zeroblob(32), 'legacy', 'active', 1600000000, 1)")
        db.close()
        inode = os.stat(path).st_ino
        store = f"sqlite://{path}"
        rows = json.loads(keys("--store", store, "list", "--json").stdout)
        self.assertEqual([(r["id"], r["client_id"], r["rate_limit"]) for r in rows],
                         [("OldKey123456", "legacy", None)])
        keys("--store", store, "update", "OldKey123456", "--rate-limit", "5/1m")
        with sqlite3.connect(path) as db:
            self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 2)
            self.assertEqual(db.execute("SELECT rate_limit FROM api_keys").fetchone()[0], "5/1m")
        db.close()
        self.assertEqual(os.stat(path).st_ino, inode, "upgraded in place, not replaced")


class PostgresPlansTest(PlanCliChecks, unittest.TestCase):

    @classmethod
    def setUpClass(cls) -> None:
        require_binary(gateway_bin())
        cls.workdir = tempfile.mkdtemp(prefix="portcullis-plans-pg-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        cls.pg = Postgres()
        cls.addClassCleanup(cls.pg.destroy)
        cls.pg.start()
        cls.pg.create_database()
        cls.store = cls.pg.url()
        p = keys("--store", cls.store, "migrate")
        assert "applied migration 2: api_keys.rate_limit" in p.stdout, p.stdout
        cls.echo = Echo(cls.workdir)
        cls.addClassCleanup(cls.echo.stop)

    def test_copy_from_sqlite_carries_plans(self):
        src_path = os.path.join(self.workdir, "src.db")
        src = f"sqlite://{src_path}"
        made = json.loads(keys("--store", src, "create", "--client", "copied", "--rate-limit",
                               "42/1h", "--json").stdout)
        keys("copy", "--from", src, "--to", self.store)
        self.assertEqual(self.listing()[made["id"]]["rate_limit"], "42/1h")
        keys("--store", src, "update", made["id"], "--rate-limit", "none")
        p = keys("copy", "--from", src, "--to", self.store)
        self.assertIn("1 updated", p.stdout)
        self.assertIsNone(self.listing()[made["id"]]["rate_limit"])

    def test_gateway_on_an_old_schema_picks_up_plans_once_migrated(self):
        """A gateway of this version on a schema still at version 1 (migrate not run yet)
        authenticates its keys; `keys migrate` adds the column under it, and a plan set then
        is used by the running gateway at once: the poll interval is a minute, so only the
        notification can bring it (LISTEN/NOTIFY), and the store is never reported down."""
        db = "oldschema"
        self.pg.create_database(db)
        store = self.pg.url(db)
        key = json.loads(keys("--store", store, "create", "--client", "legacy", "--json").stdout)
        # Back to what version 1 left behind.
        self.pg.sql("ALTER TABLE portcullis.api_keys DROP COLUMN rate_limit; "
                    "DELETE FROM portcullis.schema_migrations WHERE version = 2", db=db)
        p = keys("--store", store, "list", expect=1)
        self.assertIn("run `portcullis keys migrate`", p.stderr)

        cfg = base_config(self.echo.port, routes=[
            route("reports", path_prefix="/v1/reports", auth=["api_key"],
                  rate_limits=["per-client"])])
        cfg["rate_limits"] = {"per-client": {"requests": 1000, "per": "1m", "key": "client_id"}}
        cfg["api_keys"] = {"store": store, "pepper": "${PORTCULLIS_KEY_PEPPER}",
                           "poll_interval_ms": 60000}
        d = os.path.join(self.workdir, "gw-old")
        os.makedirs(d, exist_ok=True)
        g = Gateway(cfg, d)
        self.addCleanup(g.kill)
        g.start()
        status = lambda: g.request("GET", "/v1/reports", [("X-API-Key", key["key"])]).status  # noqa
        self.assertEqual(status(), 200)

        p = keys("--store", store, "migrate")
        self.assertIn("applied migration 2", p.stdout)
        keys("--store", store, "update", key["id"], "--rate-limit", "2/1m")
        # At most ~100 requests in these 5 s: a 429 can only be the plan's, not the route's 1000.
        wait_until(lambda: status() == 429, 5, interval=0.05, message="the plan to be used")
        keys("--store", store, "update", key["id"], "--rate-limit", "none")
        wait_until(lambda: status() == 200, 5, interval=0.05,
                   message="the route's limit to apply again")

        samples = {n: v for n, _, v in parse_prometheus(g.metrics())}
        self.assertEqual(samples["portcullis_api_key_store_up"], 1)
        self.assertEqual(samples.get("portcullis_api_key_store_errors_total", 0), 0)
        g.stop()
        self.assertNotIn("cannot read keys", g.output())

if __name__ == "__main__":
    unittest.main()
