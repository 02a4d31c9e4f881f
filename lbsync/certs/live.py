"""Read the certificate a TLS endpoint presents (for `cert check --compare HOST:PORT` and `lbsync probe`).

No verification on purpose: this only reads what the endpoint presents, so it can be compared with the model's
certificate; nothing is sent after the handshake. Timeouts are bounded; failures are one-line LbsyncErrors.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import warnings

from cryptography import x509

from ..errors import LbsyncError

_ENDPOINT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})$")


def parse_endpoint(text: str) -> tuple[str, int] | None:
    """'host:443' / '192.0.2.1:443' / '[2001:db8::1]:443' -> (address, port); None when it is not one."""
    m = _ENDPOINT.match(text.strip())
    if not m:
        return None
    port = int(m.group("port"))
    if not 0 < port < 65536:
        return None
    return (m.group("v6") or m.group("host"), port)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def fetch_certificate(address: str, port: int, sni: str | None, timeout: float = 5.0):
    """The leaf certificate (x509.Certificate) presented at address:port for this SNI name (None: no SNI)."""


    label = f"{address}:{port}" + (f" (SNI {sni})" if sni else "")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE          # reading the presented certificate only; compared afterwards
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")   # still read the certificate of a weakly configured endpoint
        with warnings.catch_warnings():              # deprecated, and still what an old endpoint speaks
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1     # an old Exchange 2013 endpoint still shows its certificate
    except (ssl.SSLError, ValueError):  # pragma: no cover - depends on the OpenSSL build
        pass
    server_hostname = sni if sni and not is_ip(sni) else None
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            with ctx.wrap_socket(sock, server_hostname=server_hostname) as tls:
                der = tls.getpeercert(binary_form=True)
    except socket.timeout:
        raise LbsyncError(f"{label}: no TLS handshake within {timeout:g}s") from None
    except ssl.SSLError as exc:
        raise LbsyncError(f"{label}: TLS handshake failed: {exc.reason or exc}") from None
    except OSError as exc:
        raise LbsyncError(f"{label}: cannot connect: {exc.strerror or exc}") from None
    if not der:
        raise LbsyncError(f"{label}: the endpoint presented no certificate")
    return x509.load_der_x509_certificate(der)
