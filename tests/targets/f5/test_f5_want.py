"""The F5 objects derived from the Plan (lbsync.f5.desired): each decision asserted on its own."""

from __future__ import annotations

import re

import pytest

from lbsync.errors import LbsyncError
from lbsync.model import load_model
from lbsync.plan import build_plan
from lbsync.targets.f5.files import Material, fingerprint
from lbsync.targets.f5.want import BUILTIN, KIND_ORDER, PREFIX, build, order


def plan_of(tmp_path, text: str):
    p = tmp_path / "lbsync.yaml"
    p.write_text(text)
    return build_plan(load_model(str(p)))


BASE = """version: 1
exchange: {{version: {version}, cu: 23, mrsproxy: {mrsproxy}}}
servers:
  - {{name: EX01, address: 192.0.2.11}}
  - {{name: EX02, address: {second}}}
namespaces:
{namespaces}
tls: {{default: {default}{tls}}}
targets:
  f5: {{host: bigip.example.net, partition: {partition}}}
"""
NS = ("  - {host: mail.contoso.com, vip: 203.0.113.10, services: [owa, ecp, ews, eas, oab, mapi, rpc]}\n"
      "  - {host: autodiscover.contoso.com, vip: 203.0.113.10, services: [autodiscover]}")


def model(tmp_path, *, version=2013, default="offload", mrsproxy="true", second="192.0.2.12", namespaces=NS,
          tls="", partition="Exchange"):
    return plan_of(tmp_path, BASE.format(version=version, default=default, mrsproxy=mrsproxy, second=second,
                                         namespaces=namespaces, tls=tls, partition=partition))


def objs(desired, kind):
    return {o.name: o for o in desired.objects if o.kind == kind}


def test_every_object_is_prefixed_and_in_the_partition(tmp_path):
    d = build(model(tmp_path))
    assert d.objects and all(o.name.startswith(PREFIX) and o.partition == "Exchange" for o in d.objects)
    assert all(f.name.startswith(PREFIX) for f in d.files)


def test_one_pool_per_service_plan_pool_with_members_on_the_mode_port(tmp_path):
    plan = model(tmp_path)  # 2013 offload, MRSProxy on: its pool is bridged whatever EWS is
    d = build(plan)
    pools = objs(d, "ltm/pool")
    assert set(pools) == {PREFIX + s.pool for s in plan.services}
    for svc in plan.services:
        members = pools[PREFIX + svc.pool].attrs["members"]
        port = 443 if svc.service == "mrsproxy" else 80
        assert members == [{"name": f"192.0.2.11:{port}", "address": "192.0.2.11"},
                           {"name": f"192.0.2.12:{port}", "address": "192.0.2.12"}]
    # ServicePlan.balance: short requests round-robin, long-lived (streaming) connections by least connections
    assert pools[PREFIX + "owa_mail.contoso.com"].attrs["loadBalancingMode"] == "round-robin"
    assert pools[PREFIX + "eas_mail.contoso.com"].attrs["loadBalancingMode"] == "least-connections-member"
    for svc in plan.services:
        assert pools[PREFIX + svc.pool].attrs["loadBalancingMode"] == \
            {"leastconn": "least-connections-member", "roundrobin": "round-robin"}[svc.balance]


def test_bridged_pools_use_443(tmp_path):
    d = build(model(tmp_path, version=2016, default="bridge"))
    assert all(m["name"].endswith(":443") for p in objs(d, "ltm/pool").values() for m in p.attrs["members"])


def test_fqdn_and_ipv6_members(tmp_path):
    d = build(model(tmp_path, second="ex02.contoso.com"))
    m = objs(d, "ltm/pool")[PREFIX + "owa_mail.contoso.com"].attrs["members"][1]
    assert m == {"name": "ex02.contoso.com:80", "fqdn": {"tmName": "ex02.contoso.com", "autopopulate": "disabled"}}
    d6 = build(model(tmp_path, second="2001:db8::12"))
    m6 = objs(d6, "ltm/pool")[PREFIX + "owa_mail.contoso.com"].attrs["members"][1]
    assert m6 == {"name": "2001:db8::12.80", "address": "2001:db8::12"}


