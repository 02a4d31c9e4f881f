"""Client-side TLS settings per `tls.profile`, as data (Mozilla Server Side TLS guideline 5.7).

`compat` is Mozilla's "old" profile: TLS 1.0+ for old ActiveSync devices and Outlook clients; with OpenSSL 3 the
legacy ciphers need security level 0 (`@SECLEVEL=0`), as Mozilla's generator writes it.
Renderers turn these into their own syntax; nothing here is target-specific.
"""

from __future__ import annotations

from dataclasses import dataclass

# The CA bundle a load balancer verifies the servers with when the model names none (Debian's system store).
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# The lowest TLS version offered to 2013+ servers when re-encrypting (facts.lb.SERVER_TLS_MIN per version).
SERVER_TLS_DEFAULT = "TLSv1.2"

GUIDELINE = "Mozilla Server Side TLS 5.7 (https://ssl-config.mozilla.org/)"

_TLS13 = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
_INTERMEDIATE = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                 "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
                 "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305")
_OLD = _INTERMEDIATE + ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA",
                        "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384",
                        "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA", "DHE-RSA-AES128-SHA256",
                        "DHE-RSA-AES256-SHA256", "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA256",
                        "AES256-SHA256", "AES128-SHA", "AES256-SHA", "DES-CBC3-SHA", "@SECLEVEL=0")


@dataclass(frozen=True)
class TlsProfile:
    name: str                       # the model's name: modern | intermediate | compat
    mozilla: str                    # Mozilla's name for it
    min_version: str                # TLSv1.2, ...
    versions: tuple[str, ...]       # every enabled protocol version, oldest first
    ciphers: tuple[str, ...]        # TLS <= 1.2 cipher list (OpenSSL names); empty for TLS 1.3 only
    ciphersuites: tuple[str, ...]   # TLS 1.3 suites
    prefer_server_ciphers: bool
    session_tickets: bool = False
    # Mozilla's server-side session cache (resumption without tickets, whose keys nobody rotates): every profile
    session_timeout: str = "1d"
    session_cache: str = "shared:lbsync_tls:10m"

    @property
    def cipher_string(self) -> str:
        return ":".join(self.ciphers)

    @property
    def ciphersuite_string(self) -> str:
        return ":".join(self.ciphersuites)


PROFILES: dict[str, TlsProfile] = {p.name: p for p in [
    TlsProfile("modern", "modern", "TLSv1.3", ("TLSv1.3",), (), _TLS13, prefer_server_ciphers=False),
    TlsProfile("intermediate", "intermediate", "TLSv1.2", ("TLSv1.2", "TLSv1.3"), _INTERMEDIATE, _TLS13,
               prefer_server_ciphers=False),
    TlsProfile("compat", "old", "TLSv1", ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"), _OLD, _TLS13,
               prefer_server_ciphers=True),
]}


def profile(name: str) -> TlsProfile:
    return PROFILES[name]
