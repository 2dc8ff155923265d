"""Test certificates made at test time with the openssl CLI, in a temporary folder: no private
key is ever committed.

    pki = Pki(workdir)
    ca = pki.ca("test-ca")
    server = ca.server("api", dns=["api.example.test"])          # SANs: DNS and IP
    soon = ca.server("soon", days=3)                              # expires in 3 days
    old = ca.server("old", expired=True)
    inter = ca.intermediate("issuing-ca")                          # a chain: leaf, inter, root
    leaf = inter.server("deep")                                    # leaf.chain holds both
    client = ca.client("svc", cn="svc", uris=["spiffe://test/svc"], dns=["svc.test"])
    other = pki.ca("other-ca")                                     # an untrusted CA

A Cert has .name, .cert (the leaf, PEM), .key (its private key, PKCS#8 PEM, mode 0600),
.chain (the leaf then every intermediate: what a server sends) and .ca (the root's PEM).
ECDSA P-256 keys unless key="rsa" (RSA 2048).
"""

from __future__ import annotations

import base64
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
    """The openssl binary; fails (never skips) when it is missing."""
    path = shutil.which("openssl")
    if not path:
        raise RuntimeError("openssl not found: the TLS tests need the openssl CLI")
    return path


def openssl(args: Sequence[str], cwd: Optional[Path] = None, stdin: bytes = b"") -> bytes:
    r = subprocess.run([require_openssl(), *args], cwd=cwd, input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.decode()[-2000:]}")
    return r.stdout


def _new_key(path: Path, kind: str) -> None:
    if kind == "ec":
        opts = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    elif kind == "rsa":
        opts = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    else:
        raise ValueError(f"key must be 'ec' or 'rsa', not {kind!r}")
    openssl(["genpkey", *opts, "-out", str(path)])
    os.chmod(path, 0o600)


def _asn1_time(t: datetime.datetime) -> str:
    return t.astimezone(_UTC).strftime("%Y%m%d%H%M%SZ")


@dataclass
class Cert:
    name: str
    cert: str   # the leaf certificate, PEM file
    key: str    # its private key, PEM file (0600)
    chain: str  # the leaf, then each intermediate up to (not including) the root
    ca: str     # the root certificate of the CA that issued it

    def der(self) -> bytes:
        return openssl(["x509", "-in", self.cert, "-outform", "DER"])

    def fingerprint_sha256(self) -> bytes:
        """SHA-256 of the leaf's DER."""
        return hashlib.sha256(self.der()).digest()

    def x5t_s256(self) -> str:
        """RFC 8705's cnf["x5t#S256"]: base64url of the SHA-256, without padding."""
        return base64.urlsafe_b64encode(self.fingerprint_sha256()).rstrip(b"=").decode()


