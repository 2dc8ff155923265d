"""Test certificates, made at test time with the openssl CLI in a temporary folder: no private
key is ever committed. One Pki per test class (or test) holds any number of CAs; each CA
issues server certificates (DNS and IP SANs), client certificates (CN, SAN DNS, SAN URI,
email), intermediates for chains, and certificates outside their validity period.

    pki = Pki(workdir)
    ca = pki.ca("test-ca")
    server = ca.server("upstream", dns=["localhost"], ips=["127.0.0.1"])
    expired = ca.server("old", expired=True)
    client = ca.client("gw", cn="gateway", uris=["spiffe://test/gw"])
    other = pki.ca("other-ca")            # an untrusted CA for the same names

A Cert has .cert (PEM, the leaf), .key (PEM, PKCS#8, mode 0600), .chain (leaf followed by
the intermediates, what a server sends), .ca (the root's PEM file) and .name. ECDSA P-256
by default; key="rsa" gives RSA 2048.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

_UTC = datetime.timezone.utc


def require_openssl() -> str:
    """The openssl binary (fails, never skips, when it is missing)."""
    path = shutil.which("openssl")
    if not path:
        raise RuntimeError("openssl not found: the TLS tests need the openssl CLI (scripts/deps.sh)")
    return path


def _run(args: Sequence[str], cwd: Path) -> None:
    r = subprocess.run([require_openssl(), *args], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stderr.decode()[-2000:]}")


def _time(t: datetime.datetime) -> str:
    """The GeneralizedTime `openssl ca -startdate/-enddate` take."""
    return t.astimezone(_UTC).strftime("%Y%m%d%H%M%SZ")


def _new_key(path: Path, kind: str) -> None:
    if kind == "ec":
        args = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    elif kind == "rsa":
        args = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    else:
        raise ValueError(f"unknown key kind {kind!r} (ec or rsa)")
    _run(["genpkey", *args, "-out", str(path)], path.parent)
    os.chmod(path, 0o600)


@dataclass
class Cert:
    name: str
    cert: str   # the leaf certificate, PEM
    key: str    # its private key, PEM (PKCS#8)
    chain: str  # the leaf, then each intermediate up to (not including) the root
    ca: str     # the root certificate of the CA that issued it, PEM

    def fingerprint_sha256(self) -> bytes:
        """SHA-256 of the leaf's DER (RFC 8705 x5t#S256 is its base64url)."""
        der = subprocess.run([require_openssl(), "x509", "-in", self.cert, "-outform", "DER"],
                             check=True, stdout=subprocess.PIPE).stdout
        return hashlib.sha256(der).digest()


