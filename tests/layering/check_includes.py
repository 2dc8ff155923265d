"""Checks the include rules the CMake libraries stand for (CMakeLists.txt):

* a mechanism folder (src/auth/api_key, jwt, oauth2, client_cert) includes no other mechanism;
* src/jose (pc_jose) includes nothing from the gateway outside src/jose;
* nothing outside src/runtime, src/cli, src/server and a mechanism's own folder includes a
  mechanism (the chain, identity and policy see only the Authenticator seam);
* no header of src/redis or src/ratelimit includes Asio or Beast (the runtime and the session
  include them; the Redis client keeps its socket in client.cc).
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
MECHANISMS = ("auth/api_key/", "auth/jwt/", "auth/oauth2/", "auth/client_cert/")
MAY_INCLUDE_MECHANISMS = ("runtime/", "cli/", "server/")
SYSTEM_ASIO = re.compile(r'^\s*#\s*include\s+<boost/(?:asio|beast)', re.M)
NO_ASIO_HEADERS = ("redis/", "ratelimit/")


def problems(src: pathlib.Path):
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".cc"):
            continue
        rel = path.relative_to(src).as_posix()
        text = path.read_text(encoding="utf-8")
        if rel.startswith(NO_ASIO_HEADERS) and path.suffix == ".h" and SYSTEM_ASIO.search(text):
            yield f"{rel}: includes Asio or Beast (keep them in the .cc)"
        for inc in INCLUDE.findall(text):
            if rel.startswith("jose/") and not inc.startswith("jose/"):
                yield f"{rel}: includes {inc} (pc_jose stands alone)"
            for m in MECHANISMS:
                if not inc.startswith(m) or rel.startswith(m):
                    continue
                if any(rel.startswith(o) for o in MECHANISMS):
                    yield f"{rel}: includes {inc} (a mechanism knows no other)"
                elif not rel.startswith(MAY_INCLUDE_MECHANISMS):
                    yield f"{rel}: includes {inc} (only the runtime builds mechanisms)"


def main() -> int:
    found = list(problems(pathlib.Path(sys.argv[1])))
    for p in found:
        print(p)
    print(f"{len(found)} include rule(s) broken")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