def test_monitors_per_service_send_host_and_connection_close(tmp_path):
    plan = model(tmp_path)
    d = build(plan)
    http, https = objs(d, "ltm/monitor/http"), objs(d, "ltm/monitor/https")
    owa = http[PREFIX + "owa_mail.contoso.com_mon"].attrs
    assert owa["send"] == "GET /owa/healthcheck.htm HTTP/1.1\r\nHost: mail.contoso.com\r\nConnection: Close\r\n\r\n"
    assert owa["recv"] == "200 OK" and owa["defaultsFrom"] == "/Common/http"
    assert owa["interval"] == 5 and owa["timeout"] == 16  # interval x fall + 1
    mrs = https[PREFIX + "mrsproxy_mail.contoso.com_mon"].attrs
    assert mrs["send"].startswith("GET /EWS/healthcheck.htm HTTP/1.1\r\nHost: mail.contoso.com\r\n")
    assert mrs["sslProfile"] == f"/Exchange/{PREFIX}mail.contoso.com_serverssl"
    auto = http[PREFIX + "autodiscover_autodiscover.contoso.com_mon"].attrs
    assert "Host: autodiscover.contoso.com\r\n" in auto["send"]
    pools = objs(d, "ltm/pool")
    assert all(p.attrs["monitor"] == f"/Exchange/{p.name}_mon" for p in pools.values())


def test_server_ssl_verifies_with_the_model_ca_or_the_device_bundle(tmp_path, pki_files):
    d = build(model(tmp_path, version=2016, default="bridge", tls=f", server_ca: {pki_files['ca']}"),
              Material(server_ca=pki_files["ca"].read_bytes()))
    ssl = objs(d, "ltm/profile/server-ssl")
    mail = ssl[PREFIX + "mail.contoso.com_serverssl"].attrs
    assert mail["serverName"] == "mail.contoso.com" and mail["authenticateName"] == "mail.contoso.com"
    assert mail["peerCertMode"] == "require"
    ca = next(f for f in d.files if f.source == "lbsync-server-ca.crt")
    assert mail["caFile"] == ca.path and ca.fingerprint == fingerprint(pki_files["ca"].read_bytes())
    assert ssl[PREFIX + "autodiscover.contoso.com_serverssl"].attrs["serverName"] == "autodiscover.contoso.com"
    system = build(model(tmp_path, version=2016, default="bridge"))
    assert objs(system, "ltm/profile/server-ssl")[PREFIX + "mail.contoso.com_serverssl"].attrs["caFile"] == \
        BUILTIN["ca-bundle"]
    off = build(model(tmp_path, version=2016, default="bridge", tls=", verify_server: false"))
    attrs = objs(off, "ltm/profile/server-ssl")[PREFIX + "mail.contoso.com_serverssl"].attrs
    assert attrs["peerCertMode"] == "ignore" and "caFile" not in attrs


def test_client_ssl_carries_the_shared_certificate_key_and_chain(tmp_path, pki):
    mat = Material(cert=pki.leaf.cert_pem(), key=pki.leaf.key_pem(), chain=pki.intermediate.cert_pem())
    d = build(model(tmp_path), mat)
    ckc = objs(d, "ltm/profile/client-ssl")[PREFIX + "clientssl"].attrs["certKeyChain"][0]
    files = {f.source: f for f in d.files}
    assert ckc == {"name": "default", "cert": files["lbsync.crt"].path, "key": files["lbsync.key"].path,
                   "chain": files["lbsync-chain.crt"].path}
    assert files["lbsync.crt"].fingerprint == fingerprint(pki.leaf.cert_pem())
    assert files["lbsync.key"].content == pki.leaf.key_pem()


