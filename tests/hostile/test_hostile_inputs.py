"""Hostile input (a corpus apart from the bad-model corpus): models, file names, evidence and PFX files written to
change what a generated file means. Each is refused at load time with its line, or written so that the real
parsers (haproxy -c, nginx -t, tree-sitter-powershell) read the file exactly as intended."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from support import structure
from support.cli import run_cli
from support.paths import TESTS

from lbsync.errors import LbsyncError
from lbsync.model import load_model
from lbsync.plan import build_plan
from lbsync.targets import TARGETS, RenderOptions, render_targets

MODELS = TESTS / "hostile" / "models"
# file -> (line, what the one-line error says, the key it names)
EXPECTED = {
    "haproxy_cert_path_lua.yaml": (10, "is not a path lbsync writes into a load-balancer configuration",
                                   "targets.haproxy.cert_path"),
    "nginx_cert_path_return.yaml": (10, "is not a path lbsync writes into a load-balancer configuration",
                                    "targets.nginx.cert_path"),
    "nginx_key_path_location.yaml": (10, "is not a path lbsync writes into a load-balancer configuration",
                                     "targets.nginx.key_path"),
    "haproxy_server_ca_path_server.yaml": (10, "is not a path lbsync writes into a load-balancer configuration",
                                           "targets.haproxy.server_ca_path"),
    "host_block_scalar_newline.yaml": (6, "'mail.contoso.com\\n' is not a valid DNS host name", "namespaces[0].host"),
    "server_name_trailing_newline.yaml": (4, "'EX01\\n' is not valid: a server name", "servers[0].name"),
    "address_ipv6_zone_id.yaml": (4, "IPv6 zone ids are not supported", "servers[0].address"),
    "vip_ipv6_zone_id.yaml": (6, "IPv6 zone ids are not supported", "namespaces[0].vip"),
    "f5_host_zone_partition_newline.yaml": (9, "IPv6 zone ids are not supported", "targets.f5.host"),
    "env_name_newline.yaml": (9, "must be the NAME of an environment variable", "targets.f5.username_env"),
    "allow_code_newline.yaml": (8, "'ep-offload\\n' is not valid", "allow[0]"),
    "server_ca_control_character.yaml": (7, "the path holds a control character (U+001B)", "tls.server_ca"),
    "group_name_newline.yaml": (4, "'old\\n' is not a valid name", "groups"),
}


def test_every_hostile_model_is_in_the_table():
    assert sorted(p.name for p in MODELS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_models_are_refused_at_their_line(name, tmp_path):
    line, what, key = EXPECTED[name]
    path = MODELS / name
    with pytest.raises(LbsyncError) as info:
        load_model(path)
    first = str(info.value).splitlines()[0]
    assert first.startswith(f"{path}:{line}:") and what in first and first.endswith(f", at {key}"), first
    ran = run_cli("render", path, "--target", "all", "-o", tmp_path / "out")
    assert ran.returncode == 2 and not (tmp_path / "out").exists()
    assert all("\x1b" not in ln and len(ln) < 1000 for ln in ran.stderr.splitlines())   # one line, no raw escape


# ---- the model's file name is data -------------------------------------------------------------------------

BASE = {"version": 1, "exchange": {"version": 2013, "cu": 23, "mrsproxy": True,
                                   "outlook_anywhere": {"external_hostname": "mail.contoso.com"},
                                   "auth": {"ews": ["Basic"], "oab": ["Basic"], "mapi": ["Basic"],
                                            "autodiscover": ["Basic"]}},
        "servers": [{"name": "EX01", "address": "192.0.2.11"}, {"name": "EX02", "address": "192.0.2.12"}],
        "namespaces": [{"host": "mail.contoso.com", "vip": "203.0.113.10",
                        "services": ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc"]}],
        "tls": {"default": "offload", "services": {"rpc": "bridge"}},
        "allow": ["nginx-ntlm"]}   # /owa/Integrated (Windows authentication only) through NGINX open source
BASE["exchange"]["outlook_anywhere"].update(external_auth="Basic", internal_auth="Basic")

NASTY_NAMES = [
    "lbsync.yaml",                                   # the baseline
    "a\nglobal\n    lua-load evil.lua.yaml",           # a newline: new HAProxy section / PowerShell statement
    "x #> Remove-Item -Recurse C:\\ <# y.yaml",        # ends PowerShell's help comment early
    "it's ‘quoted’ ‚here‛.yaml",                       # every single quote PowerShell knows
    "$(Remove-Item C:\\).yaml",                        # PowerShell subexpression
    "a`\"b“c”.yaml",                                   # backtick and double quotes
    "x; return 200 PWNED; #{}.yaml",                   # NGINX / HAProxy separators
    "\x1b]0;owned\x07\x1b[2J.yaml",                    # terminal escape sequences
    "\u202eenil.yaml",                                 # right-to-left override
]


def _render_named(tmp_path: Path, name: str) -> dict:
    folder = tmp_path / f"m{abs(hash(name))}"
    folder.mkdir()
    path = folder / name
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    plan = build_plan(load_model(path))
    return {rel: out.content for rel, out in render_targets(plan, list(TARGETS), RenderOptions()).items()}


def _shapes(files: dict) -> dict:
    out = {}
    for rel, text in files.items():
        if rel.endswith(".ps1"):
            out[rel] = structure.powershell(text)
        elif rel.endswith("haproxy.cfg") or rel.endswith(".tmsh"):
            out[rel] = structure.haproxy(text)
        elif rel.startswith("nginx/"):
            out[rel] = structure.nginx_conf(text)
        elif rel.endswith(".json"):
            out[rel] = structure.as3(text)
        else:
            out[rel] = len(text.splitlines())
    return out


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict:
    return _shapes(_render_named(tmp_path_factory.mktemp("base"), "lbsync.yaml"))


@pytest.mark.parametrize("name", NASTY_NAMES[1:])
def test_a_nasty_model_file_name_changes_no_structure(tmp_path, baseline, name):
    files = _render_named(tmp_path, name)
    shapes = _shapes(files)
    assert shapes == baseline
    for rel, (parsed, _) in ((r, s) for r, s in shapes.items() if r.endswith(".ps1")):
        assert parsed, rel
    assert all("\x1b" not in text and "\u202e" not in text for text in files.values())


@pytest.mark.parametrize("name", NASTY_NAMES[1:3] + NASTY_NAMES[6:7])
def test_the_real_programs_read_a_nasty_name_as_a_comment(tmp_path, name):
    """haproxy -c and nginx -t accept the configuration: the name stayed inside its comment line."""
    folder = tmp_path / "m"
    folder.mkdir()
    path = folder / name
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    ran = run_cli("render", path, "--target", "haproxy", "--check", "-o", tmp_path / "h")
    assert ran.returncode == 0 and "haproxy -c: configuration valid" in ran.stderr, ran.stderr
    ran = run_cli("render", path, "--target", "nginx", "--check", "-o", tmp_path / "n")
    assert ran.returncode == 0 and "nginx -t: configuration valid" in ran.stderr, ran.stderr


# ---- evidence is data ----------------------------------------------------------------------------------------

def _audit_model(tmp_path: Path) -> Path:
    model = dict(BASE, exchange=dict(BASE["exchange"], outlook_anywhere=dict(
        BASE["exchange"]["outlook_anywhere"], external_hostname="mail.contoso.com")))
    path = tmp_path / "lbsync.yaml"
    path.write_text(yaml.safe_dump(model, sort_keys=False))
    return path


def test_evidence_with_line_breaks_and_escapes_stays_a_comment_in_the_fix_script(tmp_path):
    model = _audit_model(tmp_path)
    evil_host = "mail.contoso.com\r\nRemove-Item -Recurse C:\\ #>\x1b[2J"
    oa = tmp_path / "oa.json"
    oa.write_text(json.dumps({"ServerName": "EX01", "SSLOffloading": True, "ExternalClientsRequireSsl": True,
                              "InternalClientsRequireSsl": True, "ExternalHostname": evil_host}))
    ran = run_cli("audit", model, "--outlook-anywhere", f"EX01={oa}", "--fix-script", tmp_path / "fix.ps1",
                  env={"COLUMNS": "300"})
    assert ran.returncode == 1
    assert "\x1b" not in ran.stdout and "\x1b" not in ran.stderr       # the terminal never gets the raw escape
    script = (tmp_path / "fix-EX01.ps1").read_bytes()
    parsed, kinds = structure.powershell(script)
    assert parsed
    text = script.decode("utf-8-sig")
    assert not any(line.strip().startswith("Remove-Item") for line in text.splitlines())
    comment = next(line for line in text.splitlines() if "Outlook Anywhere: ExternalHostname" in line)
    assert comment.startswith("#") and "\\r\\nremove-item" in comment.lower() and "#>" not in comment.split("#", 1)[1]


# ---- PFX files that would pin the CPU ------------------------------------------------------------------------

def test_a_pfx_asking_for_too_many_iterations_never_reaches_openssl(tmp_path, pki, monkeypatch):
    from cryptography.hazmat.primitives.serialization import pkcs12

    from lbsync.certs import load as loadmod
    from lbsync.certs.load import PasswordSource, load_bundle
    path = tmp_path / "slow.pfx"
    path.write_bytes(pki.pfx(b"pw"))                     # 2048 iterations (OpenSSL's default) ...
    monkeypatch.setattr(loadmod, "MAX_ITERATIONS", 1000)  # ... above a lowered cap: the same refusal path

    def never(*args, **kwargs):
        raise AssertionError("OpenSSL was handed the file")
    monkeypatch.setattr(pkcs12, "load_key_and_certificates", never)
    with pytest.raises(LbsyncError, match="key-derivation iterations; lbsync refuses more than 1,000"):
        load_bundle(pfx=path, password=PasswordSource(value=b"pw"))


# ---- files that are not files, files that are too big --------------------------------------------------------

@pytest.mark.parametrize("what", ["fifo", "device", "huge"])
def test_inputs_that_would_hang_or_exhaust_are_one_line(tmp_path, what):
    if what == "fifo":
        path = tmp_path / "model.yaml"
        os.mkfifo(path)
    elif what == "device":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "model.yaml"
        path.write_text("version: 1\nallow: [" + "a" * (2 * 1024 * 1024) + "]\n")
    ran = run_cli("validate", path)
    assert ran.returncode == 2 and len(ran.stderr.strip().splitlines()) == 1
    assert ("not a regular file" in ran.stderr) if what != "huge" else ("more than 1 MiB" in ran.stderr)


# ---- values YAML cannot read as their tag says: exit 2, never an internal error -------------------------------

@pytest.mark.parametrize("value", ["!!bool maybe", "!!float abc", "!!timestamp x", "!!int 0x", "9" * 5000])
def test_unreadable_tagged_scalars_are_located_errors(tmp_path, value):
    path = tmp_path / "lbsync.yaml"
    path.write_text(f"version: 1\nexchange:\n  version: 2013\n  cu: {value}\n")
    ran = run_cli("validate", path)
    assert ran.returncode == 2 and ran.stderr.startswith(f"{path}:4:7: error: cannot read "), ran.stderr


@pytest.mark.parametrize("text", ["version: 1\nexchange: " + "[" * 600 + "]" * 600 + "\n",
                                  "version: 1\nx:\n" + "".join(" " * 2 * (i + 1) + "a:\n" for i in range(600))])
def test_nesting_hundreds_deep_is_refused_cleanly(tmp_path, text):
    path = tmp_path / "lbsync.yaml"
    path.write_text(text)
    ran = run_cli("validate", path)
    assert ran.returncode == 2 and "the document nests too deeply" in ran.stderr


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000, '{"SSLOffloading": ' + "1" * 5000 + "}"])
def test_evidence_json_too_deep_or_too_long_a_number_is_bad_input(tmp_path, body):
    model = _audit_model(tmp_path)
    oa = tmp_path / "oa.json"
    oa.write_text(body)
    ran = run_cli("audit", model, "--outlook-anywhere", f"EX01={oa}")
    assert ran.returncode == 2 and ran.stderr.startswith(f"{oa}: error: "), ran.stderr
