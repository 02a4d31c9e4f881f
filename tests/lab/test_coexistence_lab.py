"""Coexistence end to end: real HAProxy and NGINX in front of two server groups — simulated Exchange 2013
servers (main) and simulated Exchange 2010 and 2007 servers (legacy groups, which answer no healthcheck.htm,
only the OWA logon page) — each legacy namespace reaching only its group, checked on the legacy health URL. The
2007 servers speak TLS 1.0 only (Windows Server 2003/2008 SCHANNEL), and the legacy pools keep a client on one
server (2007/2010 need affinity)."""

from __future__ import annotations

import pytest
from pki import make_pki

from lab import client
from lab.exchange import Lab
from lab.iis import applied_state, default_state
from lab.lb import Haproxy, Nginx
from lab.legacy import legacy_servers, tls10_only
from lab.models import write_model
from lbsync.output.check import free_port

pytestmark = pytest.mark.lab  # starts real HAProxy/NGINX processes (pytest -m "not lab" skips them)

NAMES = ["mail.contoso.com", "autodiscover.contoso.com", "legacy.contoso.com", "legacy2007.contoso.com",
         "localhost"]
L10 = ["EXL10A", "EXL10B"]
L07 = ["EXL07A", "EXL07B"]


@pytest.fixture(scope="module")
def coex_pki(tmp_path_factory):
    return make_pki(NAMES).write(tmp_path_factory.mktemp("coex-pki"))


@pytest.fixture(scope="module")
def groups(coex_pki):
    main = Lab(coex_pki, 2, first_octet=31)
    offloaded = {loc: "None" for loc in default_state(2013)}  # the README's manual steps done on the 2010 servers
    l10 = legacy_servers(coex_pki, L10, 41, offloaded)
    # 2007 bridged: Require SSL kept, and TLS 1.0 only (no TLS 1.2 in Exchange 2007's SCHANNEL)
    l07 = legacy_servers(coex_pki, L07, 51, default_state(2013), tls=tls10_only(coex_pki))
    yield main, l10, l07
    main.close()
    for s in l10 + l07:
        s.stop()


def _yaml(servers, group=None) -> str:
    return "".join(f"  - name: {s.name}\n    address: {s.address}\n    http_port: {s.http_port}\n"
                   f"    https_port: {s.https_port}\n" + (f"    group: {group}\n" if group else "")
                   for s in servers)


def model_text(main, l10, l07, pki, port, target) -> str:
    ns = lambda host, services, group=None: (f"  - host: {host}\n    vip: 127.0.0.1\n    port: {port}\n"  # noqa
                                             + (f"    group: {group}\n" if group else "")
                                             + f"    services: [{services}]\n")
    targets = (f"  haproxy: {{cert_path: {pki['combined']}, server_ca_path: {pki['ca']}}}\n" if target == "haproxy"
               else f"  nginx: {{cert_path: {pki['fullchain']}, key_path: {pki['key']}, server_ca_path: {pki['ca']}}}\n")
    return ("version: 1\nexchange:\n  version: 2013\n  cu: 23\n"
            "  outlook_anywhere: {external_hostname: mail.contoso.com, external_auth: Basic, internal_auth: Basic}\n"
            "  auth: {ews: [Basic], oab: [Basic], autodiscover: [Basic]}\n"
            "groups:\n  legacy2010:\n    version: 2010\n    tls: {default: offload}\n"
            "  legacy2007:\n    version: 2007\n    tls: {default: bridge}\n"
            "servers:\n" + _yaml(main.servers) + _yaml(l10, "legacy2010") + _yaml(l07, "legacy2007")
            + "namespaces:\n" + ns("mail.contoso.com", "owa, ecp, ews, eas, oab, rpc")
            + ns("autodiscover.contoso.com", "autodiscover")
            + ns("legacy.contoso.com", "owa, ecp", "legacy2010")
            + ns("legacy2007.contoso.com", "owa, ews, oab", "legacy2007")
            + f"tls:\n  default: bridge\n  server_ca: {pki['ca']}\n"
            + "health:\n  interval: 200ms\n  timeout: 1s\n  fall: 2\n  rise: 2\n"
            + "targets:\n" + targets)


