"""Simulated Exchange mail front ends for the lab: SMTP (25, 587), IMAP4 (143, 993 with TLS), POP3 (110, 995 with
TLS) on one loopback address per server, greeting as Exchange does and naming the server, so a test sees which
server a connection reached.

What each one answers (the shape of Exchange's own greetings: facts.mail):
- SMTP: `220 EX01 Microsoft ESMTP MAIL Service ready`; EHLO/HELO -> `250 EX01 Hello`; QUIT -> `221 ...` and close;
  in maintenance (`maintenance = True`) the greeting is `421 4.3.2 Service not available` and the server closes.
- IMAP: `* OK The Microsoft Exchange IMAP4 service is ready. [EX01]`; `<tag> LOGOUT` -> `* BYE` / `<tag> OK`.
- POP: `+OK The Microsoft Exchange POP3 service is ready. [EX01]`; QUIT -> `+OK` and close.
`stop()` closes the listeners (a server that is down: connections are refused); `start()` opens them again.
"""

from __future__ import annotations

import socket
import ssl
import threading

PROTOCOL_OF = {25: "smtp", 587: "smtp", 143: "imap", 993: "imap", 110: "pop", 995: "pop"}
TLS_PORTS = (993, 995)


def can_bind(address: str, ports) -> bool:
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


class MailServer:
    def __init__(self, name: str, address: str, ports, pki_files):
        self.name, self.address, self.ports = name, address, tuple(ports)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(str(pki_files["fullchain"]), str(pki_files["key"]))
        self.maintenance = False
        self.listeners: list[socket.socket] = []
        self.seen: dict[int, int] = {}   # port -> connections accepted
        self._lock = threading.Lock()

    def start(self) -> MailServer:
        for port in self.ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.address, port))
            s.listen(64)
            self.listeners.append(s)
            threading.Thread(target=self._accept, args=(s, port), daemon=True).start()
        return self

    def stop(self) -> None:
        for s in self.listeners:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.listeners = []

    def _accept(self, listener: socket.socket, port: int) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self.seen[port] = self.seen.get(port, 0) + 1
            threading.Thread(target=self._serve, args=(conn, port), daemon=True).start()

    def _serve(self, conn: socket.socket, port: int) -> None:
        conn.settimeout(10)
        try:
            if port in TLS_PORTS:
                conn = self.tls.wrap_socket(conn, server_side=True)
            f = conn.makefile("rwb", buffering=0)
            getattr(self, "_" + PROTOCOL_OF[port])(f)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _smtp(self, f) -> None:
        if self.maintenance:
            f.write(b"421 4.3.2 Service not available\r\n")
            return
        f.write(f"220 {self.name} Microsoft ESMTP MAIL Service ready\r\n".encode())
        for line in iter(f.readline, b""):
            word = line.strip().split(b" ", 1)[0].upper()
            if word in (b"EHLO", b"HELO"):
                f.write(f"250 {self.name} Hello\r\n".encode())
            elif word == b"QUIT":
                f.write(b"221 2.0.0 Service closing transmission channel\r\n")
                return
            else:
                f.write(b"500 5.3.3 Unrecognized command\r\n")

    def _imap(self, f) -> None:
        f.write(f"* OK The Microsoft Exchange IMAP4 service is ready. [{self.name}]\r\n".encode())
        for line in iter(f.readline, b""):
            parts = line.strip().split(b" ")
            if len(parts) >= 2 and parts[1].upper() == b"LOGOUT":
                f.write(b"* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n" + parts[0]
                        + b" OK LOGOUT completed.\r\n")
                return
            f.write((parts[0] if parts else b"*") + b" BAD Command Error.\r\n")

    def _pop(self, f) -> None:
        f.write(f"+OK The Microsoft Exchange POP3 service is ready. [{self.name}]\r\n".encode())
        for line in iter(f.readline, b""):
            if line.strip().upper() == b"QUIT":
                f.write(b"+OK Microsoft Exchange Server POP3 server signing off.\r\n")
                return
            f.write(b"-ERR Command is not valid in this state.\r\n")


def greeting(address: str, port: int, ca_file=None, server_name: str | None = None, timeout: float = 5) -> str:
    """The first line a client gets on address:port (TLS first on 993/995, verifying the server's certificate)."""
    with socket.create_connection((address, port), timeout) as raw:
        conn = raw
        if port in TLS_PORTS:
            ctx = ssl.create_default_context(cafile=str(ca_file))
            conn = ctx.wrap_socket(raw, server_hostname=server_name)
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(512)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").strip()
