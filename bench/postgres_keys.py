#!/usr/bin/env python3
"""The PostgreSQL key store at scale, against a real PostgreSQL 15 started for the run
(tests/integration/pg.py):

    python3 bench/postgres_keys.py [--count 1000000] [--revokes 20] [--repeat 3]

1. a SQLite store of COUNT real keys (bench/gen_keys.py), moved into PostgreSQL with
   `portcullis keys copy` (timed);
2. gateway start-up on that store: time from exec to /readyz answering 200, and the load time
   the gateway logs (`api keys: loaded N keys ... in T ms`), median of REPEAT starts, with RSS;
3. two gateways on the database: `portcullis keys revoke ID` run REVOKES times, each time
   measuring until the *second* gateway answers 401 for that key, from the CLI's exit (the
   change is committed) and from its start (what an operator waits). Median and max;
4. with wrk installed: req/s through an API-key route with the PostgreSQL store and with the
   SQLite store the keys came from, one gateway at a time, alternating, REPEAT runs of
   DURATION seconds each (`wrk -t1 -c32`, one key; the upstream is portcullis-echo). The
   request path reads memory only, so the ratio should be about 1.

Prints figures; asserts nothing. Uses PORTCULLIS_BIN / PORTCULLIS_ECHO_BIN or ./build.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness import Echo, Gateway, base_config, gateway_bin, route, wait_until  # noqa: E402
from pg import Postgres  # noqa: E402


def config(echo: Echo, store: str) -> dict:
    cfg = base_config(echo.port, routes=[route("keys", path_prefix="/", auth=["api_key"])],
                      log={"level": "info", "access": "off"})
    cfg["api_keys"] = {"store": store, "pepper": "${PORTCULLIS_KEY_PEPPER}"}
    return cfg


def status(g: Gateway, key: str) -> int:
    return g.request("GET", "/x", [("X-API-Key", key)]).status


def throughput(echo: Echo, work: str, pg_url: str, sqlite: str, key: str, repeat: int,
               duration: int) -> dict:
    """req/s with each store, alternating; {} without wrk."""
    if shutil.which("wrk") is None:
        return {}
    out = {"pg": [], "sqlite": []}
    for i in range(repeat):
        for name, store in (("pg", pg_url), ("sqlite", f"sqlite://{sqlite}")):
            d = os.path.join(work, f"wrk-{name}-{i}")
            os.makedirs(d)
            g = Gateway(config(echo, store), d)
            try:
                g.start(timeout=120)
                assert status(g, key) == 200
                r = subprocess.run(["wrk", "-t1", "-c32", f"-d{duration}s", "-H", f"X-API-Key: {key}",
                                    f"http://127.0.0.1:{g.port}/x"], capture_output=True, text=True,
                                   check=True)
                out[name].append(float(re.search(r"Requests/sec:\s+([\d.]+)", r.stdout).group(1)))
                assert "Non-2xx" not in r.stdout, r.stdout
            finally:
                g.kill()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--revokes", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    args = ap.parse_args()
    os.environ.setdefault("PORTCULLIS_KEY_PEPPER", "bench-pepper-0123456789abcdef")
    os.environ.setdefault("PORTCULLIS_BIN", str(ROOT / "build" / "portcullis"))
    os.environ.setdefault("PORTCULLIS_ECHO_BIN", str(ROOT / "build" / "portcullis-echo"))

    work = tempfile.mkdtemp(prefix="portcullis-pgbench-")
    pg = Postgres()
    pg.start()
    pg.create_database()
    echo = Echo(work)
    gateways = []
    try:
        sqlite = os.path.join(work, "keys.db")
        samples = os.path.join(work, "samples.txt")
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_keys.py"), "--store", sqlite,
                        "--count", str(args.count), "--samples", samples, "--sample-count",
                        str(args.revokes + 1)], check=True)
        t0 = time.monotonic()
        subprocess.run([gateway_bin(), "keys", "copy", "--from", f"sqlite://{sqlite}", "--to",
                        pg.url()], check=True)
        copy_s = time.monotonic() - t0

        ready, loaded_ms, rss = [], [], []
        for i in range(args.repeat):
            d = os.path.join(work, f"start-{i}")
            os.makedirs(d)
            g = Gateway(config(echo, pg.url()), d)
            gateways.append(g)
            t0 = time.monotonic()
            g.start(timeout=120)
            ready.append(time.monotonic() - t0)
            m = re.search(r"loaded (\d+) keys from .* in (\d+) ms", g.stderr_text())
            assert m and int(m.group(1)) == args.count, g.stderr_text()
            loaded_ms.append(int(m.group(2)))
            with open(f"/proc/{g.pid}/status") as f:
                rss.append(int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024)
            g.stop()

        pair = []
        for name in ("a", "b"):
            d = os.path.join(work, f"gateway-{name}")
            os.makedirs(d)
            g = Gateway(config(echo, pg.url()), d)
            gateways.append(g)
            g.start(timeout=120)
            pair.append(g)
        keys = open(samples).read().split()[1:args.revokes + 1]
        after_exit, after_start = [], []
        for key in keys:
            assert status(pair[1], key) == 200
            t0 = time.monotonic()
            subprocess.run([gateway_bin(), "keys", "revoke", key[4:16], "-c", pair[0].config_path],
                           check=True, capture_output=True)
            t1 = time.monotonic()
            wait_until(lambda: status(pair[1], key) == 401, 10, interval=0.002)
            t2 = time.monotonic()
            after_exit.append((t2 - t1) * 1000)
            after_start.append((t2 - t0) * 1000)

        for g in pair:
            g.stop()
        rps = throughput(echo, work, pg.url(), sqlite, open(samples).read().split()[0],
                         args.repeat, args.duration)

        print(f"\nPostgreSQL key store, {args.count} keys, {os.cpu_count()} cores")
        print(f"keys copy from SQLite:            {copy_s:.1f} s")
        print(f"start to ready (median of {args.repeat}):    {statistics.median(ready):.2f} s "
              f"(all: {', '.join(f'{r:.2f}' for r in ready)})")
        print(f"load as logged (median):          {statistics.median(loaded_ms)} ms")
        print(f"gateway RSS once ready (median):  {statistics.median(rss):.0f} MiB")
        print(f"revoke -> 401 on the other gateway, {len(keys)} revocations:")
        print(f"  from the CLI's exit:   median {statistics.median(after_exit):.1f} ms, "
              f"max {max(after_exit):.1f} ms")
        print(f"  from the CLI's start:  median {statistics.median(after_start):.1f} ms, "
              f"max {max(after_start):.1f} ms")
        if rps:
            pg_rps, sqlite_rps = statistics.median(rps["pg"]), statistics.median(rps["sqlite"])
            print(f"API-key route, wrk -t1 -c32 -d{args.duration}s, median of {args.repeat}: "
                  f"PostgreSQL {pg_rps:.0f} req/s, SQLite {sqlite_rps:.0f} req/s "
                  f"({pg_rps / sqlite_rps:.2f}x)")
    finally:
        for g in gateways:
            g.kill()
        echo.stop()
        pg.destroy()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
