"""Keep-alive wherever IIS does not bind authentication to the connection (#15), through the real load balancers.

Forms-based /owa and /ecp and Basic ActiveSync (Exchange's defaults) keep their server connections alive across
clients — and, bridged, resume TLS sessions toward the servers — while /owa/Integrated and every virtual directory
that accepts NTLM/Negotiate keep a server connection to one client. The lab servers do Windows authentication only
where IIS has it (lab/exchange.py, facts.iis), so these tests show with a real NTLM handshake that an authenticated
server connection never answers another client — and that it would, were such a pool kept alive by NGINX."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from lab import client
from lab.exchange import kerberos_token, ntlm_type1, ntlm_type3
from lab.fixtures import lab, start_lb  # noqa: F401 - fixtures
from lab.lb import Nginx
from lbsync.targets import nginx

pytestmark = pytest.mark.lab

HOST = "mail.contoso.com"
SHARED = {"owa": "/owa/lab.aspx", "ecp": "/ecp/lab.aspx", "eas": "/Microsoft-Server-ActiveSync/lab"}
PRIVATE = {"owa-integrated": "/owa/Integrated/lab.aspx", "ews": "/EWS/Exchange.asmx", "mapi": "/mapi/emsmdb/"}


@pytest.fixture(scope="module", params=[("nginx", "offload"), ("nginx", "bridge"), ("haproxy", "offload"),
                                        ("haproxy", "bridge")], ids=lambda p: "-".join(p))
def running(request, lab, pki_files, tmp_path_factory):  # noqa: F811
    target, mode = request.param
    # Exchange's default authentication everywhere (NGINX open source forced past nginx-ntlm, as its users are not)
    r = start_lb(lab, pki_files, tmp_path_factory, target, mode, basic_auth=False, allow=("nginx-ntlm",))
    r.target, r.mode = target, mode
    yield r
    r.lb.stop()


def _server_connections(r, path: str, n: int = 12) -> list[dict]:
    """n requests, each on a NEW client connection: what the servers saw (their connection id, TLS resumption)."""
    return [client.get(r.port, HOST, path, r.ca).json for _ in range(n)]


def test_the_plan_splits_connection_bound_routes_from_the_others(running):
    routes = {s.service: s for s in running.plan.services}
    assert all(routes[k].share_server_connections for k in SHARED)
    assert not any(routes[k].share_server_connections for k in PRIVATE)
    if running.target == "nginx":
        conf = running.lb.files[nginx.HTTP_CONF].content
        blocks = {k: conf.split(f"upstream {nginx.upstream_name(routes[k])} {{")[1].split("}")[0]
                  for k in (*SHARED, *PRIVATE)}
        directive = re.compile(r"^\s*keepalive \d+;", re.M)
        assert all(directive.search(blocks[k]) for k in SHARED)
        assert not any(directive.search(blocks[k]) for k in PRIVATE)


@pytest.mark.parametrize("route", list(SHARED))
def test_forms_and_basic_routes_keep_server_connections_alive(running, route):
    """NGINX: an upstream keep-alive pool, shared by every client (a new client connection per request below);
    HAProxy: a client's requests ride one kept-alive connection per server (round-robin per request)."""
    if running.target == "nginx":
        seen = _server_connections(running, SHARED[route])
        conns = {(x["server"], x["conn"]) for x in seen}
        assert len(conns) <= 4, (route, conns)      # two servers x two workers at most, each reused
    else:
        with client.Client(running.port, HOST, running.ca) as c:
            seen = [c.get(SHARED[route]).json for _ in range(6)]
        assert len({(x["server"], x["conn"]) for x in seen}) == 2, seen
    assert {x["scheme"] for x in seen} == {"https" if running.mode == "bridge" else "http"}


@pytest.mark.parametrize("route", ["owa-integrated", "ews"])
def test_connection_bound_routes_through_nginx_open_a_server_connection_per_request(running, route):
    if running.target != "nginx":
        pytest.skip("HAProxy keeps a client's server connection for that client (http-reuse never)")
    seen = _server_connections(running, PRIVATE[route], 12)
    assert len({(x["server"], x["conn"]) for x in seen}) == 12
    if running.mode == "bridge":   # a new TLS connection per request, resumed from the session each NGINX worker
        # keeps per server (two workers x two servers: four full handshakes at most)
        assert sum(bool(x["tls_resumed"]) for x in seen) >= 8, [x["tls_resumed"] for x in seen]


def test_a_windows_handshake_on_a_kept_alive_forms_route_binds_nothing(running):
    """/owa is forms-based (no Windows authentication in IIS): NTLM or Kerberos there gets 401 Basic, so its kept-
    alive server connections carry nobody's identity to another client."""
    for _ in range(6):
        with client.Client(running.port, HOST, running.ca) as a:
            reply = a.get(SHARED["owa"], headers={"Authorization": "Negotiate " + kerberos_token()})
            assert reply.status == 401 and reply.header("WWW-Authenticate").startswith("Basic")
        with client.Client(running.port, HOST, running.ca) as b:
            assert b.get(SHARED["owa"]).json["user"] is None


