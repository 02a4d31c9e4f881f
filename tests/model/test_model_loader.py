"""Model loading: what the YAML loader and the validator accept, what they fill in, and what they refuse."""

from __future__ import annotations

import codecs
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbsync.errors import LbsyncError
from lbsync.model import load_model, load_model_text
from lbsync.model.schemacheck import is_hostname, parse_duration_ms

MINIMAL = textwrap.dedent("""\
    version: 1
    exchange:
      version: 2016
    servers:
      - name: EX01
        address: 192.0.2.11
    namespaces:
      - host: mail.contoso.com
        services: [owa, ecp]
    """)


def refuse(text: str, fragment: str, line: int | None = None, key: str | None = None) -> LbsyncError:
    with pytest.raises(LbsyncError) as info:
        load_model_text(text, "m.yaml")
    message = str(info.value)
    assert fragment in message, message
    assert len(message.splitlines()) == 1, message
    if line is not None:
        assert message.startswith(f"m.yaml:{line}:"), message
    if key is not None:
        assert message.endswith(f", at {key}"), message
    return info.value


def test_minimal_model_defaults():
    m = load_model_text(MINIMAL, "/srv/lbsync/lbsync.yaml")
    assert m.exchange.version == 2016 and m.exchange.cu is None
    assert m.exchange.extended_protection is False and m.exchange.mrsproxy is False
    assert m.exchange.outlook_anywhere.external_auth == "Negotiate"
    assert m.exchange.outlook_anywhere.internal_auth == "Ntlm"
    assert m.servers[0].http_port == 80 and m.servers[0].https_port == 443
    assert m.namespaces[0].port == 443 and m.namespaces[0].vip is None
    assert m.tls.default == "bridge" and m.tls.profile == "intermediate" and m.tls.verify_server is True
    assert m.certificate is None
    assert (m.health.interval_ms, m.health.timeout_ms, m.health.fall, m.health.rise) == (5000, 3000, 3, 2)
    assert m.targets.haproxy.given is False and m.targets.nginx.given is False and m.targets.f5.given is False
    assert m.allow == ()
    assert m.services == ["owa", "ecp"]


@pytest.mark.parametrize("version,cu,expected", [(2019, 14, True), (2019, 21, True), (2019, 13, False),
                                                 (2019, None, False), (2016, 23, False), (2013, 23, False)])
def test_extended_protection_default(version, cu, expected):
    text = MINIMAL.replace("version: 2016", f"version: {version}" + (f"\n  cu: {cu}" if cu is not None else ""))
    m = load_model_text(text, "m.yaml")
    assert m.exchange.extended_protection is expected
    assert m.exchange.extended_protection_given is False


def test_extended_protection_explicit_wins():
    text = MINIMAL.replace("version: 2016", "version: 2019\n  cu: 14\n  extended_protection: false")
    m = load_model_text(text, "m.yaml")
    assert m.exchange.extended_protection is False and m.exchange.extended_protection_given is True


def test_host_is_lowercased_and_paths_resolve_next_to_the_model(tmp_path):
    text = MINIMAL.replace("mail.contoso.com", "Mail.Contoso.COM") + textwrap.dedent("""\
        tls:
          server_ca: certs/ca.pem
        certificate:
          pfx: /abs/mail.pfx
          password_env: PFX_PW
        """)
    path = tmp_path / "lbsync.yaml"
    path.write_text(text)
    m = load_model(path)
    assert m.namespaces[0].host == "mail.contoso.com"
    assert m.tls.server_ca == tmp_path / "certs" / "ca.pem"
    assert m.certificate.pfx == Path("/abs/mail.pfx") and m.certificate.password_env == "PFX_PW"
    assert m.certificate.warn_days == 30


def test_health_overrides_inherit_the_global_settings():
    text = MINIMAL + "health:\n  interval: 2s\n  fall: 5\n  services:\n    owa: {interval: 500ms}\n"
    m = load_model_text(text, "m.yaml")
    assert m.health.interval_ms == 2000 and m.health.fall == 5
    owa = m.health_services["owa"]
    assert owa.interval_ms == 500 and owa.fall == 5 and owa.timeout_ms == 3000


@pytest.mark.parametrize("text,ms", [("5s", 5000), ("500ms", 500), ("2m", 120_000), ("1h", 3_600_000),
                                     (7, 7000), ("1.5s", 1500), (" 3 ", 3000)])
def test_durations(text, ms):
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["5 sec", "-1s", "s", "", True, -3, "1d"])
def test_bad_durations(bad):
    assert parse_duration_ms(bad) is None


@pytest.mark.parametrize("name,ok", [("mail.contoso.com", True), ("a-b.c", True), ("mail", False),
                                     ("-mail.contoso.com", False), ("mail.contoso.com.", False),
                                     ("1.2.3.4", False), ("x" * 64 + ".com", False), ("m_x.com", False)])