def test_a_new_certificate_is_a_new_object_name(tmp_path, pki):
    from pki import make_pki
    other = make_pki()
    a = build(model(tmp_path), Material(cert=pki.leaf.cert_pem(), key=pki.leaf.key_pem()))
    b = build(model(tmp_path), Material(cert=other.leaf.cert_pem(), key=other.leaf.key_pem()))
    assert {f.name for f in a.files}.isdisjoint({f.name for f in b.files})


def test_tls_profile_options(tmp_path):
    inter = objs(build(model(tmp_path)), "ltm/profile/client-ssl")[PREFIX + "clientssl"].attrs
    assert {"no-tlsv1", "no-tlsv1.1", "no-ssl"} <= set(inter["options"])
    assert "no-tlsv1.2" not in inter["options"] and "no-tlsv1.3" not in inter["options"]
    assert "ECDHE-RSA-AES128-GCM-SHA256" in inter["ciphers"] and "TLS13-AES128-GCM-SHA256" in inter["ciphers"]
    compat = objs(build(model(tmp_path, tls=", profile: compat")), "ltm/profile/client-ssl")[PREFIX + "clientssl"]
    assert "no-tlsv1" not in compat.attrs["options"] and "@SECLEVEL" not in compat.attrs["ciphers"]
    modern = objs(build(model(tmp_path, tls=", profile: modern")), "ltm/profile/client-ssl")[PREFIX + "clientssl"]
    assert "no-tlsv1.2" in modern.attrs["options"] and "ECDHE" not in modern.attrs["ciphers"]


def test_one_virtual_per_vip_port_with_http_xff_snat_and_a_port_80_redirect(tmp_path):
    d = build(model(tmp_path))
    vs = objs(d, "ltm/virtual")
    assert set(vs) == {PREFIX + "203.0.113.10_443", PREFIX + "203.0.113.10_80_redirect"}
    main = vs[PREFIX + "203.0.113.10_443"].attrs
    assert main["destination"] == "/Exchange/203.0.113.10:443" and main["mask"] == "255.255.255.255"
    assert main["sourceAddressTranslation"] == {"type": "automap"} and main["ipProtocol"] == "tcp"
    prof = {p["name"]: p["context"] for p in main["profiles"]}
    assert prof[f"/Exchange/{PREFIX}http"] == "all" and prof[f"/Exchange/{PREFIX}clientssl"] == "clientside"
    assert prof[f"/Exchange/{PREFIX}mail.contoso.com_serverssl"] == "serverside"
    assert objs(d, "ltm/profile/http")[PREFIX + "http"].attrs["insertXforwardedFor"] == "enabled"
    redirect = vs[PREFIX + "203.0.113.10_80_redirect"].attrs
    assert redirect["destination"] == "/Exchange/203.0.113.10:80" and redirect["rules"] == [BUILTIN["redirect-rule"]]


def test_idle_timeouts_longest_on_the_virtual_and_per_route_in_the_irule(tmp_path):
    plan = model(tmp_path)
    d = build(plan)
    tcp = objs(d, "ltm/profile/tcp")[PREFIX + "203.0.113.10_443_tcp"].attrs
    eas = next(s for s in plan.services if s.service == "eas")
    assert tcp["idleTimeout"] == max(s.timeout_s for s in plan.services) == eas.timeout_s > 59 * 60
    rule = objs(d, "ltm/rule")[PREFIX + "203.0.113.10_443_route"].attrs["apiAnonymous"]
    block = rule.split('starts_with "/microsoft-server-activesync/"')[1].split("elseif")[0]
    assert f"IP::idle_timeout {eas.timeout_s}" in block


