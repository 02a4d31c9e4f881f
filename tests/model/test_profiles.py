"""The bundled profiles: each is a valid, sensible starting model for the situation its name promises."""

from __future__ import annotations

import ipaddress

import pytest
from support.paths import ROOT  # noqa: E402

from lbsync.errors import LbsyncError
from lbsync.model import load_model
from lbsync.model.profiles import list_profiles, profile_text
from lbsync.plan import build_plan

PROFILES = {p.stem: p for p in sorted((ROOT / "profiles").glob("*.yaml"))}
DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
SITE = "Default Web Site"


def plan(name):
    return build_plan(load_model(PROFILES[name]))


def codes(p, level):
    return {f.code for f in p.relevant() if f.level == level}


def test_the_promised_profiles_exist():
    assert {"exchange2013-offload", "exchange2016-bridge", "exchange2019-extended-protection",
            "outlook-anywhere-passthrough", "coexistence-2013-2007", "coexistence-2013-2010"} <= set(PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_profile_validates_without_errors(name):
    p = plan(name)
    assert p.blocking() == [], [f.message for f in p.blocking()]
    assert p.model.targets.haproxy.given or p.model.targets.nginx.given or p.model.targets.f5.given


@pytest.mark.parametrize("name", PROFILES)
def test_profile_uses_example_names_and_documentation_addresses(name):
    m = load_model(PROFILES[name])
    addresses = [s.address for s in m.servers] + [n.vip for n in m.namespaces if n.vip]
    for a in addresses:
        assert any(ipaddress.ip_address(a) in net for net in DOC_NETS), a
    for ns in m.namespaces:
        assert ns.host.endswith(".contoso.com")


@pytest.mark.parametrize("name", PROFILES)
def test_profile_holds_no_secret(name):
    text = PROFILES[name].read_text()
    assert "password:" not in text and "passphrase" not in text
    m = load_model(PROFILES[name])
    if m.certificate and m.certificate.pfx:
        assert m.certificate.password_env


def test_list_profiles_summaries_are_the_first_comment():
    listed = dict(list_profiles())
    assert set(listed) == set(PROFILES)
    for name, summary in listed.items():
        first = PROFILES[name].read_text().splitlines()[0]
        assert first.startswith("# ") and summary == first[2:].strip()


def test_profile_text_is_the_file():
    assert profile_text("exchange2016-bridge") == PROFILES["exchange2016-bridge"].read_text()
    with pytest.raises(LbsyncError, match="no profile 'nope'"):
        profile_text("nope")


def test_exchange2013_offload_follows_microsofts_doc():
    p = plan("exchange2013-offload")
    ex = p.exchange
    assert ex.version == 2013 and not ex.extended_protection
    assert ex.outlook_anywhere.ssl_offloading is True
    assert ex.oab_require_ssl is False
    assert ex.locations[f"{SITE}/Microsoft-Server-ActiveSync"] == "None"
    assert ex.locations[f"{SITE}/owa/Integrated"] == "None"
    assert ex.mrsproxy_enabled
    modes = {s.service: s.mode for s in p.services}
    assert modes.pop("mrsproxy") == "bridge"
    assert set(modes.values()) == {"offload"}


def test_exchange2016_bridge_bridges_everything():
    p = plan("exchange2016-bridge")
    assert p.exchange.version == 2016
    assert {s.mode for s in p.services} == {"bridge"}
    assert {s.scheme for s in p.services} == {"https"}
    assert p.exchange.outlook_anywhere.ssl_offloading is False
    assert "offload-unsupported" not in {f.code for f in p.findings}


def test_exchange2019_extended_protection_same_certificate():
    p = plan("exchange2019-extended-protection")
    m = p.model
    assert m.exchange.version == 2019 and m.exchange.cu >= 14 and m.exchange.extended_protection
    assert {s.mode for s in p.services} == {"bridge"}
    assert m.certificate is not None and m.certificate.pfx is not None
    assert "ep-same-certificate" in codes(p, "warning")


def test_outlook_anywhere_passthrough():
    p = plan("outlook-anywhere-passthrough")
    (oa,) = [n for n in p.namespaces if n.passthrough]
    assert [s.service for s in oa.services] == ["rpc"]
    assert oa.services[0].scheme == "tcp"
    l7 = [n for n in p.namespaces if not n.passthrough]
    assert l7 and all(n.vip == oa.vip and n.port == oa.port for n in l7)  # one VIP, routed by SNI
    assert "passthrough-l4" in codes(p, "info")
    assert "passthrough-mixed" not in {f.code for f in p.findings}
    assert p.exchange.outlook_anywhere.ssl_offloading is False
    assert p.exchange.outlook_anywhere.external_hostname == oa.host