def test_hostnames(name, ok):
    assert is_hostname(name) is ok


def test_utf8_bom_and_crlf_are_read(tmp_path):
    path = tmp_path / "lbsync.yaml"
    path.write_bytes(codecs.BOM_UTF8 + MINIMAL.replace("\n", "\r\n").encode())
    assert load_model(path).servers[0].name == "EX01"


def test_utf16_with_bom_is_read(tmp_path):
    """Windows PowerShell 5.1's Out-File writes UTF-16LE with a BOM."""
    path = tmp_path / "lbsync.yaml"
    path.write_bytes(MINIMAL.replace("\n", "\r\n").encode("utf-16"))
    assert load_model(path).namespaces[0].host == "mail.contoso.com"


def test_errors_keep_the_line_after_a_bom(tmp_path):
    path = tmp_path / "lbsync.yaml"
    path.write_bytes(codecs.BOM_UTF8 + MINIMAL.replace("version: 2016", "version: 2010").encode())
    with pytest.raises(LbsyncError, match=r"lbsync.yaml:3:12: error: 2010 is not one of"):
        load_model(path)


def test_merge_keys_may_be_overridden():
    text = MINIMAL.replace("""  - name: EX01
    address: 192.0.2.11
""", """  - &srv {name: EX01, address: 192.0.2.11, https_port: 8443}
  - <<: *srv
    name: EX02
    address: 192.0.2.12
""")
    m = load_model_text(text, "m.yaml")
    assert [(s.name, s.address, s.https_port) for s in m.servers] == [("EX01", "192.0.2.11", 8443),
                                                                       ("EX02", "192.0.2.12", 8443)]


def test_explicit_duplicate_after_a_merge_is_still_an_error():
    text = MINIMAL.replace("""  - name: EX01
    address: 192.0.2.11
""", """  - &srv {name: EX01, address: 192.0.2.11}
  - <<: *srv
    name: EX02
    name: EX03
""")
    refuse(text, "duplicate key 'name' (first defined on line 7)", line=8, key="servers[1].name")


def test_schema_version_is_type_exact():
    """YAML's `true` equals 1 in Python: it must still not pass for schema version 1."""
    refuse(MINIMAL.replace("version: 1\n", "version: true\n", 1), "unsupported schema version True", 1, "version")
    refuse(MINIMAL.replace("version: 1\n", "version: 1.0\n", 1), "unsupported schema version 1.0", 1, "version")


def test_enum_is_type_exact():
    refuse(MINIMAL.replace("version: 2016", "version: 2016.0"), "2016.0 is not one of", 3, "exchange.version")


def test_enum_case_hint():
    refuse(MINIMAL + "tls: {default: Bridge}\n", "(did you mean 'bridge'?)", 10, "tls.default")


def test_auth_rpc_is_refused():
    refuse(MINIMAL.replace("  version: 2016", "  version: 2016\n  auth:\n    rpc: [Ntlm]"),
           "unknown key 'rpc': Outlook Anywhere's authentication is set with exchange.outlook_anywhere", 5,
           "exchange.auth.rpc")


def test_forms_only_on_owa_and_ecp():
    refuse(MINIMAL.replace("  version: 2016", "  version: 2016\n  auth:\n    ews: [Ntlm, Forms]"),
           "'Forms' is not one of: Basic, Ntlm, Negotiate (Forms authentication exists only on owa and ecp)", 5,
           "exchange.auth.ews[1]")


def test_same_http_and_https_port_refused():
    refuse(MINIMAL.replace("    address: 192.0.2.11", "    address: 192.0.2.11\n    http_port: 443"),
           "http_port and https_port are both 443", 7, "servers[0].http_port")


def test_ipv6_vip_conflict_with_server_in_other_spelling():
    text = MINIMAL.replace("192.0.2.11", "2001:DB8::11").replace(
        "  - host: mail.contoso.com", "  - host: mail.contoso.com\n    vip: 2001:db8:0:0::11")
    refuse(text, "VIP conflict: 2001:db8:0:0::11 is the address of servers[0]", 9, "namespaces[0].vip")


def test_same_address_with_same_ports_refused():
    text = MINIMAL.replace("""  - name: EX01
    address: 192.0.2.11
""", """  - name: EX01
    address: ex01.contoso.local
  - name: EX02
    address: EX01.contoso.local
""")
    refuse(text, "servers[0] already uses address 'EX01.contoso.local'", 8, "servers[1].address")


def test_two_namespaces_on_the_same_vip_are_fine():
    text = MINIMAL.replace("    services: [owa, ecp]", """    vip: 203.0.113.10
    services: [owa, ecp]
  - host: autodiscover.contoso.com
    vip: 203.0.113.10
    services: [autodiscover]""")
    assert len(load_model_text(text, "m.yaml").namespaces) == 2


