#!/usr/bin/env python3
"""Bulk-fills an API key store for benchmarks: N keys in one transaction, in seconds.

    PORTCULLIS_KEY_PEPPER=... bench/gen_keys.py --store /tmp/keys.db --count 1000000 \
        --samples /tmp/sample-keys.txt

The schema is made by the gateway's own CLI (`portcullis keys create`, which also gives the
first sample key), so this script never has its own copy of it. Keys are real: the secret
is from os.urandom in base62, stored as HMAC-SHA-256(pepper, secret), and `--samples` gets
full keys (with checksums) that authenticate. Needs PORTCULLIS_BIN or ./build/portcullis.
"""

import argparse
import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Byte b < 248 -> ALPHABET[b % 62]; bytes 248..255 are dropped (no modulo bias).
MAP = bytes(ALPHABET[b % 62] if b < 248 else 0 for b in range(256))
DROP = bytes(range(248, 256))
SCOPE_SETS = ["reports:read", "reports:read export", "reports:read reports:write", "billing:read",
              "reports:read billing:read export"]


def base62_stream(n_chars: int) -> bytes:
    out = bytearray()
    while len(out) < n_chars:
        raw = os.urandom(int((n_chars - len(out)) * 1.05) + 64)
        out += raw.translate(None, DROP).translate(MAP)
    return bytes(out[:n_chars])


def checksum(body: bytes) -> str:
    v = zlib.crc32(body)
    s = ""
    for _ in range(6):
        s = chr(ALPHABET[v % 62]) + s
        v //= 62
    return s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="SQLite file (created if missing)")
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=10_000, help="distinct client ids")
    ap.add_argument("--samples", help="write this many full keys here (see --sample-count)")
    ap.add_argument("--sample-count", type=int, default=100)
    ap.add_argument("--scopes", default=None, help="give every key these scopes (space-separated)")
    args = ap.parse_args()

    pepper = os.environ.get("PORTCULLIS_KEY_PEPPER", "").encode()
    if len(pepper) < 16:
        print("set PORTCULLIS_KEY_PEPPER (>= 16 bytes)", file=sys.stderr)
        return 1
    binary = os.environ.get("PORTCULLIS_BIN") or str(Path(__file__).resolve().parent.parent / "build" / "portcullis")
    store = os.path.abspath(args.store)

    t0 = time.monotonic()
    # Schema, pepper fingerprint and one real key, through the CLI.
    first = json.loads(subprocess.run(
        [binary, "keys", "create", "--client", "bench-client-00000", "--scopes",
         ",".join((args.scopes or "reports:read").split()), "--json", "--store", f"sqlite://{store}"],
        check=True, capture_output=True, text=True).stdout)
    samples = [first["key"]]

    n = args.count - 1
    ids = base62_stream(12 * n)
    secrets_ = base62_stream(43 * n)
    rows = []
    now = int(time.time())
    for i in range(n):
        key_id = ids[12 * i:12 * i + 12]
        secret = secrets_[43 * i:43 * i + 43]
        digest = hmac.new(pepper, secret, hashlib.sha256).digest()
        scopes = args.scopes if args.scopes is not None else SCOPE_SETS[i % len(SCOPE_SETS)]
        cidrs = "10.0.0.0/8 127.0.0.0/8" if i % 10 == 0 else ""
        rows.append((key_id.decode(), digest, f"bench-client-{i % args.clients:05d}", now, scopes,
                     cidrs))
        if len(samples) < args.sample_count:
            body = b"ptk_" + key_id + b"_" + secret
            samples.append(body.decode() + checksum(body))
    t1 = time.monotonic()
    rows.sort()  # B-tree inserts in key order are much faster

    db = sqlite3.connect(store)
    db.execute("PRAGMA busy_timeout = 10000")
    with db:
        seq = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM api_keys").fetchone()[0]
        db.executemany(
            "INSERT OR IGNORE INTO api_keys (id, secret_hmac, client_id, status, created_at, "
            "scopes, cidrs, seq) VALUES (?, ?, ?, 'active', ?, ?, ?, %d)" % seq, rows)
    total = db.execute("SELECT count(*) FROM api_keys").fetchone()[0]
    db.close()
    t2 = time.monotonic()

    if args.samples:
        with open(args.samples, "w") as f:
            f.write("\n".join(samples) + "\n")
        os.chmod(args.samples, 0o600)
    print(f"{total} keys in {store} (generated in {t1 - t0:.1f}s, inserted in {t2 - t1:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
