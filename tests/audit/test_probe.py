"""`lbsync probe` against the end-to-end lab: a real HAProxy on 127.0.0.1 in front of simulated Exchange servers on
127.0.0.11/12 (tests/lab/). The model's servers[].address/ports and the namespace vip/port point at them, so probe
runs exactly as it would in production."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from lab.exchange import server_tls
from lab.fixtures import lab, start_lb  # noqa: F401 - fixtures
from lab.iis import default_state

from lbsync.audit import probe as probemod
from lbsync.cli import main
from lbsync.model import load_model
from lbsync.plan import build_plan

pytestmark = pytest.mark.lab  # starts real HAProxy/NGINX processes (pytest -m "not lab" skips them)

OFFLOADED = {"owa", "owa/Integrated", "owa/oma", "owa/Calendar", "ecp", "EWS", "Microsoft-Server-ActiveSync",
             "OAB", "mapi", "Rpc", "Autodiscover"}


def with_certificate(running, pki_files, tmp_path) -> str:
    """The lab's model plus the certificate the load balancer and the servers present."""
    text = running.lb.model_path.read_text()
    text += f"certificate:\n  cert: {pki_files['cert']}\n  key: {pki_files['key']}\n  chain: {pki_files['chain']}\n"
    path = tmp_path / "lbsync.yaml"
    path.write_text(text)
    return str(path)


def probe(model: str):
    result = CliRunner().invoke(main, ["probe", model, "--json", "--timeout", "3"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None, result.stderr


def failed(doc) -> set[tuple[str, str, str]]:
    return {(c["target"], c["check"], c["subject"]) for c in doc["checks"] if c["status"] != "ok"}


@pytest.fixture(scope="module", params=["offload", "bridge"])
def running(request, lab, pki_files, tmp_path_factory):  # noqa: F811
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", request.param)
    r.scenario = request.param
    r.model = with_certificate(r, pki_files, tmp_path_factory.mktemp("probe"))
    yield r
    r.lb.stop()


def reset(lab, running):  # noqa: F811
    from lab.iis import applied_state
    for server in lab.servers:
        lab.set_flags(server.name, applied_state(running.plan, server.name)[0])


def test_in_sync(running, pki):
    code, doc, err = probe(running.model)
    assert code == 0, (err, failed(doc) if doc else None)
    assert doc["ok"] is True and doc["certificate"]["fingerprint_sha256"] == pki.leaf.fingerprint
    kinds = {(c["scope"], c["check"]) for c in doc["checks"]}
    expected = {("vip", "certificate"), ("vip", "health"), ("server", "health"), ("server", "certificate")}
    expected.add(("server", "http-accepted") if running.scenario == "offload" else ("server", "http-refused"))
    assert expected <= kinds
    vip_health = {c["subject"].split()[0] for c in doc["checks"] if c["scope"] == "vip" and c["check"] == "health"}
    assert vip_health >= {"owa", "ecp", "ews", "eas", "oab", "mapi", "rpc", "autodiscover"}
    servers = {c["target"] for c in doc["checks"] if c["scope"] == "server"}
    assert servers == {"EX01", "EX02"}
    if running.scenario == "offload":   # the table, once
        result = CliRunner().invoke(main, ["probe", running.model, "--timeout", "3"], catch_exceptions=False)
        assert result.exit_code == 0 and f"all {len(doc['checks'])} checks passed" in result.stdout
        assert "vip mail.contoso.com" in result.stdout and "server EX02" in result.stdout


def test_without_a_certificate_in_the_model_the_vip_certificate_is_the_reference(running, pki):
    code, doc, err = probe(str(running.lb.model_path))
    assert code == 0, err
    assert doc["certificate"]["fingerprint_sha256"] == pki.leaf.fingerprint
    assert "the model has none" in doc["certificate"]["source"]
    first = next(c for c in doc["checks"] if c["check"] == "certificate")
    assert "NOT checked" in first["detail"]  # the reference itself is never reported as a verified certificate


def test_one_server_with_a_different_certificate(running, lab, pki, pki_files, tmp_path):  # noqa: F811
    from pki import make_leaf
    other = make_leaf(pki.intermediate, ["mail.contoso.com", "autodiscover.contoso.com", "outlook.contoso.com"])
    (tmp_path / "other.pem").write_bytes(other.cert_pem() + pki.intermediate.cert_pem())
    (tmp_path / "other.key").write_bytes(other.key_pem())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tmp_path / "other.pem"), str(tmp_path / "other.key"))
    ex02 = lab["EX02"]
    original = server_tls(pki_files)
    try:
        serve_certificate(ex02, ctx)
        code, doc, _ = probe(running.model)
    finally:
        serve_certificate(ex02, original)
    assert code == 1
    bad = [c for c in doc["checks"] if c["status"] != "ok"]
    assert [(c["target"], c["check"]) for c in bad] == [("EX02", "certificate")]
    assert other.fingerprint[:16] in bad[0]["detail"]


