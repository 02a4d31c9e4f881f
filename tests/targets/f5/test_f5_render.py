"""`lbsync render --target f5-tmsh|f5-as3`: the same objects as the push, laid out as tmsh and as AS3."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
from f5emu.testing import run
from support.paths import TESTS as HERE  # noqa: E402

from lbsync.model import load_model
from lbsync.plan import build_plan
from lbsync.targets import RenderOptions
from lbsync.targets.f5.as3 import declaration, desired_for_as3
from lbsync.targets.f5.tmsh import render as render_tmsh
from lbsync.targets.f5.tmsh import tmsh_value
from lbsync.targets.f5.want import build

SCHEMA = HERE / "f5emu" / "as3-schema-3.56.0.json"
GOLDEN = HERE / "fixtures" / "f5" / "lbsync.tmsh"
PROFILES = HERE.parent / "profiles"


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def golden_model(tmp_path) -> Path:
    """No certificate: and no tls.server_ca: nothing random, so the layout can be compared byte for byte."""
    p = tmp_path / "golden.yaml"
    p.write_text("""version: 1
exchange: {version: 2013, cu: 23, mrsproxy: true}
servers:
  - {name: EX01, address: 192.0.2.11}
  - {name: EX02, address: 192.0.2.12}
namespaces:
  - {host: mail.contoso.com, vip: 203.0.113.10, services: [owa, ecp, ews, eas, oab, mapi, rpc]}
  - {host: autodiscover.contoso.com, vip: 203.0.113.10, services: [autodiscover]}
tls: {default: offload}
targets:
  f5: {host: bigip.example.net, partition: Exchange}