class Ca:
    """A certificate authority kept in its own folder (an `openssl ca` database)."""

    def __init__(self, pki: "Pki", name: str, parent: Optional["Ca"] = None,
                 key: str = "ec", days: int = 3650):
        self.pki = pki
        self.name = name
        self.parent = parent
        self.dir = pki.dir / name
        if self.dir.exists():
            raise ValueError(f"a CA named {name!r} exists already")
        (self.dir / "new").mkdir(parents=True)
        (self.dir / "index.txt").write_text("")
        (self.dir / "index.txt.attr").write_text("unique_subject = no\n")
        (self.dir / "serial").write_text(os.urandom(8).hex().upper() + "\n")
        self.key = str(self.dir / "ca.key")
        self.cert = str(self.dir / "ca.pem")
        _new_key(Path(self.key), key)
        if parent is None:
            _run(["req", "-x509", "-new", "-key", self.key, "-out", self.cert, "-days", str(days),
                  "-subj", f"/O=Portcullis tests/CN={name}",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                  "-addext", "subjectKeyIdentifier=hash"], self.dir)
            self.root = self.cert
            self.chain_above: list = []
        else:
            csr = self.dir / "ca.csr"
            _run(["req", "-new", "-key", self.key, "-out", str(csr),
                  "-subj", f"/O=Portcullis tests/CN={name}"], self.dir)
            parent._sign(csr, Path(self.cert), "ca", {}, None, None, days)
            self.root = parent.root
            self.chain_above = [parent.cert] + parent.chain_above if parent.parent else []

    # ---- issuing -------------------------------------------------------------------------------

    def intermediate(self, name: str) -> "Ca":
        """A CA under this one; what it issues chains up through it."""
        return Ca(self.pki, name, parent=self)

    def server(self, name: str, dns: Sequence[str] = ("localhost",),
               ips: Sequence[str] = ("127.0.0.1",), cn: Optional[str] = None, key: str = "ec",
               days: int = 30, expired: bool = False, not_yet_valid: bool = False) -> Cert:
        """A server certificate (extendedKeyUsage serverAuth) for these names."""
        san = {"DNS": list(dns), "IP": list(ips)}
        return self._issue(name, cn if cn is not None else (dns[0] if dns else name), san,
                           "serverAuth", key, days, expired, not_yet_valid)

    def client(self, name: str, cn: Optional[str] = None, dns: Sequence[str] = (),
               uris: Sequence[str] = (), emails: Sequence[str] = (), key: str = "ec",
               days: int = 30, expired: bool = False, not_yet_valid: bool = False) -> Cert:
        """A client certificate (extendedKeyUsage clientAuth). `cn` None leaves the subject
        without a common name, so an identity must come from the SANs."""
        san = {"DNS": list(dns), "URI": list(uris), "email": list(emails)}
        return self._issue(name, cn, san, "clientAuth", key, days, expired, not_yet_valid)

    def _issue(self, name: str, cn: Optional[str], san: dict, usage: str, key: str, days: int,
               expired: bool, not_yet_valid: bool) -> Cert:
        out = self.pki.dir / "issued" / name
        if out.exists():
            raise ValueError(f"a certificate named {name!r} exists already")
        out.mkdir(parents=True)
        key_path, cert_path = out / "key.pem", out / "cert.pem"
        _new_key(key_path, key)
        subject = "/O=Portcullis tests" + (f"/CN={cn}" if cn else f"/OU={name}")
        csr = out / "req.csr"
        _run(["req", "-new", "-key", str(key_path), "-out", str(csr), "-subj", subject], out)
        now = datetime.datetime.now(_UTC)
        if expired:
            window = (now - datetime.timedelta(days=60), now - datetime.timedelta(days=30))
        elif not_yet_valid:
            window = (now + datetime.timedelta(days=30), now + datetime.timedelta(days=60))
        else:
            window = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days))
        self._sign(csr, cert_path, usage, san, *window, days)
        chain = out / "chain.pem"
        chain.write_text("".join(Path(p).read_text() for p in [cert_path, *self._chain_up()]))
        return Cert(name, str(cert_path), str(key_path), str(chain), self.root)

    def _chain_up(self) -> list:
        """The intermediates from this CA up to, not including, the root."""
        return [self.cert] + self.chain_above if self.parent else []

    def _sign(self, csr: Path, out: Path, usage: str, san: dict,
              not_before: Optional[datetime.datetime], not_after: Optional[datetime.datetime],
              days: int) -> None:
        ext = ["[ ext ]", "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid"]
        if usage == "ca":
            ext += ["basicConstraints = critical, CA:TRUE, pathlen:0",
                    "keyUsage = critical, keyCertSign, cRLSign"]
        else:
            ext += ["basicConstraints = critical, CA:FALSE",
                    "keyUsage = critical, digitalSignature, keyEncipherment",
                    f"extendedKeyUsage = {usage}"]
        alt = [f"{kind}.{i} = {value}" for kind, values in san.items()
               for i, value in enumerate(values, start=1)]
        if alt:
            ext += ["subjectAltName = @alt", "[ alt ]", *alt]
        conf = out.parent / (out.stem + ".cnf")
        conf.write_text("\n".join([
            "[ ca ]", "default_ca = this", "[ this ]", f"dir = {self.dir}",
            "database = $dir/index.txt", "new_certs_dir = $dir/new", "serial = $dir/serial",
            "default_md = sha256", "policy = anything", "copy_extensions = none",
            "email_in_dn = no", "[ anything ]", "organizationName = optional",
            "organizationalUnitName = optional", "commonName = optional", *ext, ""]))
        args = ["ca", "-batch", "-notext", "-config", str(conf), "-extensions", "ext",
                "-cert", self.cert, "-keyfile", self.key, "-in", str(csr), "-out", str(out)]
        if not_before is not None and not_after is not None:
            args += ["-startdate", _time(not_before), "-enddate", _time(not_after)]
        else:
            args += ["-days", str(days)]
        _run(args, self.dir)


class Pki:
    """Every CA and certificate of one test run, under `workdir`/pki."""

    def __init__(self, workdir: str):
        self.dir = Path(workdir) / "pki"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._cas: dict = {}

    def ca(self, name: str, key: str = "ec") -> Ca:
        """A new self-signed root CA."""
        ca = Ca(self, name, key=key)
        self._cas[name] = ca
        return ca
