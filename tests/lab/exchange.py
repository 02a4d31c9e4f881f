"""Simulated Exchange front ends on loopback addresses (127.0.0.11, 127.0.0.12, ...).

Each server has an HTTP listener (the port-80 role) and an HTTPS listener (the port-443 role, presenting the shared
certificate). What each one does, per request:

- health URLs (`/<vdir>/healthcheck.htm`) answer `200 OK` — or 503 while that protocol is failed with
  `Server.fail(service)`. Unlike real IIS they are answered whatever the Require-SSL state, so a mismatch shows up
  as 403.4 on the client's request rather than as every member going down.
- /API (no health page of its own): while failed with `Server.fail("api")`, every /API URL answers 503, as a
  stopped application pool does.
- plain HTTP to a location whose effective sslFlags require SSL -> `403` with `403.4 SSL required` (IIS's
  substatus), from the IIS state given to the server (see iis.py).
- Windows authentication only where IIS has it on the location (lbsync.facts.iis: /owa/Integrated, EWS, OAB,
  mapi, Rpc, Autodiscover, API; not forms-based /owa, /ecp or Basic ActiveSync): elsewhere `X-Lab-Require-Auth` or
  an NTLM/Negotiate Authorization gets 401 `WWW-Authenticate: Basic` and binds nothing to the connection.
- connection-bound NTLM: `X-Lab-Require-Auth: 1` without Authorization -> 401 `WWW-Authenticate: NTLM` (+
  Negotiate); `Authorization: NTLM <type 1>` -> 401 with a challenge bound to THIS server connection;
  `Authorization: NTLM <type 3>` -> 200 only if it answers a challenge issued on the same connection, else 401.
  Kerberos in one leg: `Authorization: Negotiate <kerberos_token(user)>` -> 200, and like IIS (authPersistNonNTLM,
  on by default) the connection stays authenticated as that user for the requests that follow on it.
- `RPC_IN_DATA` (1 GB Content-Length): the body is read as it streams; after `X-Lab-Answer-After` bytes
  (default 2 MiB) the server answers 200 while the body is still coming, then drains it.
- `RPC_OUT_DATA`: answers 200 with a 1 GB Content-Length and streams `X-Lab-Stream-Bytes` (default 256 KiB) at
  once, then holds the connection until the client goes away.
- HTTP.sys's request-head limits (lbsync.facts.httpsys), from `Server.http_sys` (the registry values the generated
  apply script sets, run through tests/iisinterp.py; Windows' defaults otherwise): a header line longer than
  MaxFieldLength -> `400 Bad Request (Header Field Too Long)`, a request line + headers larger than
  MaxRequestBytes -> `400 Bad Request (Request Header Too Long)`, then the connection is closed, as HTTP.sys does.
  Counted as sent: each line with its CRLF, and the empty line (Microsoft does not document the exact accounting).
- anything else: 200 with a JSON body saying which server and scheme served it, the SNI, Host, method, path,
  X-Forwarded-For / -Proto, the connection id and the IIS location and flags it fell under.

Threaded (a thread per connection, listen backlog 1024) so hundreds of concurrent connections are served.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from lbsync.facts import catalog, httpsys, iis, sslflags

from .iis import SITE

_conn_ids = itertools.count(1)
NTLM_SIG = b"NTLMSSP\x00"
ONE_GB = 1 << 30


def ntlm_type1() -> str:
    return base64.b64encode(NTLM_SIG + b"\x01\x00\x00\x00" + b"\x07\x82\x08\xa2").decode()


def ntlm_type3(challenge_header: str, user: str = "contoso\\alice") -> str:
    """A lab type-3 message that answers the challenge in a `WWW-Authenticate: NTLM <b64>` value."""
    blob = base64.b64decode(challenge_header.split(None, 1)[1])
    challenge = blob[24:32]
    return base64.b64encode(NTLM_SIG + b"\x03\x00\x00\x00" + challenge + user.encode()).decode()


KERBEROS_SIG = b"LABKRB5\x00"


def kerberos_token(user: str = "contoso\\alice") -> str:
    """A lab Kerberos (Negotiate) token: accepted in one leg, binding the server connection to `user`."""
    return base64.b64encode(KERBEROS_SIG + user.encode()).decode()


def _kerberos_user(value: str) -> str | None:
    parts = value.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "negotiate":
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return None
    return blob[len(KERBEROS_SIG):].decode(errors="replace") if blob.startswith(KERBEROS_SIG) else None


def _ntlm_message(value: str) -> tuple[int, bytes] | None:
    parts = value.split(None, 1)
    if len(parts) != 2 or parts[0].lower() not in ("ntlm", "negotiate"):
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return None
    if not blob.startswith(NTLM_SIG) or len(blob) < 12:
        return None
    return blob[8], blob[12:]


def service_of(path: str) -> str | None:
    """The catalog service (or mrsproxy) whose LB path prefix matches, longest first."""
    p = path.lower()
    best, best_len = None, -1
    for svc in list(catalog.SERVICES.values()) + [catalog.MRSPROXY]:
        for prefix in svc.lb_paths:
            if (p == prefix or p.startswith(prefix + "/")) and len(prefix) > best_len:
                best, best_len = svc.key, len(prefix)
    return best


def location_of(path: str, flags: dict[str, str]) -> str:
    """The deepest IIS location (case-insensitive) the path falls under."""
    p = path.strip("/").lower()
    best, best_len = SITE, 0
    for loc in flags:
        rel = loc[len(SITE) + 1:].lower() if loc.startswith(SITE + "/") else ""
        if rel and (p == rel or p.startswith(rel + "/")) and len(rel) > best_len:
            best, best_len = loc, len(rel)
    return best


def windows_auth(location: str) -> bool:
    """Whether IIS has Windows authentication on this front-end location (facts.iis, as real servers have it); a
    location the table does not name has the site root's."""
    found = iis.BY_FULL.get(location.lower()) or iis.site_root(iis.SITE)
    return found.auth[2]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, owner: "Server", addr, tls: ssl.SSLContext | None):
        self.owner = owner
        self.tls = tls
        self.scheme = "https" if tls else "http"
        super().__init__(addr, Handler)

    def handle_error(self, request, client_address):  # client resets and TLS failures are normal in the lab
        pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120
    server_version = "Microsoft-IIS/10.0 (lbsync lab)"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def setup(self):
        self.conn_id = next(_conn_ids)
        self.ntlm_challenge: bytes | None = None
        self.ntlm_user: str | None = None
        self.sni = None
        self.tls_resumed = None
        self._raw = self.request
        self.server.owner.track(self._raw, True)
        try:
            if self.server.tls:
                self.request.settimeout(10)
                self.request = self.server.tls.wrap_socket(self.request, server_side=True)
                self.sni = getattr(self.request, "lab_sni", None)
                self.tls_resumed = self.request.session_reused
            super().setup()
        except BaseException:
            self.server.owner.track(self._raw, False)
            raise

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner.track(self._raw, False)

    # -- plumbing
    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]] = (), *, length: int | None = None,
              close: bool = False) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("X-Lab-Server", self.server.owner.name)
        self.send_header("X-Lab-Scheme", self.server.scheme)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, doc: dict, headers=()) -> None:
        self._send(status, json.dumps(doc).encode(), [("Content-Type", "application/json"), *headers])

    def _drain_body(self, limit: int = 64 << 20) -> int:
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            self.close_connection = True
            return 0
        read = 0
        while read < n:
            chunk = self.rfile.read(min(65536, n - read))
            if not chunk:
                break
            read += len(chunk)
        return read

    def info(self, path: str, flags: dict[str, str]) -> dict:
        loc = location_of(path, flags)
        return {
            "server": self.server.owner.name, "scheme": self.server.scheme, "sni": self.sni,
            "host": self.headers.get("Host"), "method": self.command, "path": path,
            "x_forwarded_for": self.headers.get("X-Forwarded-For"),
            "x_forwarded_proto": self.headers.get("X-Forwarded-Proto"),
            "conn": self.conn_id, "peer": self.client_address[0] if self.client_address else None,
            "location": loc, "ssl_flags": flags.get(loc), "user": self.ntlm_user, "tls_resumed": self.tls_resumed,
        }

    def parse_request(self) -> bool:
        """Python's parsing, then HTTP.sys's limits (Server.http_sys) on the request head as sent."""
        if not super().parse_request():
            return False
        limits = self.server.owner.http_sys
        lines = [f"{k}: {v}\r\n" for k, v in self.headers.items()]
        head = len(self.raw_requestline) + sum(len(x) for x in lines) + 2
        if any(len(x) - 2 > limits[httpsys.MAX_FIELD_LENGTH] for x in lines):
            reason = "Header Field Too Long"
        elif head > limits[httpsys.MAX_REQUEST_BYTES]:
            reason = "Request Header Too Long"
        else:
            return True
        self.server.owner.count("http_sys_400")
        body = f"<h2>Bad Request - {reason}</h2><hr><p>HTTP Error 400. (lab HTTP.sys: {head} bytes)</p>".encode()
        self.send_response(400, f"Bad Request ({reason})")
        self.send_header("Content-Type", "text/html; charset=us-ascii")
        self.send_header("X-Lab-Server", self.server.owner.name)
        self.send_header("X-Lab-HttpSys", reason)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
        return False

    # -- dispatch
    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            self.close_connection = True

    def do_any(self):
        owner = self.server.owner
        owner.count(self.server.scheme)
        path = urlsplit(self.path).path or "/"
        flags = owner.flags
        if service_of(path) == "api" and "api" in owner.failing:
            # /API has no health page: a stopped application pool answers 503 for every URL of it (HTTP.sys)
            self._drain_body()
            return self._send(503, b"503 Service Unavailable (lab: application pool stopped)",
                              [("Content-Type", "text/plain")])
        if path.lower().endswith("/healthcheck.htm"):
            self._drain_body()
            svc = service_of(path)
            if svc in owner.failing:
                return self._send(503, b"503 Service Unavailable (lab: health failed)",
                                  [("Content-Type", "text/plain")])
            return self._send(200, b"200 OK", [("Content-Type", "text/html")])
        owner.count("requests")    # every request but the health checks
        loc = location_of(path, flags)
        if self.server.scheme == "http" and sslflags.requires_ssl(flags.get(loc, sslflags.NONE)):
            self._drain_body()
            return self._send(403, f"403.4 SSL required ({loc}: sslFlags {flags.get(loc)})".encode(),
                              [("Content-Type", "text/plain"), ("X-Lab-Substatus", "4")])
        if self.command == "RPC_IN_DATA":
            return self.rpc_in_data(path, flags)
        if self.command == "RPC_OUT_DATA":
            return self.rpc_out_data(path, flags)
        auth = self.headers.get("Authorization")
        if auth or self.headers.get("X-Lab-Require-Auth"):
            if not windows_auth(loc):
                self._drain_body()
                return self._send(401, b"401 lab: no Windows authentication on " + loc.encode(),
                                  [("WWW-Authenticate", 'Basic realm="lab"'), ("Content-Type", "text/plain")])
            if not self.ntlm(auth, path, flags):
                return
        self._drain_body()
        self._json(200, self.info(path, flags))

    def ntlm(self, auth: str | None, path: str, flags) -> bool:
        """Connection-bound NTLM. Returns True when the request may proceed (authenticated)."""
        kerberos = _kerberos_user(auth) if auth else None
        if kerberos:
            self._drain_body()
            self.ntlm_user = kerberos  # bound to this server connection from now on
            self.server.owner.count("kerberos_ok")
            return True
        msg = _ntlm_message(auth) if auth else None
        self._drain_body()
        if msg is None:
            if self.ntlm_user:
                return True
            self.send_response(401)
            self.send_header("WWW-Authenticate", "Negotiate")
            self.send_header("WWW-Authenticate", "NTLM")
            self.send_header("X-Lab-Server", self.server.owner.name)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False
        kind, rest = msg
        if kind == 1:
            self.ntlm_challenge = os.urandom(8)
            blob = NTLM_SIG + b"\x02\x00\x00\x00" + b"\x00" * 8 + b"\x00" * 4 + self.ntlm_challenge  # challenge at 24
            self.send_response(401)
            self.send_header("WWW-Authenticate", "NTLM " + base64.b64encode(blob).decode())
            self.send_header("X-Lab-Server", self.server.owner.name)
            self.send_header("X-Lab-Conn", str(self.conn_id))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False
        if kind == 3 and self.ntlm_challenge is not None and rest[:8] == self.ntlm_challenge:
            self.ntlm_user = rest[8:].decode(errors="replace")
            self.ntlm_challenge = None
            self.server.owner.count("ntlm_ok")
            return True
        self.server.owner.count("ntlm_fail")
        self._send(401, b"401 lab: NTLM type 3 without a challenge issued on this connection",
                   [("Content-Type", "text/plain")])
        return False

    def rpc_in_data(self, path, flags):
        total = int(self.headers.get("Content-Length") or 0)
        answer_after = int(self.headers.get("X-Lab-Answer-After") or (2 << 20))
        read = 0
        while read < min(total, answer_after):
            chunk = self.rfile.read1(65536) if hasattr(self.rfile, "read1") else self.rfile.read(65536)
            if not chunk:
                return
            read += len(chunk)
        doc = self.info(path, flags) | {"received": read, "content_length": total}
        self._send(200, json.dumps(doc).encode(), [("Content-Type", "application/json")], close=True)
        self.request.settimeout(5)
        try:
            while read < total and self.rfile.read1(65536):
                pass
        except (OSError, ValueError):
            pass

    def rpc_out_data(self, path, flags):
        self._drain_body()
        first = int(self.headers.get("X-Lab-Stream-Bytes") or (256 << 10))
        self.send_response(200)
        self.send_header("Content-Type", "application/rpc")
        self.send_header("Content-Length", str(ONE_GB))
        self.send_header("X-Lab-Server", self.server.owner.name)
        self.send_header("X-Lab-Scheme", self.server.scheme)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        block = b"R" * 65536
        sent = 0
        while sent < first:
            self.wfile.write(block[: min(len(block), first - sent)])
            sent += min(len(block), first - sent)
        self.wfile.flush()
        self.request.settimeout(10)
        try:
            self.rfile.read1(1)  # hold until the client goes away (or 10 s)
        except (OSError, ValueError):
            pass

    do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = do_any

    def __getattr__(self, name):
        if name.startswith("do_"):  # RPC_IN_DATA, RPC_OUT_DATA and any other verb
            return self.do_any
        raise AttributeError(name)


