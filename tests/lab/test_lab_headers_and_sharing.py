"""End to end through real HAProxy and NGINX: a Kerberos-sized Authorization header reaches the servers (a model
that raises http.max_header_bytes: test_lab_header_limits has the limits themselves), the Host header keeps its port, and (NGINX open source, forced past nginx-ntlm) a server connection authenticated for one
client is never handed to another."""

from __future__ import annotations

import base64
import os

import pytest

from lab import client
from lab.exchange import kerberos_token
from lab.fixtures import lab, start_lb  # noqa: F401 - fixtures

pytestmark = pytest.mark.lab  # starts real HAProxy/NGINX processes (pytest -m "not lab" skips them)


@pytest.fixture(scope="module", params=["haproxy", "nginx"])
def running(request, lab, pki_files, tmp_path_factory):  # noqa: F811
    r = start_lb(lab, pki_files, tmp_path_factory, request.param, "bridge", max_header_bytes=65536)
    r.target = request.param
    yield r
    r.lb.stop()


def test_a_40_kb_kerberos_authorization_header_reaches_the_server(running):
    """Users in many groups send Negotiate tokens of tens of KB: with http.max_header_bytes raised, the LB passes
    them (and the servers' HTTP.sys takes them), not answer 400/494."""
    token = base64.b64encode(os.urandom(30 * 1024)).decode()  # 40 KB once base64-encoded
    assert len(token) >= 40 * 1024
    reply = client.get(running.port, "mail.contoso.com", "/EWS/Exchange.asmx", running.ca,
                       headers={"Authorization": "Negotiate " + token})
    # the lab server answers an unknown token with 401 naming itself: the header got through the load balancer
    assert reply.status == 401, (running.target, reply.status, reply.body[:200])
    assert reply.header("X-Lab-Server") in ("EX01", "EX02")


def test_the_host_header_keeps_its_port(running):
    """A namespace on port 8443: Exchange sees the Host the client sent, port included (NGINX $host drops it)."""
    info = client.get(running.port, "mail.contoso.com", "/owa/", running.ca,
                      headers={"Host": "mail.contoso.com:8443"}).json
    assert info["host"] == "mail.contoso.com:8443", running.target


def _kerberos_then_anonymous(r, *, second_on_same_connection: bool) -> list[dict]:
    """Client A authenticates with Kerberos (one leg: IIS binds the server connection to alice), then clients B —
    no credentials at all — ask again and again. Returns B's 200 answers (each names the user it ran as)."""
    leaked = []
    for _ in range(20):
        with client.Client(r.port, "mail.contoso.com", r.ca) as a:
            assert a.get("/EWS/Exchange.asmx", headers={"Authorization": "Negotiate " + kerberos_token()}).json[
                "user"] == "contoso\\alice"
        with client.Client(r.port, "mail.contoso.com", r.ca) as b:
            replies = [b.get("/EWS/Exchange.asmx", headers={"X-Lab-Require-Auth": "1"})]
            if second_on_same_connection:
                replies.append(b.get("/EWS/Exchange.asmx", headers={"X-Lab-Require-Auth": "1"}))
        leaked += [x.json for x in replies if x.status == 200]
    return leaked


def test_nginx_open_source_never_hands_an_authenticated_server_connection_to_another_client(
        lab, pki_files, tmp_path_factory):  # noqa: F811
    """NGINX open source shares upstream keep-alive connections across clients, and IIS binds Kerberos (and NTLM)
    to the connection: with `keepalive` on such a pool, an anonymous client B is served as client A. Those pools
    get no keepalive, so B is always challenged (401)."""
    r = start_lb(lab, pki_files, tmp_path_factory, "nginx", "bridge", basic_auth=False, allow=("nginx-ntlm",))
    try:
        assert _kerberos_then_anonymous(r, second_on_same_connection=True) == []
    finally:
        r.lb.stop()


def test_haproxy_never_reuses_an_authenticated_server_connection_for_another_client(
        lab, pki_files, tmp_path_factory):  # noqa: F811
    """HAProxy marks a server connection private only on an NTLM/Negotiate 401; a one-leg Kerberos logon answers
    200 at once, so with `http-reuse safe` another client's second request could ride alice's connection. The
    pools whose authentication IIS binds to the connection use `http-reuse never` (a guard: HAProxy 2.6 already
    keeps a session on its own server connection in this sequence; `never` also covers a session whose own server
    connection was closed and that would otherwise pick an idle one)."""
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", "bridge")
    try:
        assert _kerberos_then_anonymous(r, second_on_same_connection=True) == []
    finally:
        r.lb.stop()
