"""Live endpoints: a TLS server on 127.0.0.1 (free port, stopped after the test) presenting the same certificate
for one SNI name and a different one for another; fetch_certificate and `cert check --compare HOST:PORT`."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from pki import Pki, make_ca, make_leaf, shared_key

from lbsync.certs.live import fetch_certificate, parse_endpoint
from lbsync.cli import main
from lbsync.errors import LbsyncError

PW = "Live-pfx-1"
ENV = "LBSYNC_T_LIVE_PW"
NAMES = ["mail.contoso.com", "autodiscover.contoso.com"]


class TlsServer:
    """Accepts TLS handshakes on 127.0.0.1; presents `default` files, or `by_sni[name]` for that SNI name."""

    def __init__(self, default: tuple[Path, Path], by_sni: dict[str, tuple[Path, Path]] | None = None):
        self.ctx = self._context(*default)
        self.others = {name: self._context(*files) for name, files in (by_sni or {}).items()}
        self.ctx.sni_callback = self._pick
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.seen_sni: list[str | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _context(cert: Path, key: Path) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def _pick(self, tls, name, _ctx):
        self.seen_sni.append(name)
        if name in self.others:
            tls.context = self.others[name]

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(2)
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    try:
                        tls.recv(1)
                    except (OSError, ssl.SSLError):
                        pass
            except (OSError, ssl.SSLError):
                conn.close()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="module")
def live_pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    root = make_ca()
    inter = make_ca("lbsync test intermediate", issuer=root)
    good = Pki(root, inter, make_leaf(inter, NAMES, key=shared_key()))
    other = Pki(root, inter, make_leaf(inter, NAMES, key=shared_key(slot=1)))
    files = good.write(folder / "good")
    other_files = other.write(folder / "other")
    return good, files, other, other_files


@pytest.fixture
def server(live_pki):
    good, files, other, other_files = live_pki
    srv = TlsServer((files["fullchain"], files["key"]),
                    {"autodiscover.contoso.com": (other_files["fullchain"], other_files["key"])})
    yield srv
    srv.stop()


def test_parse_endpoint():
    assert parse_endpoint("mail.contoso.com:443") == ("mail.contoso.com", 443)
    assert parse_endpoint("192.0.2.11:8443") == ("192.0.2.11", 8443)
    assert parse_endpoint("[2001:db8::1]:443") == ("2001:db8::1", 443)
    assert parse_endpoint("certs/mail.pem") is None
    assert parse_endpoint("host:0") is None and parse_endpoint("host:70000") is None


def test_fetch_presented_certificate_per_sni(server, live_pki):
    good, _, other, _ = live_pki
    assert fetch_certificate("127.0.0.1", server.port, "mail.contoso.com") == good.leaf.cert
    assert fetch_certificate("127.0.0.1", server.port, "autodiscover.contoso.com") == other.leaf.cert
    assert fetch_certificate("127.0.0.1", server.port, None) == good.leaf.cert
    assert server.seen_sni == ["mail.contoso.com", "autodiscover.contoso.com", None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fetch_failures_are_one_line_errors():
    port = _free_port()
    with pytest.raises(LbsyncError) as exc:
        fetch_certificate("127.0.0.1", port, "mail.contoso.com", timeout=2)
    assert str(exc.value).startswith(f"error: 127.0.0.1:{port} (SNI mail.contoso.com): cannot connect")
    # a listener that never answers the handshake: bounded by the timeout
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        start = time.monotonic()
        with pytest.raises(LbsyncError, match="no TLS handshake within 0.5s"):
            fetch_certificate("127.0.0.1", silent.getsockname()[1], None, timeout=0.5)
        assert time.monotonic() - start < 3
    finally:
        silent.close()


def test_fetch_from_a_plain_http_port_fails_cleanly():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def answer():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            conn.close()
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        with pytest.raises(LbsyncError, match="TLS handshake failed|cannot connect"):
            fetch_certificate("127.0.0.1", srv.getsockname()[1], "mail.contoso.com", timeout=2)
    finally:
        stop.set()
        t.join(5)
        srv.close()


def _model(folder: Path, pki: Pki) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mail.pfx").write_bytes(pki.pfx(PW.encode()))
    (folder / "ca.pem").write_bytes(pki.root.cert_pem())
    path = folder / "lbsync.yaml"
    path.write_text(f"""\
version: 1
exchange: {{version: 2019, cu: 14}}
servers: [{{name: EX01, address: 127.0.0.1}}]
namespaces:
  - host: mail.contoso.com
    services: [owa, ews, mapi]
  - host: autodiscover.contoso.com
    services: [autodiscover]
tls: {{default: bridge, server_ca: ca.pem}}
certificate: {{pfx: mail.pfx, password_env: {ENV}}}
""")
    return path


def _consistency(result) -> dict:
    return next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "consistency")


def test_compare_live_names_the_sni_that_presents_another_certificate(server, live_pki, tmp_path):
    good = live_pki[0]
    model = _model(tmp_path, good)
    result = CliRunner().invoke(main, ["cert", "check", str(model), "--json", "--compare",
                                       f"127.0.0.1:{server.port}"], env={ENV: PW})
    assert result.exit_code == 1, result.output
    cons = _consistency(result)
    assert cons["status"] == "fail"
    assert f"127.0.0.1:{server.port} (SNI autodiscover.contoso.com) presents" in cons["message"]
    assert "different certificate and key" in cons["message"]
    assert "(SNI mail.contoso.com) presents" not in cons["message"]


def test_compare_live_same_certificate_everywhere(live_pki, tmp_path):
    good, files = live_pki[0], live_pki[1]
    srv = TlsServer((files["fullchain"], files["key"]))
    try:
        model = _model(tmp_path, good)
        result = CliRunner().invoke(main, ["cert", "check", str(model), "--json", "--compare",
                                           f"127.0.0.1:{srv.port}", "--compare", str(files["combined"])],
                                    env={ENV: PW})
        assert result.exit_code == 0, result.output
        cons = _consistency(result)
        assert cons["status"] == "ok" and "at 3 place(s)" in cons["message"]
        assert srv.seen_sni == ["mail.contoso.com", "autodiscover.contoso.com"]
    finally:
        srv.stop()


def test_compare_unreachable_endpoint_fails_the_check(live_pki, tmp_path):
    model = _model(tmp_path, live_pki[0])
    port = _free_port()
    result = CliRunner().invoke(main, ["cert", "check", str(model), "--json", "--timeout", "2", "--compare",
                                       f"127.0.0.1:{port}"], env={ENV: PW})
    assert result.exit_code == 1
    cons = _consistency(result)
    assert cons["status"] == "fail" and f"127.0.0.1:{port} (SNI mail.contoso.com) could not be read" in cons["message"]