class Server:
    """One simulated Exchange front end: `name`, `address`, `http_port`, `https_port`."""

    def __init__(self, name: str, address: str, tls: ssl.SSLContext, flags: dict[str, str]):
        self.name = name
        self.address = address
        self.flags = dict(flags)
        self.failing: set[str] = set()
        # HTTP.sys's limits in effect (value name -> bytes): Windows' defaults until set_http_sys
        self.http_sys: dict[str, int] = dict(httpsys.DEFAULT)
        self._tls = tls
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self.counts: dict[str, int] = {}
        self.http_port = 0
        self.https_port = 0
        self._servers: list[_Server] = []
        self.start()

    def start(self) -> None:
        """Listen (again) on the same ports."""
        if self._servers:
            return
        self._servers = [_Server(self, (self.address, self.http_port), None),
                         _Server(self, (self.address, self.https_port), self._tls)]
        self.http_port = self._servers[0].server_address[1]
        self.https_port = self._servers[1].server_address[1]
        for srv in self._servers:
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                             name=f"lab-{self.name}-{srv.scheme}").start()

    def stop(self) -> None:
        """Stop accepting and drop every open connection (the server is gone)."""
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        self._servers = []
        with self._lock:
            live = list(self._live)
        for s in live:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def fail(self, service: str) -> None:
        """Make this protocol's health URL answer 503 (Managed Availability took it out)."""
        self.failing.add(service)

    def heal(self, service: str) -> None:
        self.failing.discard(service)

    def track(self, sock, live: bool) -> None:
        with self._lock:
            (self._live.add if live else self._live.discard)(sock)

    def count(self, key: str) -> None:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1


def server_tls(pki_files) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(pki_files["fullchain"]), str(pki_files["key"]))

    def remember_sni(sslsock, name, _ctx):
        sslsock.lab_sni = name
    ctx.sni_callback = remember_sni
    return ctx


class Lab:
    """N simulated servers EX01.. on 127.0.0.11.. (free ports), all with the same IIS state to start with."""

    def __init__(self, pki_files, n: int = 2, *, flags: dict[str, str] | None = None, first_octet: int = 11):
        from .iis import default_state
        self.pki_files = pki_files
        tls = server_tls(pki_files)
        start = flags if flags is not None else default_state(2013)
        self.servers = [Server(f"EX{i + 1:02d}", f"127.0.0.{first_octet + i}", tls, start) for i in range(n)]

    def __getitem__(self, name: str) -> Server:
        return next(s for s in self.servers if s.name == name)

    def set_flags(self, name: str, flags: dict[str, str]) -> None:
        self[name].flags = dict(flags)

    def servers_yaml(self) -> str:
        return "".join(f"  - name: {s.name}\n    address: {s.address}\n    http_port: {s.http_port}\n"
                       f"    https_port: {s.https_port}\n" for s in self.servers)

    def close(self) -> None:
        for s in self.servers:
            s.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