@pytest.fixture(scope="module", params=["haproxy", "nginx"])
def running(request, groups, coex_pki, tmp_path_factory):
    main, l10, l07 = groups
    port = free_port()
    work = tmp_path_factory.mktemp(f"coex-{request.param}")
    model = write_model(work, model_text(main, l10, l07, coex_pki, port, request.param))
    # legacy ews/oab keep Exchange's Windows authentication: NGINX open source is told so, and allowed here
    wrapper = {"haproxy": Haproxy, "nginx": Nginx}[request.param]
    lb = wrapper(model, work / request.param, allow=("nginx-ntlm", "nginx-negotiate"))
    for s in main.servers:
        main.set_flags(s.name, applied_state(lb.plan, s.name)[0])
    for s in main.servers + l10 + l07:
        s.failing.clear()
    lb.start()
    lb.port, lb.target = port, request.param
    yield lb
    lb.stop()


def served_by(lb, host, path, ca, n=8) -> list[dict]:
    return [client.get(lb.port, host, path, ca).json for _ in range(n)]


def test_plan_puts_each_groups_servers_in_its_own_pools(running):
    for s in running.plan.services:
        names = {m.server for m in s.members}
        want = {"legacy.contoso.com": set(L10), "legacy2007.contoso.com": set(L07)}.get(s.namespace,
                                                                                        {"EX01", "EX02"})
        assert names == want, (s.namespace, s.service, names)


def test_each_namespace_reaches_only_its_group_in_its_groups_mode(running, coex_pki):
    ca = coex_pki["ca"]
    cases = [("mail.contoso.com", "/OWA/", {"EX01", "EX02"}, "https"),
             ("mail.contoso.com", "/EWS/Exchange.asmx", {"EX01", "EX02"}, "https"),
             ("legacy.contoso.com", "/owa/", set(L10), "http"),        # 2010 group offloaded
             ("legacy.contoso.com", "/ECP/", set(L10), "http"),
             ("legacy2007.contoso.com", "/owa/", set(L07), "https"),   # 2007 group re-encrypted
             ("legacy2007.contoso.com", "/EWS/Exchange.asmx", set(L07), "https"),
             ("legacy2007.contoso.com", "/OAB/x/oab.xml", set(L07), "https")]
    for host, path, servers, scheme in cases:
        replies = served_by(running, host, path, ca)
        seen = {r["server"] for r in replies}
        if host.startswith("legacy"):  # persistence: one client may stay on one of its group's servers
            assert seen and seen <= servers, (running.target, host, path, replies[0])
        else:
            assert seen == servers, (running.target, host, path, replies[0])
        assert {r["scheme"] for r in replies} == {scheme}, (host, path)
        assert {r["host"] for r in replies} == {host}
        if scheme == "https":
            assert {r["sni"] for r in replies} == {host}  # re-encrypted with the namespace as SNI


def test_a_path_the_legacy_namespace_does_not_carry_is_not_routed_to_the_main_group(running, coex_pki):
    for host, path in (("legacy2007.contoso.com", "/mapi/emsmdb/"), ("legacy.contoso.com", "/EWS/Exchange.asmx")):
        reply = client.get(running.port, host, path, coex_pki["ca"])
        assert reply.status == 404, (running.target, host, path, reply.status, reply.body[:200])


