"""Lab clients: connect to 127.0.0.1:PORT (the load balancer) with SNI and Host set to a namespace, trusting only
the test CA. Never resolves a name."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass

LB_ADDRESS = "127.0.0.1"


def client_tls(ca_file) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]     # as received (name case preserved)
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def headers_named(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class SniConnection(http.client.HTTPSConnection):
    """An HTTPS connection to an address (no DNS) with a chosen SNI."""

    def __init__(self, port: int, sni: str, context: ssl.SSLContext, *, address: str = LB_ADDRESS,
                 timeout: float = 10, source: str | None = None):
        super().__init__(address, port, context=context, timeout=timeout,
                         source_address=(source, 0) if source else None)
        self.sni = sni

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout, self.source_address)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.sni)


class Client:
    """Requests over one kept-alive connection (a new one after the server closes it)."""

    def __init__(self, port: int, host: str, ca_file=None, *, tls: bool = True, address: str = LB_ADDRESS,
                 timeout: float = 10, source: str | None = None):
        self.host = host
        if tls:
            self.conn = SniConnection(port, host, client_tls(ca_file), address=address, timeout=timeout,
                                      source=source)
        else:
            self.conn = http.client.HTTPConnection(address, port, timeout=timeout,
                                                   source_address=(source, 0) if source else None)

    def request(self, method: str, path: str, headers: dict | None = None, body: bytes | None = None) -> Reply:
        hdrs = {"Host": self.host, **(headers or {})}
        self.conn.request(method, path, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        return Reply(resp.status, list(resp.getheaders()), data)

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def get(port: int, host: str, path: str, ca_file, *, source: str | None = None, **kw) -> Reply:
    """One request on a fresh connection."""
    with Client(port, host, ca_file, source=source) as c:
        return c.get(path, **kw)


def ntlm_handshake(port: int, host: str, path: str, ca_file) -> tuple[Reply, Reply, Reply]:
    """The three NTLM legs on ONE client connection: anonymous -> 401, type 1 -> 401 + challenge, type 3 -> 200."""
    from .exchange import ntlm_type1, ntlm_type3
    with Client(port, host, ca_file) as c:
        first = c.get(path, headers={"X-Lab-Require-Auth": "1"})
        second = c.get(path, headers={"Authorization": "NTLM " + ntlm_type1()})
        challenge = next((v for v in second.headers_named("WWW-Authenticate") if v.startswith("NTLM ")), None)
        if challenge is None:
            return first, second, Reply(0, [], b"no NTLM challenge in the second leg")
        third = c.get(path, headers={"Authorization": "NTLM " + ntlm_type3(challenge)})
        return first, second, third


def tls_socket(port: int, sni: str, ca_file, timeout: float = 10) -> ssl.SSLSocket:
    sock = socket.create_connection((LB_ADDRESS, port), timeout)
    return client_tls(ca_file).wrap_socket(sock, server_hostname=sni)


def read_head(sock) -> tuple[int, dict[str, str], bytes]:
    """Read a response's status line and headers from a raw socket; returns (status, headers, extra bytes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before the response headers ({buf[:200]!r})")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def rpc_in_data(port: int, host: str, ca_file, *, send_bytes: int = 4 << 20, answer_after: int = 2 << 20,
                timeout: float = 10) -> tuple[int, dict, int]:
    """Announce a 1 GB RPC_IN_DATA body, stream `send_bytes` of it, and read the answer that arrives meanwhile.
    Returns (status, JSON body, bytes sent before the answer was read)."""
    sock = tls_socket(port, host, ca_file, timeout)
    try:
        sock.sendall((f"RPC_IN_DATA /rpc/rpcproxy.dll?EX01.contoso.com:6001 HTTP/1.1\r\nHost: {host}\r\n"
                      f"Content-Length: {1 << 30}\r\nX-Lab-Answer-After: {answer_after}\r\n"
                      "User-Agent: MSRPC\r\n\r\n").encode())
        block = b"\0" * 65536
        sent = 0
        while sent < send_bytes:
            sock.sendall(block)
            sent += len(block)
        status, headers, rest = read_head(sock)
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, json.loads(rest[:length] or b"{}"), sent
    finally:
        sock.close()


def rpc_out_data(port: int, host: str, ca_file, *, want: int = 256 << 10, timeout: float = 10) -> tuple[int, dict, int]:
    """RPC_OUT_DATA: read the first `want` bytes of a 1 GB streamed response. Returns (status, headers, bytes)."""
    sock = tls_socket(port, host, ca_file, timeout)
    try:
        sock.sendall((f"RPC_OUT_DATA /rpc/rpcproxy.dll?EX01.contoso.com:6001 HTTP/1.1\r\nHost: {host}\r\n"
                      f"Content-Length: 76\r\nX-Lab-Stream-Bytes: {want}\r\n\r\n").encode() + b"\0" * 76)
        status, headers, rest = read_head(sock)
        got = len(rest)
        while got < want:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        return status, headers, got
    finally:
        sock.close()
