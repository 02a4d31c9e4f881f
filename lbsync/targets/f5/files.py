"""The files lbsync installs on the BIG-IP (sys file ssl-cert / ssl-key): the shared certificate, its key and
chain, and the trust anchor for the servers — named after their content, so a new certificate is a new object
(installed before the transaction that switches the profiles to it; the old one is deleted in that transaction).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .names import PREFIX


@dataclass(frozen=True)
class CryptoFile:
    """A certificate or key file to install (sys file ssl-cert / ssl-key) before the objects that use it."""
    kind: str                  # sys/file/ssl-cert | sys/file/ssl-key
    name: str
    partition: str
    source: str                # file name as `lbsync cert export --format f5` writes it
    content: bytes | None = field(default=None, repr=False)  # None when rendering without the certificate
    fingerprint: str | None = None  # "SHA256/AB:CD:..." of the first certificate (None for keys)

    @property
    def path(self) -> str:
        return f"/{self.partition}/{self.name}"


@dataclass(frozen=True)
class Material:
    """What lbsync installs: the shared certificate, its key and chain, and the trust anchor for the servers."""
    cert: bytes | None = None
    key: bytes | None = field(default=None, repr=False)
    chain: bytes | None = None
    server_ca: bytes | None = None


def fingerprint(pem: bytes) -> str:
    """BIG-IP's form of a certificate fingerprint: SHA256/AB:CD:... of the first certificate in a PEM."""

    with warnings.catch_warnings():  # system bundles hold old roots (e.g. non-positive serials): still certificates
        warnings.simplefilter("ignore")
        cert = x509.load_pem_x509_certificates(pem)[0]
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return "SHA256/" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _short(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def crypto_files(partition: str, material: Material | None, server_ca_system: bool) -> dict[str, CryptoFile]:
    """The certificate/key/chain/server-CA files this plan needs (placeholder names without a certificate)."""
    m = material or Material()
    stem = f"{PREFIX}{_short(m.cert)}" if m.cert else f"{PREFIX}exchange"
    files = {
        "cert": CryptoFile("sys/file/ssl-cert", f"{stem}.crt", partition, "lbsync.crt", m.cert,
                           fingerprint(m.cert) if m.cert else None),
        "key": CryptoFile("sys/file/ssl-key", f"{stem}.key", partition, "lbsync.key", m.key, None),
    }
    if m.chain or m.cert is None:
        files["chain"] = CryptoFile("sys/file/ssl-cert", f"{stem}_chain.crt", partition, "lbsync-chain.crt",
                                    m.chain, fingerprint(m.chain) if m.chain else None)
    if not server_ca_system:
        name = f"{PREFIX}serverca_{_short(m.server_ca)}.crt" if m.server_ca else f"{PREFIX}serverca.crt"
        files["server_ca"] = CryptoFile("sys/file/ssl-cert", name, partition, "lbsync-server-ca.crt",
                                        m.server_ca, fingerprint(m.server_ca) if m.server_ca else None)
    return files
