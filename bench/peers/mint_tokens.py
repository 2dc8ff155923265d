"""Prints N client-credentials access tokens from the test IdP, one per line.

    python3 bench/peers/mint_tokens.py http://127.0.0.1:9100 N
"""
import base64
import concurrent.futures
import json
import sys
import urllib.parse
import urllib.request

base, n = sys.argv[1], int(sys.argv[2])
auth = "Basic " + base64.b64encode(b"test-client:test-client-secret").decode()
body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "orders:read"}).encode()


def mint(_):
    req = urllib.request.Request(base + "/token", data=body, headers={"Authorization": auth})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["access_token"]


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    for token in pool.map(mint, range(n)):
        print(token)
