"""SMTP, IMAP and POP through the real HAProxy and NGINX: the generated layer-4 listeners in front of simulated
Exchange mail front ends (tests/lab/mailsim.py) on their real ports (25, 587, 143, 993, 110, 995) on loopback
addresses of their own. HAProxy checks each pool by the protocol's greeting (EHLO for SMTP, TLS first on
993/995) and takes a server out when it stops answering or greets with 421; NGINX open source only notices
refused connections (passive) and passes the next connection to the other server."""

from __future__ import annotations

import time

import pytest

from lab.lb import Haproxy, Nginx
from lab.mailsim import MailServer, can_bind, greeting
from lab.models import write_model
from lbsync.audit.probe import run_probe

pytestmark = pytest.mark.lab

VIP = "127.0.0.21"
SERVERS = {"EX01": "127.0.0.31", "EX02": "127.0.0.32"}
PORTS = (25, 587, 143, 993, 110, 995)
HOST = "mail.contoso.com"   # a name the lab certificate holds: 993/995 checks verify it


def _model(pki_files, target: str) -> str:
    servers = "".join(f"  - name: {n}\n    address: {a}\n" for n, a in SERVERS.items())
    if target == "haproxy":
        targets = f"  haproxy: {{cert_path: {pki_files['combined']}, server_ca_path: {pki_files['ca']}}}\n"
    else:
        targets = (f"  nginx: {{cert_path: {pki_files['fullchain']}, key_path: {pki_files['key']}, "
                   f"server_ca_path: {pki_files['ca']}}}\n")
    return ("version: 1\nexchange:\n  version: SE\n  cu: 0\nservers:\n" + servers
            + f"namespaces:\n  - host: {HOST}\n    vip: {VIP}\n    services: [smtp, imap, pop]\n"
            + "mail:\n  smtp: {ports: [25, 587]}\n  imap: {ports: [993, 143]}\n  pop: {ports: [995, 110]}\n"
            + "health:\n  interval: 500ms\n  timeout: 1s\n  fall: 2\n  rise: 2\n"
            + "targets:\n" + targets)


@pytest.fixture(scope="module")
def mail_servers(pki_files):
    addresses = [VIP, *SERVERS.values()]
    if not all(can_bind(a, PORTS) for a in addresses):
        pytest.skip("the mail ports are taken on this machine's loopback (another mail server?)")
    servers = {n: MailServer(n, a, PORTS, pki_files).start() for n, a in SERVERS.items()}
    yield servers
    for s in servers.values():
        s.stop()


def _start(kind, pki_files, tmp_path_factory):
    work = tmp_path_factory.mktemp(f"mail-{kind}")
    model = write_model(work, _model(pki_files, kind))
    lb = (Haproxy if kind == "haproxy" else Nginx)(model, work / kind)
    return lb.start()


def _greetings(port: int, pki_files, n: int = 6) -> list[str]:
    return [greeting(VIP, port, pki_files["ca"], HOST) for _ in range(n)]


def test_every_mail_port_reaches_both_servers_through_haproxy_and_a_dead_one_is_taken_out(
        mail_servers, pki_files, tmp_path_factory):
    lb = _start("haproxy", pki_files, tmp_path_factory)
    try:
        cfg = lb.files["haproxy/haproxy.cfg"].content
        code = "\n".join(line.split("#")[0] for line in cfg.splitlines())
        assert "send-proxy" not in code and code.count("mode tcp") == 6
        status = lb.server_status()
        pools = {m.port: m.pool for m in lb.plan.mail}
        assert {status[(pools[p], n)] for p in PORTS for n in SERVERS} == {"UP"}
        expected = {25: "220 ", 587: "220 ", 143: "* OK ", 993: "* OK ", 110: "+OK ", 995: "+OK "}
        for port in PORTS:
            lines = _greetings(port, pki_files)
            assert all(line.startswith(expected[port]) for line in lines), (port, lines)
            # balanced: both servers greet (the greeting names the server)
            assert {n for n in SERVERS if any(n in line for line in lines)} == set(SERVERS), (port, lines)
        # lbsync probe: every mail port through the VIP and on each server greets as its protocol does
        report = run_probe(lb.plan, timeout=3)
        greetings = [c for c in report.checks if c.check == "greeting"]
        assert len(greetings) == 6 + 6 * 2 and report.ok, [c.as_json() for c in report.checks if not c.ok]
        # EX01 dies: every mail pool takes it out within interval x fall, and every connection reaches EX02
        mail_servers["EX01"].stop()
        report = run_probe(lb.plan, timeout=3)
        failed = {(c.target, c.subject) for c in report.checks if not c.ok}
        assert failed == {("EX01", f"{m.service} {SERVERS['EX01']}:{m.port}") for m in lb.plan.mail}
        for port in PORTS:
            took = lb.wait_status(pools[port], "EX01", "DOWN", timeout=10)
            assert took < 5, (port, took)
        for port in PORTS:
            assert all("EX02" in line for line in _greetings(port, pki_files, 4)), port
        mail_servers["EX01"].start()
        for port in PORTS:
            lb.wait_status(pools[port], "EX01", "UP", timeout=10)
        # an SMTP greeting of 421 (a server in maintenance) takes it out of the SMTP pools only
        mail_servers["EX02"].maintenance = True
        lb.wait_status(pools[25], "EX02", "DOWN", timeout=10)
        lb.wait_status(pools[587], "EX02", "DOWN", timeout=10)
        assert lb.server_status()[(pools[993], "EX02")] == "UP"
    finally:
        mail_servers["EX02"].maintenance = False
        if not mail_servers["EX01"].listeners:
            mail_servers["EX01"].start()
        lb.stop()


def test_nginx_passes_mail_through_and_a_refused_server_is_skipped(mail_servers, pki_files, tmp_path_factory):
    lb = _start("nginx", pki_files, tmp_path_factory)
    try:
        stream = lb.files["nginx/lbsync-stream.conf"].content
        code = "\n".join(line.split("#")[0] for line in stream.splitlines())
        assert "proxy_protocol" not in code and code.count("listen 127.0.0.21:") == 6
        for port in PORTS:
            lines = _greetings(port, pki_files)
            assert {n for n in SERVERS if any(n in line for line in lines)} == set(SERVERS), (port, lines)
        mail_servers["EX01"].stop()
        time.sleep(0.2)
        for port in PORTS:
            # refused by EX01: NGINX tries EX02 (proxy_next_upstream), the client never notices
            assert all("EX02" in line for line in _greetings(port, pki_files, 4)), port
    finally:
        if not mail_servers["EX01"].listeners:
            mail_servers["EX01"].start()
        lb.stop()
