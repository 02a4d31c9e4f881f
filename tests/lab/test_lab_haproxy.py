"""End to end through a real HAProxy: generated haproxy.cfg in front of simulated Exchange servers whose IIS
state comes from the generated Exchange side."""

from __future__ import annotations

import threading

import pytest

from lab import client
from lab.fixtures import foreign_ca, lab, start_lb  # noqa: F401 - fixtures

pytestmark = pytest.mark.lab  # starts real HAProxy/NGINX processes (pytest -m "not lab" skips them)

SOURCE = "127.0.0.99"  # the test client's own loopback address: what X-Forwarded-For must say


def probe_path(svc) -> str:
    """A request path under the route, upper-cased: Exchange paths are case-insensitive."""
    return svc.paths[0].upper() + "/lab.aspx"


@pytest.fixture(scope="module", params=["offload", "bridge", "passthrough"])
def running(request, lab, pki_files, tmp_path_factory):  # noqa: F811
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", request.param)
    r.scenario = request.param
    yield r
    r.lb.stop()


def test_lab_iis_state_is_what_the_plan_expects(running, lab):
    """The servers run with the state apply-SERVER.ps1 leaves (interpreted) — the one the LB side assumes."""
    assert running.iis_source in ("interpreter", "plan")
    for server in lab.servers:
        for loc, flags in running.plan.exchange.locations.items():
            assert server.flags[loc] == flags, (server.name, loc)


def test_haproxy_runs_unprivileged(running):
    import pwd
    status = open(f"/proc/{running.lb.proc.pid}/status").read()
    uid = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
    assert uid == pwd.getpwnam("haproxy").pw_uid


def test_every_service_reaches_the_servers_over_the_right_scheme(running):
    seen = set()
    for svc in running.plan.services:
        reply = client.get(running.port, svc.namespace, probe_path(svc), running.ca, source=SOURCE)
        assert reply.status == 200, (svc.service, reply.status, reply.body[:200])
        info = reply.json
        want = "http" if svc.mode == "offload" else "https"
        assert info["scheme"] == want, (svc.service, svc.mode, info)
        assert info["host"] == svc.namespace
        if svc.mode == "passthrough":
            # untouched TLS: the server saw the client's SNI and no LB headers
            assert info["sni"] == svc.namespace and info["x_forwarded_for"] is None
        else:
            assert info["x_forwarded_for"] == SOURCE, info
            assert info["x_forwarded_proto"] == "https"
            if svc.mode == "bridge":
                assert info["sni"] == svc.namespace  # re-encrypted with the namespace as SNI (sni str(...))
        seen.add(svc.mode)
    expected = {"offload": {"offload", "bridge"}, "bridge": {"bridge"}, "passthrough": {"bridge", "passthrough"}}
    assert seen == expected[running.scenario]


def test_requests_are_balanced_across_servers(running):
    for svc in running.plan.services:
        if svc.service not in ("owa", "ews", "rpc"):
            continue
        servers = {client.get(running.port, svc.namespace, probe_path(svc), running.ca).json["server"]
                   for _ in range(8)}
        assert servers == {"EX01", "EX02"}, (svc.service, servers)


@pytest.mark.parametrize("running", ["offload"], indirect=True)
def test_mrsproxy_is_reencrypted_even_when_ews_is_offloaded(running):
    ews = client.get(running.port, "mail.contoso.com", "/EWS/Exchange.asmx", running.ca).json
    mrs = client.get(running.port, "mail.contoso.com", "/EWS/mrsproxy.svc", running.ca).json
    assert ews["scheme"] == "http" and ews["ssl_flags"] == "None"
    assert mrs["scheme"] == "https" and mrs["sni"] == "mail.contoso.com"


def test_port_80_redirects_to_https_and_root_to_owa(running):
    with client.Client(running.lb.redirect_port, "mail.contoso.com", tls=False) as c:
        r = c.get("/owa/?x=1")
    assert r.status == 301
    assert r.header("Location") == f"https://mail.contoso.com:{running.port}/owa/?x=1"
    r = client.get(running.port, "mail.contoso.com", "/", running.ca)
    assert r.status == 302 and r.header("Location") == "/owa/"