def test_oneconnect_and_ntlm_profiles_when_ntlm_is_carried(tmp_path):
    d = build(model(tmp_path))
    oc = objs(d, "ltm/profile/one-connect")[PREFIX + "oneconnect"].attrs
    assert oc["sourceMask"] == "255.255.255.255"
    prof = {p["name"] for p in objs(d, "ltm/virtual")[PREFIX + "203.0.113.10_443"].attrs["profiles"]}
    assert BUILTIN["ltm/profile/ntlm"] in prof and f"/Exchange/{PREFIX}oneconnect" in prof
    basic = build(model(tmp_path, mrsproxy="false", namespaces="  - {host: mail.contoso.com, services: [ecp, eas]}"))
    assert not objs(basic, "ltm/profile/one-connect")
    names = {p["name"] for v in objs(basic, "ltm/virtual").values() for p in v.attrs["profiles"]}
    assert BUILTIN["ltm/profile/ntlm"] not in names
    # owa brings /owa/Integrated (Windows authentication only): NTLM is carried, so OneConnect keeps it per client
    owa = build(model(tmp_path, mrsproxy="false", namespaces="  - {host: mail.contoso.com, services: [owa, eas]}"))
    assert objs(owa, "ltm/profile/one-connect")


def test_irule_routes_mrsproxy_first_and_switches_server_side_tls_per_pool(tmp_path):
    d = build(model(tmp_path))  # 2013 offload + MRSProxy bridged on the same virtual
    rule = objs(d, "ltm/rule")[PREFIX + "203.0.113.10_443_route"].attrs["apiAnonymous"]
    assert rule.index('"/ews/mrsproxy.svc"') < rule.index('"/ews"')
    mrs = rule.split('"/ews/mrsproxy.svc"')[1].split("elseif")[0]
    assert f"pool /Exchange/{PREFIX}mrsproxy_mail.contoso.com" in mrs and "SSL::enable serverside" in mrs
    assert f"set lbsync_ssl /Exchange/{PREFIX}mail.contoso.com_serverssl" in mrs
    ews = rule.split('starts_with "/ews/" }')[1].split("elseif")[0]
    assert f"pool /Exchange/{PREFIX}ews_mail.contoso.com" in ews and "SSL::disable serverside" in ews
    assert "SSL::profile $lbsync_ssl" in rule.split("when SERVER_CONNECTED")[1]
    assert '"autodiscover.contoso.com"' in rule and 'HTTP::redirect "https://[HTTP::host]/owa/"' in rule
    assert "X-Forwarded-Proto https" in rule


def _route_conditions(rule: str) -> list[str]:
    return re.findall(r"(?m)^\s*(?:\} elseif|if) \{ (\$lbsync_path .*) \} \{$", rule)


def _matches(condition: str, path: str) -> bool:
    """The generated condition, evaluated: only `eq "P"` and `starts_with "P"` joined by `or` are expected."""
    path = path.lower()  # the iRule compares [string tolower [HTTP::path]]
    terms = condition.split(" or ")
    for term in terms:
        m = re.fullmatch(r'\$lbsync_path (eq|starts_with) "([^"]*)"', term)
        assert m, f"unexpected iRule condition {condition!r}"
        if (path == m[2]) if m[1] == "eq" else path.startswith(m[2]):
            return True
    return False


def test_irule_matches_path_prefixes_on_a_segment_boundary(tmp_path):
    plan = model(tmp_path)
    rule = objs(build(plan), "ltm/rule")[PREFIX + "203.0.113.10_443_route"].attrs["apiAnonymous"]
    conditions = _route_conditions(rule)
    prefixes = [p for ns in plan.namespaces for s in ns.routes for p in s.paths]
    redirects = [ns for ns in plan.namespaces if ns.root_redirect]
    assert redirects and len(conditions) == len(prefixes) + len(redirects)  # a route per prefix, "/" per redirect
    for p in prefixes:  # exactly: the prefix itself, or the prefix and a /
        assert f'$lbsync_path eq "{p}" or $lbsync_path starts_with "{p}/"' in conditions
    assert '$lbsync_path eq "/"' in conditions
    routes = [c for c in conditions if c != '$lbsync_path eq "/"']
    for path in ("/rpcwithcert", "/mapix", "/owa2", "/ecpx/", "/ewsx", "/oab2", "/autodiscoverx",
                 "/microsoft-server-activesyncx"):
        assert not any(_matches(c, path) for c in routes), path
    for path in ("/owa", "/OWA/", "/owa/auth/logon.aspx", "/rpc/rpcproxy.dll", "/mapi", "/EWS/Exchange.asmx",
                 "/ews/mrsproxy.svc", "/Microsoft-Server-ActiveSync"):
        assert any(_matches(c, path) for c in routes), path


