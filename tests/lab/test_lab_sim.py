"""The lab itself: it must catch what it is there to catch (403.4, NTLM on the wrong connection), take 200
concurrent connections, and run with the IIS state the generated apply script produces."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from lab import client, iis
from lab.exchange import Lab, location_of, ntlm_type1, ntlm_type3, service_of
from lab.models import model_text, write_model
from lbsync.model import load_model
from lbsync.plan import build_plan

pytestmark = pytest.mark.lab  # starts real HAProxy/NGINX processes (pytest -m "not lab" skips them)


@pytest.fixture(scope="module")
def lab(pki_files):
    with Lab(pki_files, 2) as the_lab:
        yield the_lab


@pytest.fixture
def direct(pki_files):
    """Talk to a lab server directly (no load balancer): (client, reply)."""
    def go(server, path, *, tls=True, headers=None, conn=None):
        c = conn or client.Client(server.https_port if tls else server.http_port, "mail.contoso.com",
                                  pki_files["ca"], tls=tls, address=server.address)
        return c, c.get(path, headers=headers)
    return go


def test_paths_map_to_services_and_locations():
    assert service_of("/EWS/mrsproxy.svc/x") == "mrsproxy" and service_of("/ews/Exchange.asmx") == "ews"
    assert service_of("/owafoo") is None
    flags = iis.default_state(2013)
    assert location_of("/owa/Calendar/x", flags) == "Default Web Site/owa/Calendar"
    assert location_of("/OWA/", flags) == "Default Web Site/owa"
    assert location_of("/", flags) == "Default Web Site"


def test_plain_http_to_a_location_that_requires_ssl_is_403_4(lab, direct):
    ex = lab["EX01"]
    lab.set_flags("EX01", iis.default_state(2013))
    c, r = direct(ex, "/owa/", tls=False)
    c.close()
    assert r.status == 403 and b"403.4" in r.body and r.header("X-Lab-Substatus") == "4"
    c, r = direct(ex, "/rpc/rpcproxy.dll", tls=False)   # Rpc is None by default
    c.close()
    assert r.status == 200 and r.json["scheme"] == "http"
    c, r = direct(ex, "/owa/")
    c.close()
    assert r.status == 200 and r.json["scheme"] == "https" and r.json["sni"] == "mail.contoso.com"


def test_health_urls_and_failing_one_protocol(lab, direct):
    ex = lab["EX02"]
    c, r = direct(ex, "/owa/healthcheck.htm", tls=False)
    assert r.status == 200 and r.body == b"200 OK"
    ex.fail("owa")
    try:
        _, r = direct(ex, "/owa/healthcheck.htm", tls=False, conn=c)
        assert r.status == 503
        _, r = direct(ex, "/EWS/healthcheck.htm", tls=False, conn=c)
        assert r.status == 200
    finally:
        ex.heal("owa")
        c.close()


def test_ntlm_third_leg_on_another_connection_is_rejected(lab, pki_files):
    ex = lab["EX01"]
    a = client.Client(ex.https_port, "mail.contoso.com", pki_files["ca"], address=ex.address)
    b = client.Client(ex.https_port, "mail.contoso.com", pki_files["ca"], address=ex.address)
    try:
        second = a.get("/EWS/Exchange.asmx", headers={"Authorization": "NTLM " + ntlm_type1()})
        challenge = next(v for v in second.headers_named("WWW-Authenticate") if v.startswith("NTLM "))
        wrong = b.get("/EWS/Exchange.asmx", headers={"Authorization": "NTLM " + ntlm_type3(challenge)})
        assert wrong.status == 401
        right = a.get("/EWS/Exchange.asmx", headers={"Authorization": "NTLM " + ntlm_type3(challenge)})
        assert right.status == 200 and right.json["user"] == "contoso\\alice"
        # the connection stays authenticated, like NTLM on IIS
        assert a.get("/EWS/Exchange.asmx", headers={"X-Lab-Require-Auth": "1"}).status == 200
    finally:
        a.close()
        b.close()


def test_200_concurrent_connections(lab, pki_files):
    ex = lab["EX01"]
    n = 200
    ctx = client.client_tls(pki_files["ca"])
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        try:
            with socket.create_connection((ex.address, ex.https_port), 20) as raw:
                with ctx.wrap_socket(raw, server_hostname="mail.contoso.com") as s:
                    barrier.wait(20)  # all 200 are open at once before anyone asks
                    s.sendall(b"GET /owa/ HTTP/1.1\r\nHost: mail.contoso.com\r\n\r\n")
                    status, headers, rest = client.read_head(s)
                    results[i] = (status, json.loads(rest[:int(headers["content-length"])] or b"{}")
                                  if len(rest) >= int(headers["content-length"]) else None)
        except Exception as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    bad = [r for r in results if not (isinstance(r, tuple) and r[0] == 200)]
    assert not bad, bad[:3]
    assert len({r[1]["conn"] for r in results if r[1]}) == len([r for r in results if r[1]])


def test_stop_and_start_again_on_the_same_ports(lab, direct):
    ex = lab["EX02"]
    port = ex.https_port
    ex.stop()
    with pytest.raises(OSError):
        socket.create_connection((ex.address, port), 1).close()
    ex.start()
    assert ex.https_port == port
    c, r = direct(ex, "/owa/")
    c.close()
    assert r.status == 200


@pytest.mark.parametrize("scenario,version", [("offload", 2013), ("bridge", 2013), ("passthrough", 2013),
                                              ("bridge", 2016), ("passthrough", 2019)])
def test_interpreted_apply_script_gives_the_planned_state(lab, pki_files, tmp_path, scenario, version):
    """The lab's IIS state comes from running the generated apply-SERVER.ps1 on the fixture; it equals what the
    plan expects, so the LB side and the Exchange side are tested as the pair they are."""
    assert iis.exchange_renderer_available()
    path = write_model(tmp_path, model_text(lab, pki_files, scenario=scenario, port=443, target="haproxy",
                                            version=version))
    plan = build_plan(load_model(path))
    for server in lab.servers:
        state, how = iis.applied_state(plan, server.name)
        assert how == "interpreter"
        assert state == iis.planned_state(plan)
        assert ("Default Web Site/owa" in state) and (state["Default Web Site/owa"] == (
            "None" if scenario == "offload" else "Ssl, Ssl128"))
