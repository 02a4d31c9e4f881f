"""End to end through a real NGINX (open source, with the stream module): generated lbsync.conf /
lbsync-stream.conf in front of simulated Exchange servers. NTLM is not carried by NGINX open source, so the lab
models use Basic on the vdirs that would accept NTLM (the nginx-ntlm rule refuses anything else)."""

from __future__ import annotations

import pytest

from lab import client
from lab.fixtures import foreign_ca, lab, start_lb  # noqa: F401 - fixtures

pytestmark = pytest.mark.lab  # starts real HAProxy/NGINX processes (pytest -m "not lab" skips them)

SOURCE = "127.0.0.98"


def probe_path(svc) -> str:
    return svc.paths[0].upper() + "/lab.aspx"


@pytest.fixture(scope="module", params=["offload", "bridge", "passthrough"])
def running(request, lab, pki_files, tmp_path_factory):  # noqa: F811
    r = start_lb(lab, pki_files, tmp_path_factory, "nginx", request.param)
    r.scenario = request.param
    yield r
    r.lb.stop()


def test_stream_config_only_with_a_passthrough_namespace(running):
    names = set(running.lb.files)
    assert "nginx/lbsync.conf" in names
    assert ("nginx/lbsync-stream.conf" in names) == (running.scenario == "passthrough")


def test_every_service_reaches_the_servers_over_the_right_scheme(running):
    seen = set()
    for svc in running.plan.services:
        reply = client.get(running.port, svc.namespace, probe_path(svc), running.ca, source=SOURCE)
        assert reply.status == 200, (svc.service, reply.status, reply.body[:200])
        info = reply.json
        assert info["scheme"] == ("http" if svc.mode == "offload" else "https"), (svc.service, info)
        assert info["host"] == svc.namespace
        if svc.mode == "passthrough":
            assert info["sni"] == svc.namespace and info["x_forwarded_for"] is None
        else:
            # through the stream splitter too (passthrough scenario): PROXY protocol kept the client address
            assert info["x_forwarded_for"] == SOURCE, info
            assert info["x_forwarded_proto"] == "https"
            if svc.mode == "bridge":
                assert info["sni"] == svc.namespace  # proxy_ssl_server_name on + proxy_ssl_name
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
    ews = client.get(running.port, "mail.contoso.com", "/ews/exchange.asmx", running.ca).json
    mrs = client.get(running.port, "mail.contoso.com", "/EWS/MRSProxy.svc", running.ca).json
    assert ews["scheme"] == "http" and ews["ssl_flags"] == "None"
    assert mrs["scheme"] == "https" and mrs["sni"] == "mail.contoso.com"


def test_port_80_redirects_to_https_and_root_to_owa(running):
    with client.Client(running.lb.redirect_port, "mail.contoso.com", tls=False) as c:
        r = c.get("/owa/?x=1")
    assert r.status == 301
    assert r.header("Location") == f"https://mail.contoso.com:{running.port}/owa/?x=1"
    r = client.get(running.port, "mail.contoso.com", "/", running.ca)
    assert r.status == 302 and r.header("Location").endswith("/owa/")


def test_unknown_host_or_path_gets_404_not_a_random_pool(running):
    assert client.get(running.port, "mail.contoso.com", "/nothing-here", running.ca).status == 404
    assert client.get(running.port, "mail.contoso.com", "/owafoo", running.ca).status == 404
    assert client.get(running.port, "autodiscover.contoso.com", "/owa/", running.ca).status == 404
    assert client.get(running.port, "localhost", "/owa/", running.ca).status == 404


def test_rpc_in_data_streams_without_waiting_for_the_1gb_body(running):
    host = "outlook.contoso.com" if running.scenario == "passthrough" else "mail.contoso.com"
    status, info, sent = client.rpc_in_data(running.port, host, running.ca, send_bytes=4 << 20)
    assert status == 200  # client_max_body_size >= 2G accepted the 1 GB announcement
    assert info["content_length"] == 1 << 30 and info["received"] >= 2 << 20
    assert sent < info["content_length"]  # answered long before the announced body could have been sent


