"""`lbsync cert check|export` through the command line: output, exit codes, secrets, files, and the render gate."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki import NOW, Pki, make_ca, make_leaf, shared_key

from lbsync.cli import main

PW = "Ex-port-123!"
ENV = "LBSYNC_T_CERT_PW"

MODEL = """\
version: 1
exchange:
  version: 2019
  cu: 14
  outlook_anywhere:
    external_hostname: mail.contoso.com
    internal_hostname: {internal}
servers:
  - name: EX01
    address: 192.0.2.11
namespaces:
  - host: mail.contoso.com
    services: [owa, ecp, ews, eas, oab, mapi, rpc]
  - host: autodiscover.contoso.com
    services: [autodiscover]
tls:
  default: bridge
  server_ca: ca.pem
certificate:
  pfx: mail.pfx
  password_env: {env}
  warn_days: {warn_days}
targets:
  haproxy: {{cert_path: /etc/haproxy/certs/lbsync.pem}}
"""


@pytest.fixture(scope="module")
def test_pki():
    root = make_ca()
    inter = make_ca("lbsync test intermediate", issuer=root)
    leaf = make_leaf(inter, ["mail.contoso.com", "autodiscover.contoso.com", "ex-int.contoso.local"],
                     key=shared_key())
    return Pki(root, inter, leaf)


def write_model(folder: Path, pki: Pki, *, internal: str = "ex-int.contoso.local", warn_days: int = 30,
                legacy: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mail.pfx").write_bytes(pki.pfx(PW.encode(), legacy=legacy))
    (folder / "ca.pem").write_bytes(pki.root.cert_pem())
    path = folder / "lbsync.yaml"
    path.write_text(MODEL.format(internal=internal, env=ENV, warn_days=warn_days))
    return path


def run(args, env=None, input=None, cwd=None):
    runner = CliRunner()
    env = {ENV: PW} if env is None else env
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        return runner.invoke(main, args, env=env, input=input, catch_exceptions=False)
    finally:
        os.chdir(old)


# --- cert check -------------------------------------------------------------------------------------------------

def test_check_model_ok_json(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    result = run(["cert", "check", str(model), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["fingerprint_sha256"] == test_pki.leaf.fingerprint
    assert [c["id"] for c in doc["checks"]] == ["load", "key-match", "san-coverage", "expiry", "chain",
                                                "key-strength", "signature-hash", "eku", "consistency"]
    statuses = {c["id"]: c["status"] for c in doc["checks"]}
    assert statuses["san-coverage"] == "ok" and statuses["chain"] == "ok"
    san = next(c for c in doc["checks"] if c["id"] == "san-coverage")["message"]
    assert "mail.contoso.com" in san and "autodiscover.contoso.com" in san and "ex-int.contoso.local" in san
    assert PW not in result.output and PW not in result.stderr


def test_check_outlook_anywhere_hostname_not_covered_fails(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki, internal="exchange.contoso.local")
    result = run(["cert", "check", str(model), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    san = next(c for c in doc["checks"] if c["id"] == "san-coverage")
    assert san["status"] == "fail" and "exchange.contoso.local" in san["message"]
    assert "certificate check failed: san-coverage" in result.stderr


def test_check_table_and_warn_days_and_at(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki, warn_days=400)
    result = run(["cert", "check", str(model)])
    assert result.exit_code == 0                                  # a warning is not a failure
    assert "certificate check" in result.stdout and "expiry" in result.stdout and "warn" in result.stdout
    assert test_pki.leaf.fingerprint in result.stdout
    later = (NOW + dt.timedelta(days=500)).date().isoformat()
    result = run(["cert", "check", str(model), "--at", later, "--json"])
    assert result.exit_code == 1
    expiry = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "expiry")
    assert expiry["status"] == "fail" and "expired on" in expiry["message"]


def test_bad_at_date_is_bad_input(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    result = run(["cert", "check", str(model), "--at", "next tuesday"])
    assert result.exit_code == 2 and "--at: 'next tuesday' is not a date" in result.stderr


def test_password_missing_without_terminal_is_exit_2(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    result = run(["cert", "check", str(model)], env={ENV: None}, input="")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"{tmp_path / 'mail.pfx'}: error: needs a password and stdin is not a "
                                      f"terminal to ask for it: set {ENV}")
    assert result.stdout == ""


def test_wrong_password_is_exit_2_one_line(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    result = run(["cert", "check", str(model)], env={ENV: "guess-9"})
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "wrong password for the PFX" in result.stderr
    assert "guess-9" not in result.stderr and "Traceback" not in result.stderr


def test_password_env_option_overrides_and_must_exist(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    result = run(["cert", "check", str(model), "--password-env", "LBSYNC_T_OTHER", "--json"],
                 env={ENV: "wrong", "LBSYNC_T_OTHER": PW})
    assert result.exit_code == 0, result.stderr
    result = run(["cert", "check", str(model), "--password-env", "LBSYNC_T_UNSET"], env={"LBSYNC_T_UNSET": None})
    assert result.exit_code == 2 and "LBSYNC_T_UNSET (--password-env) is not set" in result.stderr


def test_no_password_option_on_argv():
    result = run(["cert", "check", "--help"])
    assert "--password-env" in result.stdout and "--password " not in result.stdout


def test_pfx_without_model_warns_about_names_or_takes_name(tmp_path, test_pki):
    (tmp_path / "m.pfx").write_bytes(test_pki.pfx(PW.encode()))
    (tmp_path / "ca.pem").write_bytes(test_pki.root.cert_pem())
    args = ["cert", "check", "--pfx", "m.pfx", "--password-env", ENV, "--ca-bundle", "ca.pem", "--json"]
    result = run(args, cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    san = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "san-coverage")
    assert san["status"] == "warn" and "pass --name HOST" in san["message"]
    result = run(args + ["--name", "mail.contoso.com", "--name", "webmail.contoso.com"], cwd=tmp_path)
    assert result.exit_code == 1
    san = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "san-coverage")
    assert san["status"] == "fail" and san["message"].startswith("not covered by a DNS SAN: webmail.contoso.com")


def test_no_model_and_no_certificate_is_bad_input(tmp_path):
    result = run(["cert", "check"], cwd=tmp_path)
    assert result.exit_code == 2 and "lbsync.yaml: error: no model here" in result.stderr


def test_pem_files_and_missing_intermediate(tmp_path, test_pki):
    files = test_pki.write(tmp_path / "pem")
    base = ["cert", "check", "--cert", str(files["cert"]), "--key", str(files["key"]), "--ca-bundle",
            str(files["ca"]), "--name", "mail.contoso.com", "--json"]
    result = run(base + ["--chain", str(files["chain"])], cwd=tmp_path)
    assert result.exit_code == 0, result.stdout
    result = run(base, cwd=tmp_path)
    assert result.exit_code == 1
    chain = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "chain")
    assert chain["status"] == "fail" and chain["message"].startswith("missing intermediate:")


def test_key_from_another_certificate_fails_key_match(tmp_path, test_pki):
    files = test_pki.write(tmp_path / "pem")
    other = tmp_path / "other.key"
    other.write_bytes(shared_key(slot=1).private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    result = run(["cert", "check", "--cert", str(files["fullchain"]), "--key", str(other), "--ca-bundle",
                  str(files["ca"]), "--json"], cwd=tmp_path)
    assert result.exit_code == 1
    km = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "key-match")
    assert km["status"] == "fail"


def test_usage_errors(tmp_path, test_pki):
    files = test_pki.write(tmp_path / "pem")
    result = run(["cert", "check", "--key", str(files["key"])], cwd=tmp_path)
    assert result.exit_code == 2 and "--key goes with --cert" in result.stderr
    result = run(["cert", "check", "--pfx", "a.pfx", "--cert", str(files["cert"])], cwd=tmp_path)
    assert result.exit_code == 2 and "either --pfx or --cert" in result.stderr
    result = run(["cert", "check", "--pfx", "missing.pfx", "--password-env", ENV], cwd=tmp_path)
    assert result.exit_code == 2 and result.stderr.strip() == "missing.pfx: error: no such file"
    result = run(["cert", "check", "--pfx", str(tmp_path / "x.pfx"), "--ca-bundle", "nope.pem"], cwd=tmp_path)
    assert result.exit_code == 2


def test_compare_files(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    files = test_pki.write(tmp_path / "pem")
    other = make_leaf(test_pki.intermediate, ["mail.contoso.com"], key=shared_key(slot=1))
    (tmp_path / "stale.crt").write_bytes(other.cert_pem())
    result = run(["cert", "check", str(model), "--json", "--compare", str(files["combined"]),
                  "--compare", str(files["fullchain"]), "--compare", str(tmp_path / "mail.pfx")])
    assert result.exit_code == 0, result.stdout
    cons = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "consistency")
    assert cons["status"] == "ok" and "at 3 place(s)" in cons["message"]
    result = run(["cert", "check", str(model), "--json", "--compare", str(files["combined"]),
                  "--compare", str(tmp_path / "stale.crt")])
    assert result.exit_code == 1
    cons = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "consistency")
    assert cons["status"] == "fail" and f"{tmp_path / 'stale.crt'} presents" in cons["message"]
    result = run(["cert", "check", str(model), "--compare", "no-such-thing"])
    assert result.exit_code == 2 and "no-such-thing: error: --compare: no such file, and not HOST:PORT" in result.stderr


# --- cert export ------------------------------------------------------------------------------------------------

def _certs(path: Path) -> list:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_export_haproxy(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    out = tmp_path / "out"
    result = run(["cert", "export", str(model), "--format", "haproxy", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    pem = out / "haproxy" / "lbsync.pem"
    assert _mode(pem) == 0o600
    assert _certs(pem) == [test_pki.leaf.cert, test_pki.intermediate.cert]       # leaf first, then chain
    key = serialization.load_pem_private_key(pem.read_bytes(), None)
    assert key.private_numbers() == test_pki.leaf.key.private_numbers()
    assert "BEGIN PRIVATE KEY" not in result.output and "wrote" in result.stdout and "0600" in result.stdout
    assert sorted(p.name for p in (out / "haproxy").iterdir()) == ["lbsync.pem"]   # no temporary files left


def test_export_nginx_and_f5(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    out = tmp_path / "out"
    assert run(["cert", "export", str(model), "--format", "nginx", "-o", str(out)]).exit_code == 0
    assert _certs(out / "nginx" / "lbsync.crt") == [test_pki.leaf.cert, test_pki.intermediate.cert]
    assert _mode(out / "nginx" / "lbsync.key") == 0o600
    assert _mode(out / "nginx" / "lbsync.crt") == 0o644
    assert run(["cert", "export", str(model), "--format", "f5", "-o", str(out)]).exit_code == 0
    assert _certs(out / "f5" / "lbsync.crt") == [test_pki.leaf.cert]
    assert _certs(out / "f5" / "lbsync-chain.crt") == [test_pki.intermediate.cert]
    assert _mode(out / "f5" / "lbsync.key") == 0o600
    key = serialization.load_pem_private_key((out / "f5" / "lbsync.key").read_bytes(), None)
    assert key.private_numbers() == test_pki.leaf.key.private_numbers()


def test_export_drops_the_root_and_orders_the_chain(tmp_path, test_pki):
    files = test_pki.write(tmp_path / "pem")
    mixed = tmp_path / "mixed-chain.pem"
    mixed.write_bytes(test_pki.root.cert_pem() + test_pki.intermediate.cert_pem())
    out = tmp_path / "out"
    result = run(["cert", "export", "--cert", str(files["cert"]), "--key", str(files["key"]), "--chain", str(mixed),
                  "--format", "nginx", "-o", str(out)], cwd=tmp_path)
    assert result.exit_code == 0
    assert _certs(out / "nginx" / "lbsync.crt") == [test_pki.leaf.cert, test_pki.intermediate.cert]
    assert "left out of the chain: 'CN=lbsync test root" in result.stderr


def test_export_writes_nothing_on_error(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    out = tmp_path / "out"
    result = run(["cert", "export", str(model), "--format", "haproxy", "-o", str(out)], env={ENV: "wrong"})
    assert result.exit_code == 2 and not out.exists()
    files = test_pki.write(tmp_path / "pem")
    other = tmp_path / "other.key"
    other.write_bytes(shared_key(slot=1).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    result = run(["cert", "export", "--cert", str(files["cert"]), "--key", str(other), "--format", "f5",
                  "-o", str(out)], cwd=tmp_path)
    assert result.exit_code == 2 and "does not belong to the certificate" in result.stderr and not out.exists()
    result = run(["cert", "export", str(model), "--format", "iis", "-o", str(out)])
    assert result.exit_code == 2 and not out.exists()


def test_cli_cert_imports_only_click():
    import subprocess
    import sys
    code = ("import sys, lbsync.cli.cert\n"
            "heavy = [m for m in ('cryptography', 'rich', 'requests') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"


# --- the gate before render (Extended Protection on, certificate: in the model) ---------------------------------

def test_render_refuses_when_the_certificate_fails(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki, internal="exchange.contoso.local")   # not covered by the SAN
    out = tmp_path / "out"
    result = run(["render", str(model), "--target", "haproxy", "-o", str(out)])
    assert result.exit_code == 2
    assert "Extended Protection is on and the certificate check failed (san-coverage:" in result.stderr
    assert "exchange.contoso.local" in result.stderr and f"{model}:" in result.stderr
    assert not out.exists()


def test_render_refuses_when_the_pfx_cannot_be_opened(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    out = tmp_path / "out"
    result = run(["render", str(model), "--target", "haproxy", "-o", str(out)], env={ENV: "wrong"})
    assert result.exit_code == 2 and "wrong password for the PFX" in result.stderr and not out.exists()


def test_render_passes_the_gate_with_a_good_certificate(tmp_path, test_pki):
    from lbsync.certs.precheck import needs_precheck, precheck_or_refuse
    from lbsync.cli.common import load_plan
    model = write_model(tmp_path, test_pki)
    plan = load_plan(str(model))
    assert needs_precheck(plan)
    os.environ[ENV] = PW
    try:
        precheck_or_refuse(plan)                      # returns: nothing fails
    finally:
        del os.environ[ENV]
    out = tmp_path / "out"
    result = run(["render", str(model), "--target", "haproxy", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "certificate check failed" not in result.stderr
    assert "/etc/haproxy/certs/lbsync.pem" in (out / "haproxy" / "haproxy.cfg").read_text()


def test_export_follows_the_model_cert_paths(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki)
    model.write_text(model.read_text().replace(
        "  haproxy: {cert_path: /etc/haproxy/certs/lbsync.pem}",
        "  haproxy: {cert_path: /etc/haproxy/certs/mail.pem}\n"
        "  nginx: {cert_path: /etc/nginx/ssl/mail-full.crt, key_path: /etc/nginx/ssl/mail.key}"))
    out = tmp_path / "out"
    assert run(["cert", "export", str(model), "--format", "haproxy", "-o", str(out)]).exit_code == 0
    assert run(["cert", "export", str(model), "--format", "nginx", "-o", str(out)]).exit_code == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "haproxy/mail.pem", "nginx/mail-full.crt", "nginx/mail.key"]
    assert _mode(out / "haproxy" / "mail.pem") == 0o600 and _mode(out / "nginx" / "mail.key") == 0o600


def test_check_model_certificate_library_entry(tmp_path, test_pki):
    """What render/f5 apply (precheck) and probe call: the model's certificate, names and trust."""
    from lbsync.certs.check import check_model_certificate
    from lbsync.certs.load import PasswordSource
    from lbsync.cli.common import load_plan
    model = write_model(tmp_path, test_pki)
    plan = load_plan(str(model))
    files = test_pki.write(tmp_path / "pem")
    report = check_model_certificate(plan, password=PasswordSource(value=PW.encode(), interactive=False),
                                     compare=[str(files["fullchain"])])
    assert report.ok and report.fingerprint_sha256 == test_pki.leaf.fingerprint
    assert report.get("consistency").status == "ok" and "(trust: " in report.get("chain").message
    assert str(tmp_path / "ca.pem") in report.get("chain").message          # the model's tls.server_ca
    other_root = make_ca("another root")
    (tmp_path / "other.pem").write_bytes(other_root.cert_pem())
    report = check_model_certificate(plan, password=PasswordSource(value=PW.encode(), interactive=False),
                                     ca_bundle=tmp_path / "other.pem")
    assert not report.ok and report.get("chain").status == "fail"


def test_no_gate_without_extended_protection(tmp_path, test_pki):
    model = write_model(tmp_path, test_pki, internal="exchange.contoso.local")   # would fail san-coverage
    model.write_text(model.read_text().replace("  cu: 14\n", "  cu: 14\n  extended_protection: false\n"))
    from lbsync.certs.precheck import needs_precheck
    from lbsync.cli.common import load_plan
    assert not needs_precheck(load_plan(str(model)))
    out = tmp_path / "out"
    result = run(["render", str(model), "--target", "haproxy", "-o", str(out)], env={ENV: "wrong"})
    assert result.exit_code == 0, result.stderr
    assert (out / "haproxy" / "haproxy.cfg").exists()
