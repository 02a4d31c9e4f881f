"""Load the shared certificate with its key and chain: a PFX (as Export-ExchangeCertificate writes it) or PEM files.

`load_bundle(...)` is the one entry point (check, export and the F5 helper use it). Every failure is an
LbsyncError naming the file, one line; the password is asked for only when a file turns out to need one, and
never appears in a message.
"""

from __future__ import annotations

import base64
import codecs
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from ..errors import LbsyncError
from ..model.types import Model
from ..output.text import env_name
from ..reading import read_bytes
from .pfxinfo import MAX_ITERATIONS, DerError, inspect_pfx

_KEY_BLOCK = re.compile(rb"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S)


class PasswordSource:
    """Where the PFX (or encrypted key) password comes from: an environment variable or a hidden prompt.

    `explicit` marks a variable named on the command line: unset, it is an error rather than a prompt.
    """

    def __init__(self, env: str | None = None, *, explicit: bool = False, interactive: bool | None = None,
                 value: bytes | None = None):
        self.env = env
        self.explicit = explicit
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self._value = value

    def get(self, what: str) -> bytes:
        if self._value is not None:
            return self._value
        if self.env and self.env in os.environ:
            self._value = os.environ[self.env].encode("utf-8")
            return self._value
        if self.env and self.explicit:
            raise LbsyncError(f"environment variable {self.env} (--password-env) is not set", file=what)
        if not self.interactive:
            hint = (f"set {env_name(self.env, 'certificate.password_env')}" if self.env
                    else "name an environment variable with --password-env")
            raise LbsyncError(f"needs a password and stdin is not a terminal to ask for it: {hint}", file=what)
        self._value = click.prompt(f"Password for {what}", hide_input=True, err=True,
                                   default="", show_default=False).encode("utf-8")
        return self._value


@dataclass
class Bundle:
    """The certificate as loaded: leaf, its private key (None when the source has none), chain (as given)."""

    leaf: object                    # x509.Certificate
    key: object | None              # private key
    chain: list                     # x509.Certificate, as given (may include the root)
    source: str                     # file name(s), for messages
    kind: str                       # "pfx" | "pem"
    notes: list[tuple[str, str]] = field(default_factory=list)  # (status, message) for the load check

    @property
    def fingerprint_sha256(self) -> str:
        return self.leaf.fingerprint(hashes.SHA256()).hex()

    @property
    def thumbprint(self) -> str:
        """The SHA-1 thumbprint Exchange shows (Get-ExchangeCertificate)."""
        return self.leaf.fingerprint(hashes.SHA1()).hex().upper()


def read_file(path: str | Path) -> bytes:
    """A certificate, key, PFX or CA file: a regular file of bounded size (reading.LIMITS)."""
    return read_bytes(path, "certificate")


def spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return cert.subject == cert.issuer


def pick_leaf(certs: list, key: PrivateKeyTypes | None = None):
    """The certificate the key belongs to; else the first that is not a CA; else the first."""
    if key is not None:
        want = spki(key.public_key())
        for c in certs:
            if spki(c.public_key()) == want:
                return c
    for c in certs:
        if not is_ca(c):
            return c
    return certs[0]


def parse_certificates(data: bytes, what: str) -> list:
    """All certificates in a PEM file (or the one in a DER file)."""
    if b"-----BEGIN" in data:
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise LbsyncError("holds no PEM certificate (-----BEGIN CERTIFICATE-----)", file=what)
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise LbsyncError(f"damaged PEM certificate: {exc}", file=what) from None
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise LbsyncError("not a certificate (neither PEM nor DER); a PFX goes with --pfx", file=what) from None


def parse_key(data: bytes, what: str, password: PasswordSource):
    """The private key in a PEM file (possibly among certificates), or None when there is none."""
    match = _KEY_BLOCK.search(data)
    if not match:
        if b"-----BEGIN" not in data:
            try:
                return serialization.load_der_private_key(data, None)
            except (ValueError, TypeError):
                pass
        return None
    block = match.group(0)
    try:
        return serialization.load_pem_private_key(block, None)
    except TypeError:  # encrypted
        pass
    except ValueError as exc:
        raise LbsyncError(f"damaged or unsupported private key: {_short(exc)}", file=what) from None
    except Exception as exc:  # UnsupportedAlgorithm
        raise LbsyncError(f"unsupported private key: {_short(exc)}", file=what) from None
    secret = password.get(what)   # its own errors (no password, no terminal) pass through unwrapped
    try:
        return serialization.load_pem_private_key(block, secret)
    except ValueError:
        raise LbsyncError("wrong password for the encrypted private key (or the key is damaged)",
                          file=what) from None
    except Exception as exc:
        raise LbsyncError(f"unsupported private key: {_short(exc)}", file=what) from None


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _dedupe(certs: list) -> list:
    seen, out = set(), []
    for c in certs:
        fp = c.fingerprint(hashes.SHA256())
        if fp not in seen:
            seen.add(fp)
            out.append(c)
    return out


_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def pfx_bytes(data: bytes) -> bytes:
    """A PFX as Export-ExchangeCertificate writes it: DER, or — without -BinaryEncoded — Base64 text (ASCII, or
    UTF-16/UTF-8 with a BOM when a PowerShell redirection wrote it); anything else is returned as it is."""
    if data[:1] == b"\x30":
        return data
    try:
        if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
            text = data.decode("utf-16")
        else:
            text = data.removeprefix(codecs.BOM_UTF8).decode("ascii")
    except UnicodeDecodeError:
        return data
    compact = "".join(text.split())
    if len(compact) % 4 == 0 and _BASE64.fullmatch(compact):
        decoded = base64.b64decode(compact)
        if decoded[:1] == b"\x30":
            return decoded
    return data


def load_pfx(path: str | Path, password: PasswordSource) -> Bundle:
    what = str(path)
    data = pfx_bytes(read_file(path))
    if data.lstrip().startswith(b"-----BEGIN"):
        raise LbsyncError("is a PEM file, not a PFX: give it with --cert (and --key)", file=what)
    try:
        info = inspect_pfx(data)
    except DerError:
        raise LbsyncError("not a PFX/PKCS#12 file, or a damaged one", file=what) from None
    if max(info.iterations, default=0) > MAX_ITERATIONS:
        # OpenSSL would derive keys for that many rounds (minutes of CPU): refused before it sees the file
        raise LbsyncError(f"the PFX asks for {max(info.iterations):,} key-derivation iterations; lbsync refuses "
                          f"more than {MAX_ITERATIONS:,} (Windows writes 2,000, OpenSSL 2,048)", file=what)
    loaded = None
    if info.mac_verifies(None) is not False:   # no password (possible, not from Exchange)
        loaded = _try_pfx(pkcs12, data, None) or _try_pfx(pkcs12, data, b"")
    if loaded is None:
        secret = password.get(what)
        try:
            loaded = pkcs12.load_key_and_certificates(data, secret)
        except ValueError as exc:
            raise LbsyncError(_pfx_failure(exc, info, secret), file=what) from None
        except Exception as exc:  # UnsupportedAlgorithm and friends
            raise LbsyncError(f"unsupported PFX contents: {_short(exc)}", file=what) from None
    key, cert, extra = loaded
    certs = ([cert] if cert is not None else []) + list(extra)
    if not certs:
        raise LbsyncError("the PFX holds no certificate", file=what)
    leaf = cert if cert is not None else pick_leaf(certs, key)
    chain = _dedupe([c for c in certs if c is not leaf])
    algs = ", ".join(info.names) or "unencrypted"
    mac = f", MAC {info.mac_hash.upper()}" if info.mac_hash else ", no MAC"
    if info.legacy:
        notes = [("warn", f"PFX encrypted with {', '.join(info.legacy)}: weak legacy encryption; "
                          "protect the file and re-export with AES256-SHA256")]
    else:
        notes = [("ok", f"PFX ({algs}{mac})")]
    return Bundle(leaf, key, chain, what, "pfx", notes)


def _try_pfx(pkcs12, data: bytes, secret):
    try:
        return pkcs12.load_key_and_certificates(data, secret)
    except Exception:
        return None


def _pfx_failure(exc: ValueError, info, secret: bytes) -> str:
    """One line telling a wrong password, a damaged file and an unsupported encryption apart where possible."""
    if info is None or "deserialize" in str(exc).lower():
        return "not a PFX/PKCS#12 file, or a damaged one"
    verdict = info.mac_verifies(secret)
    if verdict is False:
        return "wrong password for the PFX (its integrity MAC does not verify with it)"
    if verdict is None:
        return ("cannot open the PFX: wrong password, damaged contents or an unsupported encryption "
                f"(no MAC this tool can check; encryption: {', '.join(info.names) or 'unknown'})")
    if info.legacy and not legacy_provider_loaded():
        return (f"the password is right, but the PFX is encrypted with {', '.join(info.legacy)}, which this "
                "OpenSSL cannot decrypt (legacy provider not loaded): re-export it with AES256-SHA256, or "
                "convert it with 'openssl pkcs12 -legacy'")
    return ("the password is right (the MAC verifies), but the contents cannot be decrypted: damaged file or "
            f"unsupported encryption ({', '.join(info.names) or 'unknown'})")


def legacy_provider_loaded() -> bool:
    """Whether cryptography's OpenSSL has the legacy provider (RC2/RC4) loaded; True when unknown."""
    try:
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl  # optional: a private module
    except ImportError:  # pragma: no cover - layout of cryptography changed
        return True
    return bool(getattr(rust_openssl, "_legacy_provider_loaded", True))


def load_pem(cert: str | Path, key: str | Path | None, chain: str | Path | None,
             password: PasswordSource, *, with_key: bool = True) -> Bundle:
    """with_key=False: the certificates only; the key is neither read nor decrypted (no password asked)."""
    what = str(cert)
    data = read_file(cert)
    certs = parse_certificates(data, what)
    if not with_key:
        leaf = pick_leaf(certs)
        rest = [c for c in certs if c is not leaf] + (parse_certificates(read_file(chain), str(chain))
                                                      if chain is not None else [])
        sources = [what] + ([str(chain)] if chain is not None else [])
        return Bundle(leaf, None, _dedupe(rest), " + ".join(sources), "pem", [("ok", "PEM (key not read)")])
    private = parse_key(data, what, password)            # a combined PEM (HAProxy) carries its key
    key_what = what
    if key is not None:
        key_what = str(key)
        key_data = read_file(key)
        private = parse_key(key_data, key_what, password)
        if private is None:
            raise LbsyncError("holds no private key (-----BEGIN PRIVATE KEY-----)", file=key_what)
    leaf = pick_leaf(certs, private)
    rest = [c for c in certs if c is not leaf]
    if chain is not None:
        rest += parse_certificates(read_file(chain), str(chain))
    sources = [what] + ([key_what] if key is not None else []) + ([str(chain)] if chain is not None else [])
    notes = [("ok", "PEM" + (" (certificate and key in one file)" if key is None and private else ""))]
    return Bundle(leaf, private, _dedupe(rest), " + ".join(sources), "pem", notes)


def load_bundle(*, pfx: str | Path | None = None, cert: str | Path | None = None, key: str | Path | None = None,
                chain: str | Path | None = None, password: PasswordSource | None = None,
                with_key: bool = True) -> Bundle:
    """Load leaf, key and chain from a PFX or from PEM cert [+ key] [+ chain] files. with_key=False: PEM
    certificates without reading the key; a PFX is read whole (its certificates are encrypted with the key's
    password: Export-ExchangeCertificate and Export-PfxCertificate encrypt both)."""
    password = password or PasswordSource()
    if pfx is not None:
        if cert is not None or key is not None or chain is not None:
            raise LbsyncError("give either a PFX or PEM cert/key/chain files, not both")
        return load_pfx(pfx, password)
    if cert is None:
        raise LbsyncError("no certificate given: a PFX, or a PEM certificate and key")
    return load_pem(cert, key, chain, password, with_key=with_key)


def load_model_bundle(model: Model, password: PasswordSource | None = None, *, with_key: bool = True) -> Bundle:
    """The model's certificate: section, loaded (with_key=False: see load_bundle)."""
    c = model.certificate
    if c is None:
        raise LbsyncError("the model has no certificate: section", file=str(model.path))
    password = password or PasswordSource(c.password_env)
    return load_bundle(pfx=c.pfx, cert=c.cert, key=c.key, chain=c.chain, password=password, with_key=with_key)


def leaf_of_file(path: str | Path, password: PasswordSource) -> object:
    """The leaf certificate in a file given to --compare: PEM (cert, full chain, HAProxy combined), DER or PFX."""
    data = read_file(path)
    what = str(path)
    if b"-----BEGIN" in data:
        certs = parse_certificates(data, what)
        match = _KEY_BLOCK.search(data)
        key = None
        if match and b"ENCRYPTED" not in match.group(0):
            try:
                key = parse_key(data, what, password)
            except LbsyncError:
                key = None
        return pick_leaf(certs, key)
    try:
        inspect_pfx(pfx_bytes(data))
    except DerError:
        return parse_certificates(data, what)[0]
    return load_pfx(path, password).leaf