def serve_certificate(server, ctx) -> None:
    """Restart a lab server's listeners (same ports) presenting another certificate."""
    server._tls = ctx   # the lab keeps its TLS context here; there is no public switch (yet)
    server.stop()
    server.start()


def test_server_whose_offloaded_location_still_requires_ssl(running, lab):  # noqa: F811
    if running.scenario != "offload":
        lab.set_flags("EX01", {**lab["EX01"].flags, "Default Web Site/owa": "None"})
        try:
            code, doc, _ = probe(running.model)
        finally:
            reset(lab, running)
        # bridged: SSL must still be required; EX01's owa lost it
        assert code == 1
        assert failed(doc) == {("EX01", "http-refused", "owa http://mail.contoso.com/owa/")}
        return
    lab.set_flags("EX02", default_state(2013))     # a CU put EX02 back to Exchange's defaults
    try:
        code, doc, _ = probe(running.model)
    finally:
        reset(lab, running)
    assert code == 1
    still = {loc for loc, flags in default_state(2013).items()
             if loc.split("/", 1)[-1] in OFFLOADED and flags != "None"}
    expected = set()
    for svc in build_plan(load_model(running.model)).services:
        for loc in svc.locations:
            if loc in still and svc.mode == "offload":
                expected.add(("EX02", "http-accepted", f"{svc.service} http://{svc.namespace}/{loc.split('/', 1)[1]}/"))
    assert len(expected) == 9
    assert failed(doc) == expected


def test_a_server_down(running, lab):  # noqa: F811
    ex02 = lab["EX02"]
    ex02.stop()
    try:
        for svc in running.plan.services:
            for member in ("EX02",):
                running.lb.wait_status(f"{svc.service}_{svc.namespace}", member, "DOWN", 15)
        code, doc, _ = probe(running.model)
    finally:
        ex02.start()
        for svc in running.plan.services:
            running.lb.wait_status(f"{svc.service}_{svc.namespace}", "EX02", "UP", 15)
    assert code == 1
    bad = [c for c in doc["checks"] if c["status"] != "ok"]
    assert bad and all(c["target"] == "EX02" and c["scope"] == "server" for c in bad)
    assert {c["check"] for c in bad} >= {"health", "certificate"}
    assert all("cannot connect" in c["detail"] for c in bad)
    # through the VIP everything still answers: HAProxy took EX02 out
    assert all(c["status"] == "ok" for c in doc["checks"] if c["scope"] == "vip")


# ---- redirects and bad input, without the lab ------------------------------------------------------------------

class _Redirect(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith("/owa/healthcheck.htm"):
            self.send_response(302)
            self.send_header("Location", "http://evil.example.net/owa/healthcheck.htm")
        elif self.path.startswith("/ecp/healthcheck.htm"):
            self.send_response(302)
            self.send_header("Location", "/ecp/moved/healthcheck.htm")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_redirects_are_followed_only_within_the_namespace():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        get = probemod.http_get
        status, detail = get("http", "127.0.0.1", port, "mail.contoso.com", "/owa/healthcheck.htm", timeout=2,
                             follow=True)
        assert status == 302 and "redirects off the namespace" in detail and "evil.example.net" in detail
        status, detail = get("http", "127.0.0.1", port, "mail.contoso.com", "/ecp/healthcheck.htm", timeout=2,
                             follow=True)
        assert status == 200
        status, detail = get("http", "127.0.0.1", 1, "mail.contoso.com", "/", timeout=2, follow=True)
        assert status is None and "cannot connect" in detail
    finally:
        srv.shutdown()
        srv.server_close()


def test_probe_without_model_file_is_bad_input(tmp_path):
    result = CliRunner().invoke(main, ["probe", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