""")
    return p


# -- a small reader of the bigip.conf syntax, to prove the file says what the objects say ------------------------

LIST_KEYS = {"options", "rules"}  # tmsh lists of words: `options { a b }` (the grammar needs to know which)
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\{)|(\})|([^\s{}"]+)')


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"r": "\r", "n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def parse_block(tokens: list, i: int):
    """Parse `{ ... }` starting after the opening brace: key value | key { ... } | name { ... } | { a b }."""
    out: dict = {}
    items: list = []
    while tokens[i] != "}":
        key = tokens[i]
        if key in LIST_KEYS and tokens[i + 1] == "{":
            end = tokens.index("}", i + 2)
            out[key] = tokens[i + 2:end]
            i = end + 1
            continue
        if tokens[i + 1] == "{":
            inner, i = parse_block(tokens, i + 2)
            out[key] = inner
        elif tokens[i + 1] == "}":
            items.append(key)
            i += 1
            continue
        else:
            out[key] = tokens[i + 1]
            i += 2
            continue
    return (out if out else items), i + 1


def parse_tmsh(text: str) -> dict[str, dict]:
    """{'ltm pool /P/name': attributes} for every non-rule object (rules: their Tcl text)."""
    objects: dict[str, dict] = {}
    body = text
    # iRules first: their body is Tcl, brace-balanced, kept verbatim (comments included)
    while (m := re.search(r"^ltm rule (\S+) \{\n", body, re.M)):
        depth, j = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(body[j], 0)
            j += 1
        objects[f"ltm rule {m.group(1)}"] = {"tcl": body[m.end():j - 1].rstrip("\n")}
        body = body[:m.start()] + body[j:]
    body = "\n".join(line for line in body.splitlines() if not line.startswith("#"))
    tokens = []
    for m in _TOKEN.finditer(body):
        quoted, opening, closing, bare = m.groups()
        tokens.append(_unquote(quoted) if quoted is not None else (opening or closing or bare))
    i = 0
    while i < len(tokens):
        j = tokens.index("{", i)
        head = " ".join(tokens[i:j])
        attrs, i = parse_block(tokens, j + 1)
        objects[head] = attrs
    return objects


def kebab(key: str) -> str:
    return {"tmName": "name", "tmDefault": "default"}.get(key) or re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", key).lower()


def as_tmsh(value):
    """What an iControl REST attribute value looks like once parsed back from the tmsh file."""
    if isinstance(value, dict):
        return {kebab(k): as_tmsh(v) for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return {item["name"]: {kebab(k): as_tmsh(v) for k, v in item.items() if k != "name"} for item in value}
    if isinstance(value, list):
        return [str(v) for v in value]
    return str(value)


# -- tmsh --------------------------------------------------------------------------------------------------------

def coexistence_model(tmp_path, pki_files) -> Path:
    """Exchange 2016 plus a 2010 group on the same VIP: persistence, TLS 1.0 toward the 2010 servers."""
    from types import SimpleNamespace

    from f5emu.testing import coexistence_text
    p = tmp_path / "coexistence.yaml"
    p.write_text(coexistence_text(SimpleNamespace(port=443, ca_file=None), pki_files, ca_bundle=None))
    return p


@pytest.mark.parametrize("which", ["golden", "coexistence"])
def test_tmsh_says_exactly_what_the_objects_say(tmp_path, pki_files, which):
    path = golden_model(tmp_path) if which == "golden" else coexistence_model(tmp_path, pki_files)
    plan = build_plan(load_model(str(path)))
    text = render_tmsh(plan, RenderOptions())["f5/lbsync.tmsh"].content
    parsed = parse_tmsh(text)
    from lbsync.targets.f5.material import load_material
    desired = build(plan, load_material(plan))
    if which == "coexistence":
        assert {"ltm/persistence/cookie", "ltm/persistence/source-addr"} <= {o.kind for o in desired.objects}
    for o in desired.objects:
        head = f"{o.kind.replace('/', ' ')} {o.path}"
        assert head in parsed, head
        if o.kind == "ltm/rule":
            assert parsed[head]["tcl"] == o.attrs["apiAnonymous"].rstrip()
        else:
            assert parsed[head] == {kebab(k): as_tmsh(v) for k, v in o.attrs.items() if v != []}, head
    for f in desired.files:
        assert parsed[f"{f.kind.replace('/', ' ')} {f.path}"] == {"source-path": f"file:/var/tmp/{f.source}"}
    assert len(parsed) == len(desired.objects) + len(desired.files)


def test_tmsh_layout_matches_the_golden_file(tmp_path):
    plan = build_plan(load_model(str(golden_model(tmp_path))))
    text = render_tmsh(plan, RenderOptions())["f5/lbsync.tmsh"].content
    assert text == GOLDEN.read_text()


def test_tmsh_facts(tmp_path):
    plan = build_plan(load_model(str(golden_model(tmp_path))))
    text = render_tmsh(plan, RenderOptions())["f5/lbsync.tmsh"].content
    assert "tmsh load sys config merge file" in text
    assert ('send "GET /owa/healthcheck.htm HTTP/1.1\\r\\nHost: mail.contoso.com\\r\\nConnection: Close\\r\\n\\r\\n"'
            in text)
    assert 'recv "200 OK"' in text
    assert "source-address-translation {\n        type automap\n    }" in text
    assert "insert-xforwarded-for enabled" in text
    assert "        192.0.2.11:80 {\n            address 192.0.2.11\n        }" in text
    assert "        192.0.2.11:443 {" in text  # the MRSProxy pool is bridged
    assert "rules { /Common/_sys_https_redirect }" in text
    assert "idle-timeout 3900" in text and "source-mask 255.255.255.255" in text


def test_tmsh_value_quoting():
    assert tmsh_value("/Common/x") == "/Common/x"
    assert tmsh_value("200 OK") == '"200 OK"'
    assert tmsh_value('a"b\\c\r\n') == '"a\\"b\\\\c\\r\\n"'
    assert tmsh_value(5) == "5"


# -- AS3 ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["exchange2013-offload", "exchange2016-bridge",
                                     "exchange2019-extended-protection", "coexistence-2013-2010",
                                     "coexistence-2013-2007"])
def test_as3_is_valid_against_f5s_schema(profile, validator, pki):
    from lbsync.targets.f5.files import Material
    plan = build_plan(load_model(str(PROFILES / f"{profile}.yaml")))
    mat = Material(cert=pki.leaf.cert_pem(), key=pki.leaf.key_pem(), chain=pki.intermediate.cert_pem())
    decl = declaration(plan, mat)
    errors = list(validator.iter_errors(decl))
    assert errors == [], [e.message[:200] for e in errors[:3]]


def test_schema_check_can_fail(validator, tmp_path):
    plan = build_plan(load_model(str(golden_model(tmp_path))))
    decl = declaration(plan)
    app = decl["declaration"]["Exchange"]["lbsync"]
    for mutate in (lambda a: a["lbsync_owa_mail.contoso.com"].__setitem__("loadBalancingMode", "bogus"),
                   lambda a: a["lbsync_203.0.113.10_443"].__setitem__("virtualPort", 70000),
                   lambda a: a["lbsync_clientssl"].__setitem__("class", "TLS_Bogus")):
        bad = copy.deepcopy(decl)
        mutate(bad["declaration"]["Exchange"]["lbsync"])
        assert list(validator.iter_errors(bad)), "a broken declaration passed the schema"
    assert app["class"] == "Application"


def test_as3_means_the_same_as_tmsh(tmp_path, pki):
    from lbsync.targets.f5.files import Material
    plan = build_plan(load_model(str(golden_model(tmp_path))))
    mat = Material(cert=pki.leaf.cert_pem(), key=pki.leaf.key_pem(), chain=pki.intermediate.cert_pem())
    decl = declaration(plan, mat)
    text = json.dumps(decl)
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text  # files are pointed at, not carried
    app = decl["declaration"]["Exchange"]["lbsync"]
    imperative = build(plan, mat)
    names = {o.name for o in imperative.objects}
    assert names <= set(app)
    owa = app["lbsync_owa_mail.contoso.com"]
    assert owa["members"] == [{"servicePort": 80, "serverAddresses": ["192.0.2.11", "192.0.2.12"],
                               "shareNodes": True}]
    assert owa["monitors"] == [{"use": "lbsync_owa_mail.contoso.com_mon"}]
    mrs = app["lbsync_mrsproxy_mail.contoso.com"]
    assert mrs["members"][0]["servicePort"] == 443
    mon = app["lbsync_owa_mail.contoso.com_mon"]
    assert mon["monitorType"] == "http" and mon["receive"] == "200 OK" and "Connection: Close" in mon["send"]
    tls_client = app["lbsync_mail.contoso.com_serverssl"]
    assert tls_client["class"] == "TLS_Client" and tls_client["validateCertificate"] is True
    assert tls_client["serverName"] == "mail.contoso.com" and tls_client["trustCA"] == "generic"
    vs = app["lbsync_203.0.113.10_443"]
    assert vs["class"] == "Service_HTTPS" and vs["virtualAddresses"] == ["203.0.113.10"]
    assert vs["snat"] == "auto" and vs["redirect80"] is False and vs["serverTLS"] == "lbsync_clientssl"
    assert vs["clientTLS"] == "lbsync_mail.contoso.com_serverssl"
    assert vs["profileNTLM"] == {"bigip": "/Common/ntlm"} and vs["profileMultiplex"] == {"use": "lbsync_oneconnect"}
    assert app["lbsync_http"]["xForwardedFor"] is True
    assert app["lbsync_203.0.113.10_443_tcp"]["idleTimeout"] == 3900
    redirect = app["lbsync_203.0.113.10_80_redirect"]
    assert redirect["class"] == "Service_HTTP" and redirect["iRules"] == [{"bigip": "/Common/_sys_https_redirect"}]
    rule = app["lbsync_203.0.113.10_443_route"]["iRule"]
    assert "pool /Exchange/lbsync/lbsync_mrsproxy_mail.contoso.com" in rule  # AS3 paths inside the iRule
    cert = app["lbsync_clientssl_cert"]
    files = {f.source: f.path for f in desired_for_as3(plan, mat).files}
    assert cert["certificate"] == {"bigip": files["lbsync.crt"]} and files["lbsync.crt"].startswith("/Common/")


def test_as3_carries_persistence_server_tls_and_header_size(tmp_path, pki_files, validator):
    from lbsync.targets.f5.material import load_material
    plan = build_plan(load_model(str(coexistence_model(tmp_path, pki_files))))
    decl = declaration(plan, load_material(plan))
    assert list(validator.iter_errors(decl)) == []
    app = decl["declaration"]["Exchange"]["lbsync"]
    vs = app["lbsync_203.0.113.10_443"]
    assert vs["persistenceMethods"] == [{"use": "lbsync_203.0.113.10_443_cookie"}]
    assert vs["fallbackPersistenceMethod"] == {"use": "lbsync_203.0.113.10_443_source_addr"}
    assert app["lbsync_203.0.113.10_443_cookie"] == {"class": "Persist", "persistenceMethod": "cookie",
                                                     "cookieMethod": "insert", "cookieName": "lbsync_server",
                                                     "ttl": 0}
    assert app["lbsync_203.0.113.10_443_source_addr"] == {"class": "Persist", "persistenceMethod": "source-address",
                                                          "duration": 3900}
    legacy, mail = app["lbsync_legacy.contoso.com_serverssl"], app["lbsync_mail.contoso.com_serverssl"]
    assert (legacy["tls1_0Enabled"], legacy["tls1_1Enabled"], legacy["tls1_2Enabled"]) == (True, True, True)
    assert (mail["tls1_0Enabled"], mail["tls1_1Enabled"], mail["tls1_2Enabled"]) == (False, False, True)
    assert legacy["tls1_3Enabled"] is False and mail["tls1_3Enabled"] is False
    assert app["lbsync_http"]["maxHeaderSize"] == plan.lb_header_bytes == 15360
    assert app["lbsync_owa_legacy.contoso.com"]["loadBalancingMode"] == "round-robin"
    assert app["lbsync_eas_legacy.contoso.com"]["loadBalancingMode"] == "least-connections-member"
    plain = declaration(build_plan(load_model(str(golden_model(tmp_path)))))["declaration"]["Exchange"]["lbsync"]
    assert plain["lbsync_203.0.113.10_443"]["persistenceMethods"] == []  # 2013+: none
    assert not [k for k, v in plain.items() if isinstance(v, dict) and v.get("class") == "Persist"]


def test_as3_for_partition_common_uses_the_shared_application(tmp_path):
    p = golden_model(tmp_path)
    p.write_text(p.read_text().replace("partition: Exchange", "partition: Common"))
    decl = declaration(build_plan(load_model(str(p))))
    assert decl["declaration"]["Common"]["Shared"]["template"] == "shared"


# -- the CLI -----------------------------------------------------------------------------------------------------

def test_render_writes_both_f5_files(tmp_path, validator):
    model = golden_model(tmp_path)
    out = tmp_path / "out"
    code, stdout, err = run(["render", str(model), "--target", "f5-tmsh", "-o", str(out)])
    assert code == 0, err
    assert (out / "f5" / "lbsync.tmsh").read_text() == GOLDEN.read_text()
    assert "tmsh load sys config merge file" in (out / "README.txt").read_text()
    code, stdout, err = run(["render", str(model), "--target", "f5-as3", "-o", str(out)])
    assert code == 0, err
    assert list(validator.iter_errors(json.loads((out / "f5" / "as3.json").read_text()))) == []


def test_render_refuses_passthrough_on_a_shared_listener(tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run(["render", str(PROFILES / "outlook-anywhere-passthrough.yaml"), "--target", "f5-tmsh",
                             "-o", str(out)])
    assert code == 2 and "VIP or port of its own" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    assert re.match(r".*outlook-anywhere-passthrough.yaml:\d+:\d+: error: \[f5-passthrough-shared\] F5: passthrough "
                    r"namespace outlook.contoso.com shares 203.0.113.10:443", err)
    code, stdout, err = run(["render", str(PROFILES / "outlook-anywhere-passthrough.yaml"), "--target", "haproxy",
                             "-o", str(out)])
    assert code == 0, err  # only the F5 target is concerned


def test_passthrough_with_its_own_listener_renders_for_f5(tmp_path, validator):
    text = (PROFILES / "outlook-anywhere-passthrough.yaml").read_text()
    text = re.sub(r"(  - host: outlook\.contoso\.com\b.*\n(?:    #.*\n)*)    vip: 203\.0\.113\.10",
                  r"\1    vip: 203.0.113.11", text)
    assert "203.0.113.11" in text
    model = tmp_path / "pt.yaml"
    model.write_text(text)
    out = tmp_path / "out"
    code, stdout, err = run(["render", str(model), "--target", "f5-tmsh", "-o", str(out)])
    assert code == 0, err
    parsed = parse_tmsh((out / "f5" / "lbsync.tmsh").read_text())
    vs = parsed["ltm virtual /Common/lbsync_203.0.113.11_443"]
    assert vs["pool"] == "/Common/lbsync_tcp_outlook.contoso.com" and "rules" not in vs
    code, stdout, err = run(["render", str(model), "--target", "f5-as3", "-o", str(out)])
    assert code == 0, err
    decl = json.loads((out / "f5" / "as3.json").read_text())
    assert list(validator.iter_errors(decl)) == []
    assert decl["declaration"]["Common"]["Shared"]["lbsync_203.0.113.11_443"]["class"] == "Service_TCP"


def test_tmsh_quoting_round_trips():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=200, deadline=None)
    @given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
    def check(text):
        quoted = tmsh_value(text)
        tokens = [m.group(1) if m.group(1) is not None else m.group(4) for m in _TOKEN.finditer(quoted)]
        if text == "" or not text.strip():
            assert quoted.startswith('"')
        assert len(tokens) == 1 and (_unquote(tokens[0]) if quoted.startswith('"') else tokens[0]) == text
    check()
