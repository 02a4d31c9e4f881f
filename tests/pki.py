"""Test PKI: a root CA, an intermediate and leaf certificates made with cryptography at test time.

No key material is checked in. Certificates are built with x509.CertificateBuilder (non-critical EKU, proper
basic constraints and key identifiers) so cryptography's verifier accepts them as a browser would.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@dataclass
class Issued:
    cert: x509.Certificate
    key: object

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()


def new_key(kind: str = "rsa", size: int = 2048):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    curve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 192: ec.SECP192R1()}[size]
    return ec.generate_private_key(curve)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lbsync tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str = "lbsync test root", *, issuer: Issued | None = None, key=None,
            not_before: dt.datetime | None = None, days: int = 3650) -> Issued:
    key = key or new_key("ec", 256)
    nb = not_before or NOW - dt.timedelta(days=1)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn))
               .issuer_name(issuer.cert.subject if issuer else _name(cn))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(nb).not_valid_after(nb + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0),
                              critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def make_leaf(issuer: Issued, names: list[str], *, cn: str | None = None, key=None,
              not_before: dt.datetime | None = None, days: int = 365, hash_alg=None,
              eku: list | None = None, ips: list[str] | None = None) -> Issued:
    import ipaddress
    key = key or new_key("rsa", 2048)
    nb = not_before or NOW - dt.timedelta(days=1)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in (ips or [])]
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn or (names[0] if names else "no-san")))
               .issuer_name(issuer.cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(nb).not_valid_after(nb + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                            crl_sign=False, content_commitment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                              critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if eku is None else eku
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return Issued(builder.sign(issuer.key, hash_alg or hashes.SHA256()), key)


@dataclass
class Pki:
    root: Issued
    intermediate: Issued
    leaf: Issued

    def write(self, folder: Path, stem: str = "mail") -> dict[str, Path]:
        """Write PEM files: STEM.crt (leaf), STEM.key, chain.pem (intermediate), ca.pem (root),
        STEM-fullchain.pem (leaf + intermediate), STEM-combined.pem (HAProxy: leaf, chain, key)."""
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "cert": folder / f"{stem}.crt", "key": folder / f"{stem}.key", "chain": folder / "chain.pem",
            "ca": folder / "ca.pem", "fullchain": folder / f"{stem}-fullchain.pem",
            "combined": folder / f"{stem}-combined.pem",
        }
        files["cert"].write_bytes(self.leaf.cert_pem())
        files["key"].write_bytes(self.leaf.key_pem())
        files["key"].chmod(0o600)
        files["chain"].write_bytes(self.intermediate.cert_pem())
        files["ca"].write_bytes(self.root.cert_pem())
        files["fullchain"].write_bytes(self.leaf.cert_pem() + self.intermediate.cert_pem())
        files["combined"].write_bytes(self.leaf.cert_pem() + self.intermediate.cert_pem() + self.leaf.key_pem())
        files["combined"].chmod(0o600)
        return files

    def pfx(self, password: bytes, *, legacy: bool = False) -> bytes:
        """A PKCS#12 as Export-ExchangeCertificate writes it: legacy (3DES/SHA-1 MAC) or modern (AES-256)."""
        return make_pfx(self.leaf, [self.intermediate], password, legacy=legacy)


def make_pfx(leaf: Issued, chain: list[Issued], password: bytes, *, legacy: bool = False,
             friendly_name: bytes = b"mail") -> bytes:
    if legacy:
        enc = (serialization.PrivateFormat.PKCS12.encryption_builder()
               .kdf_rounds(2048)
               .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
               .hmac_hash(hashes.SHA1())
               .build(password))
    else:
        enc = (serialization.PrivateFormat.PKCS12.encryption_builder()
               .kdf_rounds(2048)
               .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
               .hmac_hash(hashes.SHA256())
               .build(password))
    return pkcs12.serialize_key_and_certificates(friendly_name, leaf.key, leaf.cert,
                                                 [c.cert for c in chain], enc)


def make_pki(names: list[str] | None = None, *, ips: list[str] | None = None) -> Pki:
    """Root -> intermediate -> leaf for the usual test namespaces (plus localhost/127.0.0.1 for the lab)."""
    names = names or ["mail.contoso.com", "autodiscover.contoso.com", "outlook.contoso.com", "localhost"]
    root = make_ca()
    inter = make_ca("lbsync test intermediate", issuer=root)
    leaf = make_leaf(inter, names, ips=ips if ips is not None else ["127.0.0.1"])
    return Pki(root, inter, leaf)


# --- additions for the certificate tests (tests/test_cert*.py) ---------------------------------------------------

_KEYS: dict = {}


def shared_key(kind: str = "rsa", size: int = 2048, slot: int = 0):
    """A key generated once per process per (kind, size, slot): RSA generation is slow."""
    k = (kind, size, slot)
    if k not in _KEYS:
        _KEYS[k] = new_key(kind, size)
    return _KEYS[k]


def resign(cert: x509.Certificate, issuer: Issued, hash_alg) -> x509.Certificate:
    """The same certificate re-signed with a hash cryptography no longer signs with (SHA-1, MD5).

    The issuer must have an RSA key; the certificate must have been signed sha256WithRSAEncryption by it.
    The signature algorithm OID is swapped in place (same length), then the TBS is signed with hash_alg.
    """
    from cryptography.hazmat.primitives.asymmetric import padding
    oid_sha256 = bytes.fromhex("06092a864886f70d01010b")
    last = {"sha1": 0x05, "md5": 0x04}[hash_alg.name]
    der = cert.public_bytes(serialization.Encoding.DER)
    der = der.replace(oid_sha256, oid_sha256[:-1] + bytes([last]))
    tbs = x509.load_der_x509_certificate(der).tbs_certificate_bytes
    sig = issuer.key.sign(tbs, padding.PKCS1v15(), hash_alg)
    return x509.load_der_x509_certificate(der[:-len(sig)] + sig)


def openssl_pfx(leaf: Issued, chain: list[Issued], password: str, folder: Path, *,
                certpbe: str = "PBE-SHA1-RC2-40", keypbe: str = "PBE-SHA1-3DES") -> Path:
    """A PFX written by the openssl command line (for encryptions cryptography cannot write, e.g. RC2-40 as
    older Windows exports). Needs the `openssl` binary (OpenSSL 3 with -legacy)."""
    import os
    import shutil
    import subprocess
    exe = shutil.which("openssl")
    assert exe, "the openssl command line is needed to write an RC2-40 PFX"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rc2-leaf.pem").write_bytes(leaf.cert_pem())
    (folder / "rc2-leaf.key").write_bytes(leaf.key_pem())
    (folder / "rc2-chain.pem").write_bytes(b"".join(c.cert_pem() for c in chain))
    out = folder / "rc2.pfx"
    subprocess.run([exe, "pkcs12", "-export", "-legacy", "-certpbe", certpbe, "-keypbe", keypbe,
                    "-macalg", "sha1", "-in", str(folder / "rc2-leaf.pem"), "-inkey", str(folder / "rc2-leaf.key"),
                    "-certfile", str(folder / "rc2-chain.pem"), "-out", str(out), "-passout", "env:LBSYNC_T_PW"],
                   check=True, capture_output=True, env={**os.environ, "LBSYNC_T_PW": password})
    for name in ("rc2-leaf.pem", "rc2-leaf.key", "rc2-chain.pem"):
        (folder / name).unlink()
    return out