def test_all_offloaded_virtual_has_no_server_ssl_commands(tmp_path):
    d = build(model(tmp_path, mrsproxy="false"))
    rule = objs(d, "ltm/rule")[PREFIX + "203.0.113.10_443_route"].attrs["apiAnonymous"]
    assert "SSL::" not in rule and "SERVER_CONNECTED" not in rule
    assert not objs(d, "ltm/profile/server-ssl")


def test_passthrough_namespace_gets_its_own_l4_virtual(tmp_path):
    ns = NS + "\n  - {host: outlook.contoso.com, vip: 203.0.113.11, services: [rpc]}"
    ns = ns.replace(", rpc]", "]")
    plan = model(tmp_path, version=2016, default="bridge", namespaces=ns,
                 tls=", services: {rpc: passthrough}")
    d = build(plan)
    vs = objs(d, "ltm/virtual")[PREFIX + "203.0.113.11_443"].attrs
    assert vs["pool"] == f"/Exchange/{PREFIX}tcp_outlook.contoso.com" and vs["rules"] == []
    assert [p["name"] for p in vs["profiles"]] == [f"/Exchange/{PREFIX}203.0.113.11_443_tcp"]
    pool = objs(d, "ltm/pool")[PREFIX + "tcp_outlook.contoso.com"].attrs
    assert all(m["name"].endswith(":443") for m in pool["members"])
    assert PREFIX + "tcp_outlook.contoso.com_mon" in objs(d, "ltm/monitor/https")


def test_passthrough_sharing_a_listener_is_refused_for_f5(tmp_path):
    ns = NS.replace(", rpc]", "]") + "\n  - {host: outlook.contoso.com, vip: 203.0.113.10, services: [rpc]}"
    plan = model(tmp_path, version=2016, default="bridge", namespaces=ns, tls=", services: {rpc: passthrough}")
    # decided once, by the rule: an error for F5 only, at the passthrough namespace's entry (namespaces[2])
    blocking = plan.blocking({"f5"})
    assert [f.code for f in blocking] == ["f5-passthrough-shared"] and blocking[0].where == ("namespaces", 2)
    assert "outlook.contoso.com" in blocking[0].message and "VIP or port of its own" in blocking[0].message
    assert "f5-passthrough-shared" not in {f.code for f in plan.blocking({"haproxy", "nginx"})}
    with pytest.raises(LbsyncError, match="f5-passthrough-shared"):   # and the F5 objects are never built
        build(plan)


def test_objects_come_in_dependency_order(tmp_path):
    d = build(model(tmp_path))
    seen: set[str] = set(BUILTIN.values()) | {f.path for f in d.files}
    for o in d.objects:
        assert all(r in seen for r in o.refs), (o.path, [r for r in o.refs if r not in seen])
        seen.add(o.path)
    shuffled = list(reversed(d.objects))
    assert [o.key for o in order(shuffled)] == [o.key for o in order(d.objects)]
    assert all(o.kind in KIND_ORDER for o in d.objects)


# -- the Plan's per-pool decisions: balance, persistence, server TLS minimum; the plan's header size -----------------

def coexistence(tmp_path, pki_files, **kwargs):
    """Exchange 2016 (bridge) plus a 2010 group (bridge) whose namespace legacy.contoso.com shares the VIP."""
    from types import SimpleNamespace

    from f5emu.testing import coexistence_text
    return plan_of(tmp_path, coexistence_text(SimpleNamespace(port=443, ca_file=None), pki_files, ca_bundle=None,
                                              **kwargs))


