"""The bad-model corpus (tests/bad_models/*.yaml): every file must be refused with one line per problem,
`FILE:LINE:COL: error: <what>, at <key path>`, exit code 2, no traceback, nothing written — through the library
and through `lbsync validate` / `lbsync render` run as subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from support.cli import run_cli  # noqa: E402
from support.paths import TESTS  # noqa: E402

from lbsync.errors import LbsyncError
from lbsync.model import load_model

CORPUS = TESTS / "bad_models"

# file -> one (line, message fragment, key path or None) per expected output line, in output order.
EXPECTED: dict[str, list[tuple[int, str, str | None]]] = {
    # YAML syntax
    "yaml_bad_indent.yaml": [(4, "YAML syntax error: the indentation does not match", None)],
    "yaml_unclosed_flow.yaml": [(9, "a flow sequence opened here is never closed", None)],
    "yaml_tab.yaml": [(3, "indent with spaces, not tabs", None)],
    "yaml_two_documents.yaml": [(4, "holds a second YAML document", None)],
    "yaml_complex_key.yaml": [(4, "a mapping key must be a plain scalar", "exchange")],
    "alias_bomb.yaml": [(11, "more than 20000 values", "allow")],
    # duplicate keys at any depth
    "dup_key_top.yaml": [(7, "duplicate key 'exchange' (first defined on line 2)", "exchange")],
    "dup_key_deep.yaml": [(9, "duplicate key 'address' (first defined on line 8)", "servers[1].address")],
    "dup_key_flow.yaml": [(11, "duplicate key 'cert_path'", "targets.haproxy.cert_path")],
    # unknown keys at any depth, with did-you-mean
    "unknown_key_top.yaml": [(7, "unknown key 'namespace' (did you mean 'namespaces'?)", "namespace")],
    "unknown_key_deep.yaml": [(5, "unknown key 'external_hostnme' (did you mean 'external_hostname'?)",
                               "exchange.outlook_anywhere.external_hostnme")],
    "unknown_key_server.yaml": [(6, "unknown key 'adress' (did you mean 'address'?)", "servers[0].adress")],
    "unknown_key_target.yaml": [(13, "unknown key 'password' (did you mean 'password_env'?)",
                                 "targets.f5.password")],
    "unknown_service_tls.yaml": [(13, "unknown key 'activesync' (did you mean 'eas'?)", "tls.services.activesync")],
    # wrong types
    "wrong_type_servers.yaml": [(5, "expected a list, got mapping", "servers")],
    "wrong_type_port.yaml": [(9, "expected an integer, got string '443'", "namespaces[0].port")],
    "wrong_type_bool.yaml": [(4, "expected a boolean, got string 'true'", "exchange.mrsproxy")],
    "null_value.yaml": [(4, "expected a list, got nothing (null)", "servers")],
    # bad enums
    "bad_enum_exchange_version.yaml": [(3, "2010 is not one of: 2013, 2016, 2019, SE", "exchange.version")],
    "bad_enum_tls_mode.yaml": [(11, "'offlaod' is not one of: offload, bridge, passthrough (did you mean 'offload'?)",
                                "tls.default")],
    "bad_enum_service.yaml": [(11, "'activesync' is not one of: owa, ecp, ews, eas, oab, mapi, rpc, autodiscover, api, "
                                   "smtp, imap, pop (did you mean 'eas'?)", "namespaces[0].services[1]")],
    "service_mrsproxy_key.yaml": [(9, "mrsproxy is not a service key: set exchange.mrsproxy: true",
                                   "namespaces[0].services[2]")],
    # numbers and ports
    "port_out_of_range.yaml": [(9, "70000 is above the maximum 65535", "namespaces[0].port")],
    "port_zero.yaml": [(7, "0 is below the minimum 1", "servers[0].https_port")],
    "namespace_port_80.yaml": [(9, "port 80 is the HTTP-to-HTTPS redirect listener", "namespaces[0].port")],
    "bad_cu.yaml": [(4, "-1 is below the minimum 0", "exchange.cu")],
    # http.max_header_bytes: an integer within HTTP.sys's range, never below its default
    "header_limit_below.yaml": [(12, "12000 is below the minimum 16384", "http.max_header_bytes")],
    "header_limit_above.yaml": [(12, "16777217 is above the maximum 16777216", "http.max_header_bytes")],
    "header_limit_string.yaml": [(12, "expected an integer, got string '64k'", "http.max_header_bytes")],
    "header_limit_float.yaml": [(12, "expected an integer, got number 65536.0", "http.max_header_bytes")],
    "header_limit_bool.yaml": [(12, "expected an integer, got boolean True", "http.max_header_bytes")],
    # addresses and names
    "invalid_vip.yaml": [(9, "'203.0.113.300' is not a valid IP address", "namespaces[0].vip")],
    "invalid_host.yaml": [(8, "'mail_contoso.com' is not a valid DNS host name", "namespaces[0].host")],
    "invalid_host_single_label.yaml": [(8, "'mail' is not a valid DNS host name", "namespaces[0].host")],
    "invalid_server_address.yaml": [(6, "neither an IP address nor a valid host name", "servers[0].address")],
    "invalid_server_name.yaml": [(5, "a server name (letters, digits, hyphens)", "servers[0].name")],
    # duplicates and empty lists
    "dup_namespace.yaml": [(10, "duplicate namespace host 'Mail.Contoso.com' (also namespaces[0])",
                            "namespaces[1].host")],
    "dup_server.yaml": [(7, "duplicate server name 'ex01' (also servers[0])", "servers[1].name")],
    "dup_service_in_namespace.yaml": [(9, "'owa' is listed twice", "namespaces[0].services[2]")],
    "empty_servers.yaml": [(4, "must not be empty", "servers")],
    "empty_services.yaml": [(9, "must not be empty", "namespaces[0].services")],
    # document shape and schema version
    "empty_file.yaml": [(1, "the model is empty", None)],
    "comments_only.yaml": [(1, "the model is empty", None)],
    "non_mapping_list.yaml": [(1, "the model must be a mapping of keys", "(document)")],
    "non_mapping_scalar.yaml": [(1, "not a string", "(document)")],
    "version_2.yaml": [(2, "unsupported schema version 2 (this lbsync reads version 1)", "version")],
    "version_missing.yaml": [(1, "missing required key 'version'", "(document)")],
    "exchange_version_missing.yaml": [(2, "missing required key 'version'", "exchange")],
    # cross-field rules
    "vip_is_server.yaml": [(9, "VIP conflict: 192.0.2.11 is the address of servers[0]", "namespaces[0].vip")],
    "vip_conflict_wildcard.yaml": [(11, "VIP conflict on port 443: namespaces[0] listens on all addresses",
                                    "namespaces[1].vip")],
    "cert_pfx_and_cert.yaml": [(13, "give either pfx or cert+key, not both", "certificate.cert")],
    "cert_missing_key.yaml": [(10, "missing 'key': give pfx, or cert and key", "certificate")],
    "bad_env_name.yaml": [(12, "must be the NAME of an environment variable", "certificate.password_env")],
    "allow_unknown.yaml": [(11, "unknown finding code 'ofload-unsupported' (did you mean 'offload-unsupported'?)",
                            "allow[0]")],
    "allow_unallowable.yaml": [(10, "'passthrough-mixed' cannot be allowed", "allow[0]")],
    "bad_duration.yaml": [(11, "'5 sec' is not a duration", "health.interval")],
    "zero_duration.yaml": [(13, "'0s' is not a positive duration", "health.services.owa.timeout")],
    "auth_rpc.yaml": [(6, "unknown key 'rpc': Outlook Anywhere's authentication is set with "
                          "exchange.outlook_anywhere", "exchange.auth.rpc")],
    "auth_forms_ews.yaml": [(5, "'Forms' is not one of: Basic, Ntlm, Negotiate (Forms authentication exists only "
                                "on owa and ecp)", "exchange.auth.ews[1]")],
    "bool_yes.yaml": [(4, "expected a boolean, got string 'yes' (write true or false)", "exchange.mrsproxy")],
    "http_port_is_https_port.yaml": [(7, "http_port and https_port are both 443", "servers[0].http_port")],
    # encoding
    "non_utf8.yaml": [(6, "the model is not UTF-8 text (byte 0xe9", None)],
    # several problems: one line each, in file order
    "two_errors.yaml": [(7, "99999 is above the maximum 65535", "servers[0].http_port"),
                        (10, "'eccp' is not one of", "namespaces[0].services[1]")],
    # coexistence: server groups (groups:, servers[].group, namespaces[].group)
    "group_unknown.yaml": [(5, "group 'legacy2007' has no server", "groups.legacy2007"),
                           (12, "unknown group 'legcy2007' (did you mean 'legacy2007'?)", "servers[1].group")],
    "group_service_not_on_version.yaml": [(18, "'mapi' does not exist on Exchange 2010 (group 'legacy2010')",
                                           "namespaces[1].services[1]")],
    "group_empty.yaml": [(5, "group 'legacy2010' has no server", "groups.legacy2010")],
    "group_bad_version.yaml": [(6, "2003 is not one of: 2007, 2010, 2013, 2016, 2019, SE",
                                "groups.legacy2003.version")],
    "group_main_reserved.yaml": [(5, "'main' is the implicit group of exchange.version (2013)", "groups.main")],
    "group_cu_on_legacy.yaml": [(7, "cu applies to Exchange 2013/2016/2019/SE groups, not to Exchange 2010",
                                 "groups.legacy2010.cu")],
    "group_main_unserved.yaml": [(14, "no namespace serves the main group (Exchange 2013)", "namespaces")],
    "group_bad_name.yaml": [(5, "'legacy 2007' is not a valid name", "groups")],
}

LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?: error: (?P<what>.+?)(?:, at (?P<key>\S+))?$")


def _check_lines(text: str, name: str, path: str) -> None:
    lines = text.strip("\n").splitlines()
    expected = EXPECTED[name]
    assert len(lines) == len(expected), f"{name}: {lines}"
    for got, (line, fragment, key) in zip(lines, expected):
        m = LINE.match(got)
        assert m, f"{name}: not FILE:LINE:COL: error: ...: {got!r}"
        assert m["file"] == path
        assert int(m["line"]) == line, got
        assert fragment in m["what"], got
        assert m["key"] == key, got
        assert "Traceback" not in got


def test_corpus_is_complete():
    files = {p.name for p in CORPUS.glob("*.yaml")}
    assert files == set(EXPECTED), files ^ set(EXPECTED)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_library_refuses(name):
    path = str(CORPUS / name)
    with pytest.raises(LbsyncError) as info:
        load_model(path)
    _check_lines(str(info.value), name, path)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Run `lbsync validate` and `lbsync render` on every bad model from an empty folder (in this process: the
    same command group and exit-code mapping; test_real_process_* below run the real process)."""
    work = tmp_path_factory.mktemp("cwd")
    results = {}
    for name in EXPECTED:
        path = str(CORPUS / name)
        results[(name, "validate")] = run_cli("validate", path, cwd=work, env={"LBSYNC_DEBUG": ""})
        results[(name, "render")] = run_cli("render", path, "-o", work / "out", "--target", "all", cwd=work,
                                            env={"LBSYNC_DEBUG": ""})
    return work, results


