"""/owa/Integrated through the real load balancers, from ONE model with Basic on every virtual directory: its
Windows authentication (an IIS setting of every Exchange server, facts.iis) is connection-bound, so it works
through HAProxy (its own route, `http-reuse never`) and breaks through NGINX open source (finding nginx-ntlm
names it); forms-based /owa keeps upstream keep-alive either way."""

from __future__ import annotations

import re

import pytest

from lab import client
from lab.fixtures import lab, start_lb  # noqa: F401 - fixtures
from lbsync.targets import nginx

pytestmark = pytest.mark.lab

PATH = "/owa/Integrated/lab.aspx"


@pytest.mark.parametrize("scenario", ["offload", "bridge"])
def test_an_ntlm_client_gets_in_through_haproxy_and_not_through_nginx(lab, pki_files, tmp_path_factory,  # noqa: F811
                                                                      scenario):
    results = {}
    for target in ("haproxy", "nginx"):
        # the same model for both: Basic everywhere (the lab's NGINX models); nginx-ntlm allowed for NGINX only
        r = start_lb(lab, pki_files, tmp_path_factory, target, scenario, basic_auth=True)
        try:
            routes = {s.service: s for s in r.plan.services}
            assert not routes["owa-integrated"].share_server_connections and routes["owa"].share_server_connections
            results[target] = [client.ntlm_handshake(r.port, "mail.contoso.com", PATH, r.ca) for _ in range(10)]
            # forms-based /owa answers either way
            assert client.get(r.port, "mail.contoso.com", "/owa/", r.ca).status == 200
            if target == "nginx":
                conf = r.lb.files["nginx/lbsync.conf"].content
                block = {k: conf.split(f"upstream {nginx.upstream_name(routes[k])} {{")[1].split("}")[0]
                         for k in ("owa", "owa-integrated")}
                assert "keepalive 128;" in block["owa"] and not re.search(r"^\s*keepalive ", block["owa-integrated"], re.M)
        finally:
            r.lb.stop()
    haproxy = [third.status for _, _, third in results["haproxy"]]
    via_nginx = [third.status for _, _, third in results["nginx"]]
    assert haproxy == [200] * 10, haproxy
    assert all(first.status == 401 for first, _, _ in results["nginx"])
    assert via_nginx.count(401) >= 5, via_nginx   # the third leg lands on another server connection
    # the handshake reached the servers through the /owa/Integrated route in both
    assert all(second.status == 401 for _, second, _ in results["haproxy"] + results["nginx"])


def test_api_routes_and_a_stopped_application_pool_takes_the_server_out(lab, pki_files,  # noqa: F811
                                                                         tmp_path_factory):
    """/API (2016+): bridged, checked with GET /API/ answering below 500; a server whose /API answers 503 (its
    application pool stopped) leaves the /API pool, and only that pool."""
    r = start_lb(lab, pki_files, tmp_path_factory, "haproxy", "bridge", version=2016, extra_services=("api",))
    try:
        api = next(s for s in r.plan.services if s.service == "api")
        assert api.health.path == "/API/" and api.health.expect == "200-499" and api.mode == "bridge"
        assert "http-check expect status 200-499" in r.lb.files["haproxy/haproxy.cfg"].content
        replies = [client.get(r.port, "mail.contoso.com", "/API/v2.0/me", r.ca) for _ in range(6)]
        assert {x.status for x in replies} == {200}
        assert {x.json["server"] for x in replies} == {"EX01", "EX02"}
        assert {x.json["scheme"] for x in replies} == {"https"} and {x.json["sni"] for x in replies} == {
            "mail.contoso.com"}
        lab["EX01"].fail("api")
        wait_for(lambda: {client.get(r.port, "mail.contoso.com", "/API/v2.0/me", r.ca).json.get("server")
                          for _ in range(4)} == {"EX02"})
        # the other protocols keep both servers
        owa = {client.get(r.port, "mail.contoso.com", "/owa/", r.ca).json["server"] for _ in range(6)}
        assert owa == {"EX01", "EX02"}
    finally:
        lab["EX01"].heal("api")
        r.lb.stop()


def wait_for(condition, seconds: float = 10.0) -> None:
    import time
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if condition():
                return
        except (AttributeError, ValueError):   # a 503 has no JSON body
            pass
        time.sleep(0.2)
    raise AssertionError("the condition did not hold within the time")