def _ntlm_alice_then_bob(r, path: str, rounds: int = 10) -> tuple[int, list[dict]]:
    """Alice completes a real NTLM handshake (three legs, one client connection) and keeps her connection open;
    Bob, with no credentials at all, then asks on new connections. (Alice's successes, Bob's 200 answers)."""
    alice_ok, leaked = 0, []
    for _ in range(rounds):
        with client.Client(r.port, HOST, r.ca) as alice:
            first = alice.get(path, headers={"X-Lab-Require-Auth": "1"})
            second = alice.get(path, headers={"Authorization": "NTLM " + ntlm_type1()})
            challenge = next((v for v in second.headers_named("WWW-Authenticate") if v.startswith("NTLM ")), None)
            third = alice.get(path, headers={"Authorization": "NTLM " + ntlm_type3(challenge)}) if challenge else None
            alice_ok += bool(first.status == 401 and third and third.status == 200)
            for _ in range(4):
                with client.Client(r.port, HOST, r.ca) as bob:
                    reply = bob.get(path, headers={"X-Lab-Require-Auth": "1"})
                    if reply.status == 200:
                        leaked.append(reply.json)
    return alice_ok, leaked


def test_an_ntlm_authenticated_server_connection_never_answers_another_client(running):
    alice_ok, leaked = _ntlm_alice_then_bob(running, PRIVATE["ews"])
    assert leaked == []
    if running.target == "haproxy":
        assert alice_ok == 10      # and NTLM works (NGINX open source: it cannot, finding nginx-ntlm)


def test_the_check_above_can_fail_nginx_keepalive_on_an_ntlm_pool_answers_as_alice(running, tmp_path):
    """The hazard the split avoids, shown with the generated NGINX file changed in one place: `keepalive` on the
    EWS pool (one server, so that Alice's three legs meet one connection). Bob is then served as Alice."""
    if running.target != "nginx":
        pytest.skip("NGINX only")
    ews = next(s for s in running.plan.services if s.service == "ews")
    name = nginx.upstream_name(ews)
    conf = running.lb.files[nginx.HTTP_CONF].content
    block = conf.split(f"upstream {name} {{")[1].split("}")[0]
    servers = [ln for ln in block.splitlines() if ln.strip().startswith("server ")]
    changed_block = block.replace(servers[1] + "\n", "") + "    keepalive 32;\n"
    changed = conf.replace(block, changed_block)
    assert changed != conf and "keepalive 32;" in changed.split(f"upstream {name} {{")[1].split("}")[0]
    running.lb.stop()
    try:
        hazard = Nginx(running.lb.model_path, tmp_path / "hazard", allow=("nginx-ntlm",))
        own = hazard.files[nginx.HTTP_CONF].content
        (hazard.workdir / nginx.HTTP_CONF).write_text(own.replace(block, changed_block))
        hazard.start()
        try:
            alice_ok, leaked = _ntlm_alice_then_bob(SimpleNamespace(port=running.port, ca=running.ca),
                                                    PRIVATE["ews"], rounds=4)
        finally:
            hazard.stop()
    finally:
        running.lb.start()
    assert alice_ok >= 1 and leaked and all(x["user"] == "contoso\\alice" for x in leaked), (alice_ok, leaked)
    assert re.search(r"keepalive \d+;", block) is None   # the generated pool itself never had it


def test_route_prefixes_match_on_a_segment_boundary_in_any_case(running):
    """The path tests (HAProxy: `path_beg -i /prefix/` in the route's rule, `path -i /prefix` after every route's
    rule, both in the rule of a path under another route's): /EWS/MRSProxy.svc goes to the
    always re-encrypted MRSProxy route, /ews/mrsproxy.svcX and /EWS to EWS, /Owa to OWA (a query string too),
    /owafoo nowhere."""
    if running.mode != "offload":
        pytest.skip("offload: EWS is plain HTTP there while MRSProxy is re-encrypted, which tells the routes apart")
    def scheme(path: str) -> str | int:
        reply = client.get(running.port, HOST, path, running.ca)
        return reply.json["scheme"] if reply.status == 200 else reply.status
    assert scheme("/EWS/MRSProxy.svc") == scheme("/ews/mrsproxy.svc/x") == scheme("/EWS/MRSProxy.svc?a=b") == "https"
    assert scheme("/ews/mrsproxy.svcX") == scheme("/EWS") == scheme("/ews/") == "http"
    assert scheme("/Owa") == scheme("/OWA/x") == scheme("/owa?a=/b") == "http"
    assert scheme("/owafoo") == scheme("/ewsx/mrsproxy.svc") == 404