@pytest.mark.parametrize("running", ["haproxy"], indirect=True)
def test_haproxy_checks_legacy_members_on_the_owa_logon_page_and_takes_them_out(running, groups, coex_pki):
    main, l10, l07 = groups
    status = running.server_status()
    # UP although every healthcheck.htm answers 404 on them: the legacy pools check /owa/auth/logon.aspx
    assert all(status[(f"{svc}_legacy.contoso.com", s)] == "UP" for svc in ("owa", "ecp") for s in L10)
    assert all(status[(f"{svc}_legacy2007.contoso.com", s)] == "UP" for svc in ("owa", "ews", "oab") for s in L07)
    assert l10[0].counts.get("logon_http", 0) > 0 and l07[0].counts.get("logon_https", 0) > 0
    assert l10[0].counts.get("healthcheck_404", 0) == 0 and l07[0].counts.get("healthcheck_404", 0) == 0
    l10[0].fail("logon")
    try:
        running.wait_status("owa_legacy.contoso.com", "EXL10A", "DOWN", timeout=5)
        running.wait_status("ecp_legacy.contoso.com", "EXL10A", "DOWN", timeout=5)  # server-level check
        assert {r["server"] for r in served_by(running, "legacy.contoso.com", "/owa/", coex_pki["ca"])} == \
            {"EXL10B"}
        assert running.server_status()[("owa_mail.contoso.com", "EX01")] == "UP"  # the main group is untouched
    finally:
        l10[0].heal("logon")
    running.wait_status("owa_legacy.contoso.com", "EXL10A", "UP", timeout=5)


def test_main_group_pools_have_no_persistence_legacy_pools_do(running):
    for s in running.plan.services:
        if s.group == "main":
            assert s.persistence == "none", s.service
        else:
            assert s.persistence == ("cookie" if s.service in ("owa", "ecp") else
                                     "none" if s.service in ("oab", "autodiscover") else "source-ip"), s.service


def test_legacy_owa_and_ecp_keep_a_client_on_the_server_that_issued_its_logon_cookie(running, coex_pki):
    """2010 forms-based logon: the cookie decrypts only on the issuing server, and OWA and ECP share it. HAProxy
    inserts a cookie naming the server (the same in both pools); NGINX open source hashes the client address."""
    ca = coex_pki["ca"]
    with client.Client(running.port, "legacy.contoso.com", ca) as c:
        first = c.get("/owa/")
        server = first.json["server"]
        headers = {}
        if running.target == "haproxy":
            cookie = next(v for v in first.headers_named("Set-Cookie") if v.startswith("LBSYNC_LEGACY2010="))
            assert cookie.split(";")[0] == f"LBSYNC_LEGACY2010={server}" and "path=/" in cookie.lower()
            assert "secure" in cookie.lower() and "httponly" in cookie.lower()
            headers = {"Cookie": cookie.split(";")[0]}
    for path in ["/owa/", "/ecp/", "/OWA/x", "/ecp/y"] * 3:  # new connections each time: persistence, not keep-alive
        assert client.get(running.port, "legacy.contoso.com", path, ca, headers=headers).json["server"] == server


def test_legacy_ews_keeps_a_client_address_on_one_server(running, coex_pki):
    """2007/2010 EWS subscriptions live on one Client Access server: source-address persistence."""
    servers = {client.get(running.port, "legacy2007.contoso.com", "/EWS/Exchange.asmx", coex_pki["ca"]).json["server"]
               for _ in range(10)}
    assert len(servers) == 1 and servers <= set(L07)
    # the main group is still balanced per request (Exchange 2013+ needs no persistence)
    main = {client.get(running.port, "mail.contoso.com", "/EWS/Exchange.asmx", coex_pki["ca"]).json["server"]
            for _ in range(10)}
    assert main == {"EX01", "EX02"}


def test_reencryption_reaches_exchange_2007_servers_that_speak_only_tls_1_0(running, coex_pki):
    """Exchange 2007 has no TLS 1.2: the plan offers its pools TLS 1.0 (with a legacy-server-tls warning), the main
    group keeps TLS 1.2 and later."""
    assert {s.server_tls_min for s in running.plan.services if s.group == "legacy2007"} == {"TLSv1.0"}
    assert {s.server_tls_min for s in running.plan.services if s.group == "main"} == {"TLSv1.2"}
    assert any(f.code == "legacy-server-tls" for f in running.plan.findings)
    for path in ("/owa/", "/EWS/Exchange.asmx", "/OAB/x/oab.xml"):
        reply = client.get(running.port, "legacy2007.contoso.com", path, coex_pki["ca"])
        assert reply.status == 200, (running.target, path, reply.status, reply.body[:200])
        assert reply.json["scheme"] == "https" and reply.json["server"] in L07