def test_rpc_out_data_streams_the_response(running):
    host = "outlook.contoso.com" if running.scenario == "passthrough" else "mail.contoso.com"
    status, headers, got = client.rpc_out_data(running.port, host, running.ca, want=256 << 10)
    assert status == 200 and int(headers["content-length"]) == 1 << 30
    assert got >= 256 << 10


def test_disagreeing_pair_gives_403_4(lab, pki_files, tmp_path_factory):  # noqa: F811
    r = start_lb(lab, pki_files, tmp_path_factory, "nginx", "offload", iis="default")
    try:
        for path in ("/owa/", "/EWS/Exchange.asmx", "/OAB/x/oab.xml", "/Autodiscover/Autodiscover.xml"):
            reply = client.get(r.port, "mail.contoso.com" if "Auto" not in path else "autodiscover.contoso.com",
                               path, r.ca)
            assert reply.status == 403, (path, reply.status)
            assert b"403.4" in reply.body
    finally:
        r.lb.stop()


def test_passive_health_routes_around_a_server_that_stops_accepting(lab, pki_files, tmp_path_factory):  # noqa: F811
    r = start_lb(lab, pki_files, tmp_path_factory, "nginx", "bridge")
    try:
        lab["EX01"].stop()
        replies = [client.get(r.port, "mail.contoso.com", "/owa/", r.ca) for _ in range(6)]
        assert [x.status for x in replies] == [200] * 6  # proxy_next_upstream: the client never sees the error
        assert {x.json["server"] for x in replies} == {"EX02"}
        lab["EX01"].start()
    finally:
        lab["EX01"].start()
        r.lb.stop()


def test_why_the_nginx_ntlm_rule_exists(lab, pki_files, tmp_path_factory):  # noqa: F811
    """Forced past the rule (--allow nginx-ntlm), NGINX open source really breaks NTLM: its upstream keepalive
    pool does not keep a client's server connection, so the third leg lands on another connection."""
    r = start_lb(lab, pki_files, tmp_path_factory, "nginx", "bridge", basic_auth=False, allow=("nginx-ntlm",))
    try:
        assert "NTLM handshakes WILL fail" in r.lb.files["nginx/lbsync.conf"].content
        thirds = [client.ntlm_handshake(r.port, "mail.contoso.com", "/EWS/Exchange.asmx", r.ca)[2].status
                  for _ in range(10)]
        assert thirds.count(401) >= 5, thirds
    finally:
        r.lb.stop()


def test_reencryption_really_verifies_the_server_certificate(lab, pki_files, tmp_path_factory, foreign_ca):  # noqa: F811
    r = start_lb(lab, pki_files, tmp_path_factory, "nginx", "offload", server_ca=foreign_ca)
    try:
        assert client.get(r.port, "mail.contoso.com", "/EWS/mrsproxy.svc", r.ca).status == 502
        assert client.get(r.port, "mail.contoso.com", "/EWS/Exchange.asmx", r.ca).status == 200
        assert "upstream SSL certificate verify error" in r.lb.log_text()
    finally:
        r.lb.stop()


def test_tls12_clients_resume_their_session(running):
    """Mozilla's session cache in every TLS server block: a second TLS 1.2 connection resumes the first one's
    session (no full handshake), on the namespace's block (SNI) as on the catch-all one."""
    import socket
    import ssl

    if running.scenario == "passthrough":
        return  # the TLS there is the server's, not NGINX's (covered by the offload/bridge parameters)
    ctx = ssl.create_default_context(cafile=str(running.ca))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    host = running.plan.namespaces[0].host
    session = None
    for attempt in range(2):
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host, session=session) as tls:
                if attempt == 1:
                    assert tls.session_reused
                session = tls.session
    text = running.lb.files["nginx/lbsync.conf"].content
    blocks = text.count("    ssl_certificate ")  # one per TLS server block
    assert blocks >= 2 and text.count("ssl_session_cache shared:lbsync_tls:10m;") == blocks