def test_every_route_form_reaches_its_own_backend(running):
    """The real HAProxy's choice, read from its request counters (`show stat`), on every terminated namespace (in
    the passthrough scenario behind the SNI splitter): every route's prefix bare, with "/", in another case and with
    a query string, a path under another route's (/owa/Integrated, /EWS/mrsproxy.svc) bare and deeper, near misses
    and "/" each land on the backend of the longest route prefix they equal or lie under on a segment boundary
    ("/": the redirect's backend where the namespace has OWA; nothing: no_route)."""
    from lbsync.targets import haproxy
    terminated = [(li, ns) for li in running.plan.listeners for ns in li.l7]
    assert terminated, "every lab scenario terminates mail.contoso.com"
    assert all(ns.vip in (None, client.LB_ADDRESS) for _, ns in terminated)   # the lab client's one address

    def counts() -> dict[str, int]:
        return {r["pxname"]: int(r["stot"] or 0) for r in running.lb.stats() if r["svname"] == "BACKEND"}
    wrong = []
    for listener, ns in terminated:
        paths = ["/", "/nothing-here"]
        for svc in ns.services:
            for p in svc.paths:
                paths += [p, p.upper(), p + "/", p.title() + "/x.aspx", p + "?a=/b", p + "x", p + "x/y"]

        def want(path: str) -> str:
            bare = path.split("?")[0].lower()
            under = [(len(p), s.pool) for s in ns.services for p in s.paths if bare == p or bare.startswith(p + "/")]
            if under:
                return max(under)[1]
            return haproxy.root_backend(ns) if bare == "/" and ns.root_redirect else f"no_route_{listener.key}"
        for path in paths:
            before = counts()
            client.get(ns.port, ns.host, path, running.ca)
            after = counts()
            moved = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
            moved.pop(f"l7_{listener.key}", None)      # the SNI splitter's hand-off to the TLS frontend
            if moved != {want(path): 1}:
                wrong.append((ns.host, path, want(path), moved))
    assert not wrong, wrong


def test_unknown_host_or_path_gets_404_not_a_random_pool(running):
    assert client.get(running.port, "mail.contoso.com", "/nothing-here", running.ca).status == 404
    assert client.get(running.port, "mail.contoso.com", "/owafoo", running.ca).status == 404
    assert client.get(running.port, "autodiscover.contoso.com", "/owa/", running.ca).status == 404


def test_rpc_in_data_streams_without_waiting_for_the_1gb_body(running):
    host = "outlook.contoso.com" if running.scenario == "passthrough" else "mail.contoso.com"
    status, info, sent = client.rpc_in_data(running.port, host, running.ca, send_bytes=4 << 20)
    assert status == 200
    assert info["content_length"] == 1 << 30 and info["received"] >= 2 << 20
    assert sent < info["content_length"]  # answered long before the announced body could have been sent


def test_rpc_out_data_streams_the_response(running):
    host = "outlook.contoso.com" if running.scenario == "passthrough" else "mail.contoso.com"
    status, headers, got = client.rpc_out_data(running.port, host, running.ca, want=256 << 10)
    assert status == 200 and int(headers["content-length"]) == 1 << 30
    assert got >= 256 << 10


@pytest.mark.parametrize("running", ["offload", "bridge"], indirect=True)
def test_ntlm_50_concurrent_clients_complete_the_handshake(running, lab):
    before = sum(s.counts.get("ntlm_ok", 0) for s in lab.servers)
    failed = sum(s.counts.get("ntlm_fail", 0) for s in lab.servers)
    n = 50
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def one(i):
        barrier.wait(10)
        try:
            results[i] = client.ntlm_handshake(running.port, "mail.contoso.com", "/EWS/Exchange.asmx", running.ca)
        except Exception as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    errors = [r for r in results if isinstance(r, Exception) or r is None]
    assert not errors, errors[:3]
    for first, second, third in results:
        assert first.status == 401 and second.status == 401
        assert third.status == 200, third.body[:200]
        assert third.json["user"] == "contoso\\alice"
        # h1-case-adjust: the header name reaches the client as WWW-Authenticate, not www-authenticate
        assert "WWW-Authenticate" in [k for k, _ in first.headers]
    assert sum(s.counts.get("ntlm_ok", 0) for s in lab.servers) - before == n
    assert sum(s.counts.get("ntlm_fail", 0) for s in lab.servers) == failed


def test_disagreeing_pair_gives_403_4(lab, pki_files, tmp_path_factory):  # noqa: F811
    """LB offloads, but the servers are left with Exchange's defaults (Require SSL): the lab catches it."""
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", "offload", iis="default")
    try:
        for path in ("/owa/", "/EWS/Exchange.asmx", "/mapi/emsmdb/", "/Microsoft-Server-ActiveSync"):
            reply = client.get(r.port, "mail.contoso.com", path, r.ca)
            assert reply.status == 403, (path, reply.status)
            assert b"403.4" in reply.body and reply.header("X-Lab-Substatus") == "4"
        # Outlook Anywhere's Rpc vdir is None by default (offloading on): it still works
        assert client.get(r.port, "mail.contoso.com", "/rpc/rpcproxy.dll", r.ca).status == 200
    finally:
        r.lb.stop()