class Ca:
    """A certificate authority with its own `openssl ca` database folder."""

    def __init__(self, pki: "Pki", name: str, parent: Optional["Ca"] = None, key: str = "ec"):
        self.pki, self.name, self.parent = pki, name, parent
        self.dir = pki.dir / "ca" / name
        if self.dir.exists():
            raise ValueError(f"a CA named {name!r} exists already")
        (self.dir / "issued").mkdir(parents=True)
        (self.dir / "index.txt").write_text("")
        (self.dir / "index.txt.attr").write_text("unique_subject = no\n")
        (self.dir / "serial").write_text(os.urandom(8).hex().upper() + "\n")
        self.key = str(self.dir / "ca.key")
        self.cert = str(self.dir / "ca.pem")
        _new_key(Path(self.key), key)
        subject = f"/O=Portcullis tests/CN={name}"
        if parent is None:
            openssl(["req", "-x509", "-new", "-key", self.key, "-out", self.cert, "-days", "3650",
                     "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                     "-addext", "subjectKeyIdentifier=hash"])
            self.root = self.cert
        else:
            csr = self.dir / "ca.csr"
            openssl(["req", "-new", "-key", self.key, "-out", str(csr), "-subj", subject])
            parent._sign(csr, Path(self.cert), ["basicConstraints = critical, CA:TRUE, pathlen:0",
                                                "keyUsage = critical, keyCertSign, cRLSign"],
                         {}, None)
            self.root = parent.root

    def intermediates(self) -> list:
        """This CA's certificate and its parents' below the root (what a leaf's chain adds)."""
        out, ca = [], self
        while ca.parent is not None:
            out.append(ca.cert)
            ca = ca.parent
        return out

    # ---- issuing ---------------------------------------------------------------------------

    def intermediate(self, name: str) -> "Ca":
        return Ca(self.pki, name, parent=self)

    def server(self, name: str, dns: Sequence[str] = ("localhost",),
               ips: Sequence[str] = ("127.0.0.1",), cn: Optional[str] = None, key: str = "ec",
               days: int = 30, expired: bool = False, not_yet_valid: bool = False) -> Cert:
        """A server certificate (serverAuth) for these names."""
        return self._issue(name, cn if cn is not None else (dns[0] if dns else name),
                           {"DNS": list(dns), "IP": list(ips)}, "serverAuth", key,
                           self._window(days, expired, not_yet_valid))

    def client(self, name: str, cn: Optional[str] = None, dns: Sequence[str] = (),
               uris: Sequence[str] = (), emails: Sequence[str] = (), key: str = "ec",
               days: int = 30, expired: bool = False, not_yet_valid: bool = False) -> Cert:
        """A client certificate (clientAuth). cn None: a subject without a common name."""
        return self._issue(name, cn, {"DNS": list(dns), "URI": list(uris),
                                      "email": list(emails)}, "clientAuth", key,
                           self._window(days, expired, not_yet_valid))

    @staticmethod
    def _window(days: int, expired: bool, not_yet_valid: bool) -> tuple:
        now = datetime.datetime.now(_UTC)
        if expired:
            return now - datetime.timedelta(days=60), now - datetime.timedelta(days=30)
        if not_yet_valid:
            return now + datetime.timedelta(days=30), now + datetime.timedelta(days=60)
        return now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)

    def _issue(self, name: str, cn: Optional[str], san: dict, usage: str, key: str,
               window: tuple) -> Cert:
        out = self.pki.dir / "issued" / name
        if out.exists():
            raise ValueError(f"a certificate named {name!r} exists already")
        out.mkdir(parents=True)
        key_path, cert_path, csr = out / "key.pem", out / "cert.pem", out / "req.csr"
        _new_key(key_path, key)
        subject = "/O=Portcullis tests" + (f"/CN={cn}" if cn else f"/OU={name}")
        openssl(["req", "-new", "-key", str(key_path), "-out", str(csr), "-subj", subject])
        self._sign(csr, cert_path, ["basicConstraints = critical, CA:FALSE",
                                    "keyUsage = critical, digitalSignature, keyEncipherment",
                                    f"extendedKeyUsage = {usage}"], san, window)
        chain = out / "chain.pem"
        chain.write_text("".join(Path(p).read_text() for p in [cert_path, *self.intermediates()]))
        return Cert(name, str(cert_path), str(key_path), str(chain), self.root)

    def _sign(self, csr: Path, out: Path, ext: list, san: dict, window: Optional[tuple]) -> None:
        lines = ["[ ext ]", "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid",
                 *ext]
        alt = [f"{kind}.{i} = {v}" for kind, values in san.items()
               for i, v in enumerate(values, start=1)]
        if alt:
            lines += ["subjectAltName = @alt", "[ alt ]", *alt]
        conf = out.with_suffix(".cnf")
        conf.write_text("\n".join([
            "[ ca ]", "default_ca = this", "[ this ]", f"dir = {self.dir}",
            "database = $dir/index.txt", "new_certs_dir = $dir/issued", "serial = $dir/serial",
            "default_md = sha256", "policy = anything", "copy_extensions = none",
            "email_in_dn = no", "[ anything ]", "organizationName = optional",
            "organizationalUnitName = optional", "commonName = optional", *lines, ""]))
        args = ["ca", "-batch", "-notext", "-config", str(conf), "-extensions", "ext",
                "-cert", self.cert, "-keyfile", self.key, "-in", str(csr), "-out", str(out)]
        if window is None:
            args += ["-days", "3650"]
        else:
            args += ["-startdate", _asn1_time(window[0]), "-enddate", _asn1_time(window[1])]
        openssl(args, cwd=self.dir)


class Pki:
    """Every CA and certificate of one test class, under WORKDIR/pki."""

    def __init__(self, workdir: str):
        self.dir = Path(workdir) / "pki"
        self.dir.mkdir(parents=True, exist_ok=True)

    def ca(self, name: str, key: str = "ec") -> Ca:
        """A new self-signed root CA."""
        return Ca(self, name, key=key)

    def self_signed(self, name: str, cn: str, key: str = "ec") -> Cert:
        """A self-signed client certificate (RFC 8705 §2.2 binds tokens to such ones)."""
        out = self.dir / "issued" / name
        out.mkdir(parents=True)
        key_path, cert_path = out / "key.pem", out / "cert.pem"
        _new_key(key_path, key)
        openssl(["req", "-x509", "-new", "-key", str(key_path), "-out", str(cert_path),
                 "-days", "30", "-subj", f"/O=Portcullis tests/CN={cn}"])
        return Cert(name, str(cert_path), str(key_path), str(cert_path), str(cert_path))