def host_block(rule: str, host: str) -> str:
    return rule.split(f'"{host}" {{')[1].split('\n        "')[0]


def route_block(block: str, service: str) -> str:
    return block.split(f"# {service}\n")[1].split("}")[0]


def test_server_ssl_refuses_the_tls_versions_below_the_plans_minimum(tmp_path, pki_files):
    plan = coexistence(tmp_path, pki_files)
    ssl = objs(build(plan), "ltm/profile/server-ssl")
    mins = {ns.host: {s.server_tls_min for s in ns.services} for ns in plan.namespaces}
    assert mins["mail.contoso.com"] == {"TLSv1.2"} and mins["legacy.contoso.com"] == {"TLSv1.0"}
    assert ssl[PREFIX + "mail.contoso.com_serverssl"].attrs["options"] == [
        "dont-insert-empty-fragments", "no-ssl", "no-tlsv1", "no-tlsv1.1", "no-tlsv1.3"]
    assert ssl[PREFIX + "legacy.contoso.com_serverssl"].attrs["options"] == [
        "dont-insert-empty-fragments", "no-ssl", "no-tlsv1.3"]  # Exchange 2010 on Windows 2008 R2: TLS 1.0
    from lbsync.targets.f5.want import server_tls_options
    assert server_tls_options("TLSv1.1") == ["dont-insert-empty-fragments", "no-ssl", "no-tlsv1", "no-tlsv1.3"]


def test_persistence_only_for_the_legacy_routes(tmp_path, pki_files):
    plan = coexistence(tmp_path, pki_files)
    d = build(plan)
    vs = objs(d, "ltm/virtual")[PREFIX + "203.0.113.10_443"].attrs
    cookie, source = f"/Exchange/{PREFIX}203.0.113.10_443_cookie", f"/Exchange/{PREFIX}203.0.113.10_443_source_addr"
    assert vs["persist"] == [{"name": cookie, "tmDefault": "yes"}] and vs["fallbackPersistence"] == source
    assert objs(d, "ltm/persistence/cookie")[PREFIX + "203.0.113.10_443_cookie"].attrs == {
        "defaultsFrom": "/Common/cookie", "method": "insert", "cookieName": "lbsync_server", "expiration": "0"}
    legacy = {s.service: s for s in plan.services if s.namespace == "legacy.contoso.com"}
    assert {k: s.persistence for k, s in legacy.items()} == {
        "owa": "cookie", "ecp": "cookie", "eas": "source-ip", "ews": "source-ip"}
    assert objs(d, "ltm/persistence/source-addr")[PREFIX + "203.0.113.10_443_source_addr"].attrs == {
        "defaultsFrom": "/Common/source_addr", "timeout": max(legacy["eas"].persistence_timeout_s,
                                                              legacy["ews"].persistence_timeout_s)}
    rule = objs(d, "ltm/rule")[PREFIX + "203.0.113.10_443_route"].attrs["apiAnonymous"]
    block = host_block(rule, "legacy.contoso.com")
    for svc in ("owa", "ecp"):
        assert "persist cookie insert lbsync_server 0\n" in route_block(block, svc)
    for svc in ("eas", "ews"):
        assert f"persist source_addr {legacy[svc].persistence_timeout_s}\n" in route_block(block, svc)
    for host in ("mail.contoso.com", "autodiscover.contoso.com"):  # 2013+: no affinity, stated per route
        routes = host_block(rule, host).count("pool /Exchange/")
        assert routes and host_block(rule, host).count("persist none\n") == routes
    assert rule.count("persist ") == sum(len(s.paths) for ns in plan.namespaces for s in ns.routes)


@pytest.mark.parametrize("services, kinds", [("[owa, ecp]", {"ltm/persistence/cookie"}),
                                             ("[eas]", {"ltm/persistence/source-addr"})])