def test_per_protocol_failover_and_return(lab, pki_files, tmp_path_factory):  # noqa: F811
    interval_ms, fall, rise = 200, 2, 2
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", "offload", interval="200ms", fall=fall, rise=rise)
    try:
        lab["EX01"].fail("owa")
        took = r.lb.wait_status("owa_mail.contoso.com", "EX01", "DOWN", timeout=5)
        # interval x fall, plus one interval of phase and the check timeout's slack
        assert took <= (interval_ms * (fall + 1)) / 1000 + 1.0, took
        owa = [client.get(r.port, "mail.contoso.com", "/owa/", r.ca).json["server"] for _ in range(8)]
        ews = {client.get(r.port, "mail.contoso.com", "/EWS/Exchange.asmx", r.ca).json["server"] for _ in range(8)}
        assert set(owa) == {"EX02"}
        assert ews == {"EX01", "EX02"}  # only OWA's member went out
        assert r.lb.server_status()[("ews_mail.contoso.com", "EX01")] == "UP"
        lab["EX01"].heal("owa")
        back = r.lb.wait_status("owa_mail.contoso.com", "EX01", "UP", timeout=5)
        assert back <= (interval_ms * (rise + 1)) / 1000 + 1.0, back
        owa = {client.get(r.port, "mail.contoso.com", "/owa/", r.ca).json["server"] for _ in range(8)}
        assert owa == {"EX01", "EX02"}
    finally:
        lab["EX01"].heal("owa")
        r.lb.stop()


def test_a_server_that_stops_accepting_is_routed_around_and_comes_back(lab, pki_files, tmp_path_factory):  # noqa: F811
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", "bridge", interval="200ms", fall=2, rise=2)
    try:
        lab["EX01"].stop()
        # retries + redispatch: no client sees the dead server, even before the health checks notice
        servers = [client.get(r.port, "mail.contoso.com", "/owa/", r.ca) for _ in range(6)]
        assert [s.status for s in servers] == [200] * 6
        assert {s.json["server"] for s in servers} == {"EX02"}
        r.lb.wait_status("owa_mail.contoso.com", "EX01", "DOWN", timeout=5)
        lab["EX01"].start()
        r.lb.wait_status("owa_mail.contoso.com", "EX01", "UP", timeout=5)
        owa = {client.get(r.port, "mail.contoso.com", "/owa/", r.ca).json["server"] for _ in range(8)}
        assert owa == {"EX01", "EX02"}
    finally:
        lab["EX01"].start()
        r.lb.stop()


def test_reencryption_really_verifies_the_server_certificate(lab, pki_files, tmp_path_factory, foreign_ca):  # noqa: F811
    """server_ca that did not issue the servers' certificate: every bridged member fails its (verified) check and
    no request is re-encrypted to an unverified server; the offloaded pools are unaffected."""
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", "offload", ready=False, server_ca=foreign_ca,
                 interval="200ms", fall=1, rise=1)
    try:
        r.lb.wait_status("mrsproxy_mail.contoso.com", "EX01", "DOWN", timeout=5)
        r.lb.wait_status("mrsproxy_mail.contoso.com", "EX02", "DOWN", timeout=5)
        assert client.get(r.port, "mail.contoso.com", "/EWS/mrsproxy.svc", r.ca).status == 503
        assert client.get(r.port, "mail.contoso.com", "/EWS/Exchange.asmx", r.ca).status == 200
    finally:
        r.lb.stop()


def test_passthrough_pool_is_health_checked_too(lab, pki_files, tmp_path_factory):  # noqa: F811
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", "passthrough", interval="200ms", fall=2, rise=2)
    try:
        lab["EX02"].fail("rpc")
        r.lb.wait_status("tcp_outlook.contoso.com", "EX02", "DOWN", timeout=5)
        seen = {client.get(r.port, "outlook.contoso.com", "/rpc/rpcproxy.dll", r.ca).json["server"] for _ in range(6)}
        assert seen == {"EX01"}
        lab["EX02"].heal("rpc")
        r.lb.wait_status("tcp_outlook.contoso.com", "EX02", "UP", timeout=5)
    finally:
        lab["EX02"].heal("rpc")
        r.lb.stop()


def test_exchange_2016_bridge_end_to_end(lab, pki_files, tmp_path_factory):  # noqa: F811
    """The configuration Microsoft supports on 2016/2019: everything re-encrypted, servers keep Require SSL."""
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", "bridge", version=2016)
    try:
        assert r.iis_source == "interpreter"
        for svc in r.plan.services:
            info = client.get(r.port, svc.namespace, probe_path(svc), r.ca).json
            assert info["scheme"] == "https" and info["ssl_flags"] == "Ssl, Ssl128", (svc.service, info)
    finally:
        r.lb.stop()