@pytest.mark.parametrize("name", ["yaml_unclosed_flow.yaml", "two_errors.yaml", "alias_bomb.yaml", "non_utf8.yaml"])
def test_real_process_refuses_with_the_same_lines_and_no_traceback(tmp_path, name):
    path = str(CORPUS / name)
    proc = subprocess.run([sys.executable, "-m", "lbsync", "render", path, "-o", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LBSYNC_DEBUG": ""})
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    _check_lines(proc.stderr, name, path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["validate", "render"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_refuses(cli_runs, name, command):
    _, results = cli_runs
    proc = results[(name, command)]
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    _check_lines(proc.stderr, name, str(CORPUS / name))


def test_cli_writes_nothing(cli_runs):
    work, _ = cli_runs
    assert list(work.iterdir()) == []


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    proc = subprocess.run([sys.executable, "-m", "lbsync", "validate", str(missing)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{missing}: error: model file not found (create one with 'lbsync init --profile " \
                                  "NAME')"
    with pytest.raises(LbsyncError, match="model file not found"):
        load_model(missing)


def test_default_model_name_missing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lbsync", "validate"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("lbsync.yaml: error: model file not found")


def test_unreadable_path_is_a_folder(tmp_path):
    folder = tmp_path / "model.yaml"
    folder.mkdir()
    with pytest.raises(LbsyncError, match="is a folder, expected a file"):
        load_model(folder)


def test_every_service_alias_names_a_service_and_is_suggested(tmp_path):
    """An administrator's name for a service (Outlook Anywhere, ActiveSync, MAPI/HTTP) gets its model key suggested,
    both as a list entry and as a tls.services key."""
    from lbsync.facts import catalog
    assert set(catalog.SERVICE_ALIASES.values()) <= set(catalog.SERVICES)
    for spelled, key in (("ActiveSync", "eas"), ("Outlook Anywhere", "rpc"), ("MAPI/HTTP", "mapi"),
                         ("Exchange-Web-Services", "ews"), ("EAC", "ecp")):
        model = tmp_path / "lbsync.yaml"
        model.write_text("version: 1\nexchange: {version: 2019}\nservers: [{name: EX01, address: 192.0.2.11}]\n"
                         f"namespaces:\n  - {{host: mail.contoso.com, services: [owa, '{spelled}']}}\n"
                         f"tls: {{default: bridge, services: {{'{spelled}': bridge}}}}\n")
        proc = run_cli("validate", model)   # in this process: the same command and exit-code mapping
        assert proc.returncode == 2
        assert proc.stderr.count(f"(did you mean '{key}'?)") == 2, proc.stderr