def test_one_kind_of_persistence_is_the_virtuals_default_without_fallback(tmp_path, pki_files, services, kinds):
    d = build(coexistence(tmp_path, pki_files, legacy_services=services))
    have = {o.kind for o in d.objects if o.kind.startswith("ltm/persistence/")}
    assert have == kinds
    vs = objs(d, "ltm/virtual")[PREFIX + "203.0.113.10_443"].attrs
    (profile,) = [o for o in d.objects if o.kind in kinds]
    assert vs["persist"] == [{"name": profile.path, "tmDefault": "yes"}] and vs["fallbackPersistence"] == "none"


def test_no_persistence_for_exchange_2013_and_later(tmp_path):
    d = build(model(tmp_path))
    assert not [o for o in d.objects if o.kind.startswith("ltm/persistence/")]
    main = objs(d, "ltm/virtual")[PREFIX + "203.0.113.10_443"].attrs  # said, so that a lost persistence is removed
    assert main["persist"] == [] and main["fallbackPersistence"] == "none"
    assert "persist" not in objs(d, "ltm/rule")[PREFIX + "203.0.113.10_443_route"].attrs["apiAnonymous"]


def test_http_profile_accepts_the_plans_largest_header(tmp_path):
    """max-header-size counts the request line and every header: the plan's client limit (what the servers take,
    less the room for X-Forwarded-For)."""
    plan = model(tmp_path)
    assert plan.lb_header_bytes == 15360   # HTTP.sys's default 16384 less 1024
    assert objs(build(plan), "ltm/profile/http")[PREFIX + "http"].attrs["enforcement"] == {"maxHeaderSize": 15360}
    plan.max_header_bytes = 98304
    assert objs(build(plan), "ltm/profile/http")[PREFIX + "http"].attrs["enforcement"]["maxHeaderSize"] == 97280


def test_legacy_pools_balance_as_the_plan_says(tmp_path, pki_files):
    plan = coexistence(tmp_path, pki_files)
    pools = objs(build(plan), "ltm/pool")
    modes = {s.pool: pools[PREFIX + s.pool].attrs["loadBalancingMode"] for s in plan.services}
    assert modes["owa_legacy.contoso.com"] == "round-robin"
    assert modes["eas_legacy.contoso.com"] == "least-connections-member"


def test_a_legacy_passthrough_virtual_persists_by_source_address(tmp_path, pki_files):
    """No cookie without terminating TLS: the plan turns a passed-through 2010 pool's persistence into source-ip,
    and its L4 virtual carries the source-address profile itself (no iRule)."""
    from types import SimpleNamespace

    from f5emu.testing import coexistence_text
    text = coexistence_text(SimpleNamespace(port=443, ca_file=None), pki_files, ca_bundle=None,
                            legacy_mode="passthrough", legacy_services="[owa, ecp, eas]")
    plan = plan_of(tmp_path, text.replace("legacy.contoso.com, vip: 203.0.113.10", "legacy.contoso.com, vip: "
                                          "203.0.113.11"))
    d = build(plan)
    vs = objs(d, "ltm/virtual")[PREFIX + "203.0.113.11_443"].attrs
    source = objs(d, "ltm/persistence/source-addr")[PREFIX + "203.0.113.11_443_source_addr"]
    assert vs["persist"] == [{"name": source.path, "tmDefault": "yes"}] and vs["rules"] == []
    legacy = [s for s in plan.services if s.namespace == "legacy.contoso.com"]
    assert {s.persistence for s in legacy} == {"source-ip"}
    assert source.attrs["timeout"] == max(s.persistence_timeout_s for s in legacy)
    assert not objs(d, "ltm/persistence/cookie")
    from lbsync.targets.f5.as3 import declaration
    app = declaration(plan)["declaration"]["Exchange"]["lbsync"]
    assert app["lbsync_203.0.113.11_443"]["class"] == "Service_TCP"
    assert app["lbsync_203.0.113.11_443"]["persistenceMethods"] == [{"use": "lbsync_203.0.113.11_443_source_addr"}]