def test_chain_with_pfx_refused():
    text = MINIMAL + "certificate:\n  pfx: a.pfx\n  chain: c.pem\n"
    refuse(text, "chain is read from the PFX", 12, "certificate.chain")


def test_secret_in_password_env_is_never_echoed():
    err = refuse(MINIMAL + "targets:\n  f5:\n    password_env: 'Tr0ub4dor&3'\n",
                 "must be the NAME of an environment variable", 12, "targets.f5.password_env")
    assert "Tr0ub4dor" not in str(err)
    err = refuse(MINIMAL + "targets:\n  f5:\n    password_env: 31415926\n", "expected a string, got integer")
    assert "31415926" not in str(err)


def test_unknown_key_without_close_match_lists_the_choices():
    refuse(MINIMAL + "zzz: 1\n", "unknown key 'zzz'; expected one of: version, exchange, servers, namespaces",
           10, "zzz")


def test_deep_nesting_is_refused():
    text = MINIMAL + "allow: " + "[" * 80 + "]" * 80 + "\n"
    refuse(text, "nests too deeply")


def test_control_characters_are_refused_with_their_line():
    refuse(MINIMAL.replace("EX01", "EX\x0701"), "control character (U+0007)", 5)


def test_python_tags_are_refused():
    refuse(MINIMAL + "allow: !!python/object:os.system x\n", "cannot read value", 10, "allow")


def test_errors_are_sorted_by_line_and_each_on_its_own_line():
    text = MINIMAL.replace("version: 2016", "version: 2010").replace("[owa, ecp]", "[owa, ecp, nope]") + "x: 1\n"
    with pytest.raises(LbsyncError) as info:
        load_model_text(text, "m.yaml")
    lines = str(info.value).splitlines()
    assert [int(line.split(":")[1]) for line in lines] == [3, 9, 10]


# Any mutation of a valid model is either accepted or refused with LbsyncError lines — never another exception.
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(MINIMAL) - 1), st.text(max_size=6))
def test_mutations_never_crash(position, insert):
    text = MINIMAL[:position] + insert + MINIMAL[position + 1:]
    try:
        load_model_text(text, "m.yaml")
    except LbsyncError as exc:
        for line in str(exc).splitlines():
            assert line.startswith("m.yaml") and ": error: " in line, line


@settings(max_examples=100, deadline=None, database=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(
                        st.sampled_from(["version", "exchange", "servers", "namespaces", "tls", "host", "name",
                                         "address", "services", "x"]), c, max_size=4), max_leaves=12))
def test_random_documents_never_crash(data):
    try:
        load_model_text(yaml.safe_dump(data), "m.yaml")
    except LbsyncError as exc:
        assert all(": error: " in line for line in str(exc).splitlines())


def test_a_value_with_line_breaks_stays_on_one_line():
    text = MINIMAL.replace("  - host: mail.contoso.com", "  - host: |\n      a.contoso.com\n      b.contoso.com")
    refuse(text, r"'a.contoso.com\nb.contoso.com\n' is not a valid DNS host name", 8, "namespaces[0].host")


# --- YAML 1.2 core types, as the editor (yaml-language-server) reads them --------------------------------------

def test_yes_is_not_a_boolean():
    refuse(MINIMAL.replace("  version: 2016", "  version: 2016\n  mrsproxy: yes"),
           "expected a boolean, got string 'yes' (write true or false)", 4, "exchange.mrsproxy")


def test_a_server_named_no_is_a_name():
    m = load_model_text(MINIMAL.replace("name: EX01", "name: NO"), "m.yaml")
    assert m.servers[0].name == "NO"


def test_sexagesimal_and_leading_zero_numbers_are_not_yaml11():
    refuse(MINIMAL + "health:\n  fall: 1:30\n", "expected an integer, got string '1:30'", 11, "health.fall")
    m = load_model_text(MINIMAL.replace("    services: [owa, ecp]", "    port: 0443\n    services: [owa, ecp]"),
                        "m.yaml")
    assert m.namespaces[0].port == 443  # decimal, not YAML 1.1 octal (291)


def test_hex_and_octal_integers():
    m = load_model_text(MINIMAL + "health:\n  fall: 0x5\n  rise: 0o3\n", "m.yaml")
    assert (m.health.fall, m.health.rise) == (5, 3)


def test_dates_stay_strings():
    refuse(MINIMAL.replace("  version: 2016", "  version: 2016\n  cu: 2019-01-01"),
           "expected an integer, got string '2019-01-01'", 4, "exchange.cu")


def test_odd_characters_in_keys_and_values_stay_on_one_line():
    err = refuse(MINIMAL + '"bad\\fkey": 1\n', r"unknown key 'bad\x0ckey'", 10, r"bad\x0ckey")
    assert "\x0c" not in str(err)
    refuse(MINIMAL.replace("version: 1\n", 'version: "\\u2028"\n', 1), r"unsupported schema version '\u2028'", 1)
