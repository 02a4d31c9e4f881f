"""Read the certificate a TLS endpoint presents (for `cert check --compare HOST:PORT` and `lbsync probe`).

No verification on purpose: this only reads what the endpoint presents, so it can be compared with the model's
certificate; nothing is sent after the handshake. Each endpoint has a total time limit (Deadline): a peer that
trickles bytes cannot hold lbsync past it. Failures are one-line LbsyncErrors.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import threading
import time
import warnings

from cryptography import x509

from ..errors import LbsyncError

_ENDPOINT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})")


def parse_endpoint(text: str) -> tuple[str, int] | None:
    """'host:443' / '192.0.2.1:443' / '[2001:db8::1]:443' -> (address, port); None when it is not one."""
    m = _ENDPOINT.fullmatch(text.strip())
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


class Deadline:
    """A total time limit for one endpoint (connect, handshake, request, answer together): a peer that trickles a
    byte now and then cannot keep lbsync waiting past it. The socket is shut down when the time is up."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self._sock: socket.socket | None = None
        self._timer: threading.Timer | None = None
        self.expired = False

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            self.expired = True
            raise socket.timeout("deadline")
        return left

    def connect(self, address: str, port: int) -> socket.socket:
        """A TCP connection, watched: shut down when the deadline passes."""
        sock = socket.create_connection((address, port), timeout=self.remaining())
        sock.settimeout(self.remaining())
        self._sock = sock
        self._timer = threading.Timer(self.remaining(), self._expire)
        self._timer.daemon = True
        self._timer.start()
        return sock

    def _expire(self) -> None:
        self.expired = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._sock is not None:
            self._sock.close()


def client_context() -> ssl.SSLContext:
    """TLS toward an endpoint whose certificate is read, not trusted (it is compared by fingerprint afterwards)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")   # still read the certificate of a weakly configured endpoint
        with warnings.catch_warnings():              # deprecated, and still what an old endpoint speaks
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1     # an old Exchange 2013 endpoint still shows its certificate
    except (ssl.SSLError, ValueError):  # pragma: no cover - depends on the OpenSSL build
        pass
    return ctx


def fetch_certificate(address: str, port: int, sni: str | None, timeout: float = 5.0) -> x509.Certificate:
    """The leaf certificate presented at address:port for this SNI name (None: no SNI), within `timeout` seconds
    in all."""
    label = f"{address}:{port}" + (f" (SNI {sni})" if sni else "")
    server_hostname = sni if sni and not is_ip(sni) else None
    deadline = Deadline(timeout)
    try:
        sock = deadline.connect(address, port)
        with client_context().wrap_socket(sock, server_hostname=server_hostname) as tls:
            der = tls.getpeercert(binary_form=True)
    except socket.timeout:
        raise LbsyncError(f"{label}: no TLS handshake within {timeout:g}s") from None
    except ssl.SSLError as exc:
        if deadline.expired:
            raise LbsyncError(f"{label}: no TLS handshake within {timeout:g}s") from None
        raise LbsyncError(f"{label}: TLS handshake failed: {exc.reason or exc}") from None
    except OSError as exc:
        if deadline.expired:
            raise LbsyncError(f"{label}: no TLS handshake within {timeout:g}s") from None
        raise LbsyncError(f"{label}: cannot connect: {exc.strerror or exc}") from None
    finally:
        deadline.close()
    if not der:
        raise LbsyncError(f"{label}: the endpoint presented no certificate")
    return x509.load_der_x509_certificate(der)
