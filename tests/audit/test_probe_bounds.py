"""The probe is bounded: one total time limit per endpoint, whatever a peer trickles, and concurrent checks, so many
endpoints that never answer take about one time limit, not one each."""

from __future__ import annotations

import socket
import threading
import time

import yaml
from support.cli import run_cli

from lbsync.audit import probe as probemod
from lbsync.certs.live import fetch_certificate
from lbsync.errors import LbsyncError


class Silent:
    """Accepts connections on 127.0.0.x and never says a word (or trickles one byte every `every` seconds)."""

    def __init__(self, address: str = "127.0.0.1", trickle: bytes = b"", every: float = 0.8):
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.trickle, self.every, self.conns, self.stop = trickle, every, [], False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.trickle:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn):
        for byte in self.trickle * 1000:
            time.sleep(self.every)
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    def close(self):
        self.stop = True
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_trickling_answer_is_cut_at_the_time_limit():
    srv = Silent(trickle=b"HTTP/1.1 200 OK\r\nX-Slow: ", every=0.3)
    try:
        start = time.monotonic()
        status, detail = probemod.http_get("http", "127.0.0.1", srv.port, "mail.contoso.com", "/", timeout=1.5)
        took = time.monotonic() - start
        assert status is None and "no answer within 1.5s" in detail
        assert took < 2.5, took          # one byte every 0.3 s kept the old probe going for as long as it dripped
    finally:
        srv.close()


def test_a_trickling_tls_handshake_is_cut_at_the_time_limit():
    srv = Silent(trickle=b"\x16\x03\x01", every=0.3)
    try:
        start = time.monotonic()
        try:
            fetch_certificate("127.0.0.1", srv.port, "mail.contoso.com", timeout=1.5)
            raise AssertionError("no certificate can come from a server that never finishes its handshake")
        except LbsyncError as exc:
            assert "no TLS handshake within 1.5s" in exc.message
        assert time.monotonic() - start < 2.5
    finally:
        srv.close()


def test_many_endpoints_that_never_answer_take_about_one_time_limit(tmp_path):
    vip = Silent("127.0.0.1")
    servers = {a: (Silent(a), Silent(a)) for a in ("127.0.0.11", "127.0.0.12", "127.0.0.13")}
    model = {"version": 1, "exchange": {"version": 2013, "cu": 23},
             "servers": [{"name": f"EX0{i}", "address": a, "http_port": h.port, "https_port": s.port}
                         for i, (a, (h, s)) in enumerate(servers.items(), start=1)],
             "namespaces": [{"host": "mail.contoso.com", "vip": "127.0.0.1", "port": vip.port,
                             "services": ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc"]}],
             "tls": {"default": "offload"}}
    path = tmp_path / "lbsync.yaml"
    path.write_text(yaml.safe_dump(model))
    try:
        start = time.monotonic()
        ran = run_cli("probe", path, "--timeout", "2", "--json")
        took = time.monotonic() - start
    finally:
        for s in [vip, *(x for pair in servers.values() for x in pair)]:
            s.close()
    assert ran.returncode == 1
    import json
    doc = json.loads(ran.stdout)                       # stdout is the JSON document alone (no progress on it)
    assert len(doc["checks"]) >= 48 and not any(c["status"] == "ok" for c in doc["checks"])
    assert took < 2 * 2 + 1, took                      # about one time limit: 48 in a row took 98.7 s before
