"""Simulated Exchange 2007/2010 Client Access servers for the coexistence lab (added beside exchange.py, which it
reuses unchanged): a legacy server has no Managed Availability, so every `/<vdir>/healthcheck.htm` answers 404,
and its health is the OWA logon page `/owa/auth/logon.aspx` (200; 503 after `fail("logon")`). Everything else —
Require-SSL per location, NTLM, the JSON echo saying which server answered — is exchange.py's behaviour."""

from __future__ import annotations

from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from lbsync.facts import coexistence

from .exchange import Handler, Server, _Server, server_tls

LOGON = coexistence.LEGACY_HEALTH_PATH.lower()


class LegacyHandler(Handler):
    def do_any(self):
        path = (urlsplit(self.path).path or "/").lower()
        if path.endswith("/healthcheck.htm"):
            self.server.owner.count("healthcheck_404")
            self._drain_body()
            return self._send(404, b"404 Not Found (Exchange 2007/2010 have no healthcheck.htm)",
                              [("Content-Type", "text/plain")])
        if path == LOGON:
            self.server.owner.count("logon_" + self.server.scheme)
            if "logon" in self.server.owner.failing:
                self._drain_body()
                return self._send(503, b"503 Service Unavailable (lab: logon page failed)",
                                  [("Content-Type", "text/plain")])
        return super().do_any()

    do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = do_any


class _LegacyListener(_Server):
    def __init__(self, owner, addr, tls):  # noqa: super-init: same as _Server, with the legacy handler
        self.owner = owner
        self.tls = tls
        self.scheme = "https" if tls else "http"
        ThreadingHTTPServer.__init__(self, addr, LegacyHandler)


class LegacyServer(Server):
    """A 2007/2010 server: `fail("logon")` takes its OWA logon page (its only health URL) down."""

    def start(self) -> None:
        import threading
        if self._servers:
            return
        self._servers = [_LegacyListener(self, (self.address, self.http_port), None),
                         _LegacyListener(self, (self.address, self.https_port), self._tls)]
        self.http_port = self._servers[0].server_address[1]
        self.https_port = self._servers[1].server_address[1]
        for srv in self._servers:
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                             name=f"lab-{self.name}-{srv.scheme}").start()


def tls10_only(pki_files):
    """A server TLS context that speaks TLS 1.0 and nothing newer — Exchange 2007 on Windows Server 2003/2008
    (SCHANNEL without TLS 1.2). OpenSSL 3 allows TLS 1.0 only at security level 0."""
    import ssl
    import warnings
    ctx = server_tls(pki_files)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def legacy_servers(pki_files, names: list[str], first_octet: int, flags: dict[str, str], *,
                   tls=None) -> list[LegacyServer]:
    """`tls`: the servers' TLS context (default: the lab's, TLS 1.2+; tls10_only(...) for a 2007 server)."""
    tls = tls or server_tls(pki_files)
    return [LegacyServer(n, f"127.0.0.{first_octet + i}", tls, flags) for i, n in enumerate(names)]
