"""`lbsync f5 plan|apply` end to end against the emulator: output, exit codes, TLS, credentials, AS3."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from f5emu.testing import PASSWORD, credentials_env, run, write_model
from pki import make_pki


@pytest.fixture
def model(tmp_path, emu, pki_files, monkeypatch):
    credentials_env(monkeypatch)
    return write_model(tmp_path / "lbsync.yaml", emu, pki_files)


def no_secret(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text


def test_plan_is_a_dry_run_listing_every_object(emu, model):
    code, out, err = run(["f5", "plan", str(model)])
    assert code == 0, err
    assert emu.writes == 0
    assert "create    ltm/pool                 /Exchange/lbsync_owa_mail.contoso.com" in out
    assert "create    ltm/virtual              /Exchange/lbsync_203.0.113.10_443" in out
    assert "to create, 0 to modify, 0 to delete, 0 unchanged" in out
    no_secret(out, err)


def test_plan_json_shows_attribute_differences(emu, model, pki_files):
    assert run(["f5", "apply", "--yes", str(model)])[0] == 0
    write_model(model, emu, pki_files, servers=("192.0.2.11", "192.0.2.99"))
    emu.reset_counts()
    code, out, err = run(["f5", "plan", "--json", str(model)])
    assert code == 0, err
    doc = json.loads(out)
    assert emu.writes == 0
    modified = [c for c in doc["changes"] if c["action"] == "modify"]
    assert modified and all(c["kind"] == "ltm/pool" and set(c["diff"]) == {"members"} for c in modified)
    owa = next(c for c in modified if c["path"] == "/Exchange/lbsync_owa_mail.contoso.com")
    assert {m["name"] for m in owa["diff"]["members"]["want"]} == {"192.0.2.11:443", "192.0.2.99:443"}
    assert "192.0.2.12:443" in {m["name"] for m in owa["diff"]["members"]["have"]}
    assert doc["summary"]["modify"] == len(modified) and doc["summary"]["create"] == 0


def test_apply_then_nothing_to_do(emu, model):
    code, out, err = run(["f5", "apply", "--yes", str(model)])
    assert code == 0, err
    assert "applied (imperative)" in out and "0 deleted" in out
    assert "transaction: committing" in err and "installing /Exchange/lbsync_" in err  # progress on stderr
    emu.reset_counts()
    code, out, err = run(["f5", "apply", "--yes", str(model)])
    assert code == 0 and "nothing to do" in out and emu.writes == 0
    no_secret(out, err)
    code, out, err = run(["f5", "plan", str(model)])
    assert "unchanged ltm/pool                 /Exchange/lbsync_owa_mail.contoso.com" in out
    assert "0 to create, 0 to modify, 0 to delete, 33 unchanged" in out


def test_device_refusal_is_exit_1_one_line(emu, model):
    before = emu.config()
    emu.fail_commit_command(3)
    code, out, err = run(["f5", "apply", "--yes", str(model)])
    assert code == 1
    assert "transaction failed" in err and "Traceback" not in err and len(err.strip().splitlines()) >= 1
    assert err.strip().splitlines()[-1].startswith("f5: ")
    assert emu.config() == before


def test_untrusted_device_certificate_fails_cleanly(emu, model, pki_files, tmp_path):
    write_model(model, emu, pki_files, ca_bundle=None)  # system trust store: does not know the emulator's CA
    code, out, err = run(["f5", "plan", str(model)])
    assert code == 1 and "TLS verification of https://127.0.0.1" in err and "Traceback" not in err
    assert emu.counts["auth"] == 0 and emu.reads == 0  # nothing was sent: not even the credentials
    other = make_pki().write(tmp_path / "other")
    write_model(model, emu, pki_files, ca_bundle=str(other["ca"]))
    code, out, err = run(["f5", "apply", "--yes", str(model)])
    assert code == 1 and "TLS verification" in err and emu.counts["auth"] == 0


def test_verify_tls_false_works_with_a_loud_warning(emu, model, pki_files):
    write_model(model, emu, pki_files, ca_bundle=None, verify_tls=False)
    code, out, err = run(["f5", "plan", str(model)])
    assert code == 0
    assert "WARNING: TLS verification of the BIG-IP management certificate is OFF" in err


def test_credentials_only_from_the_environment(emu, model, monkeypatch):
    monkeypatch.delenv("F5_PASSWORD")
    code, out, err = run(["f5", "plan", str(model)])
    assert code == 2 and "F5_USER" in err and "F5_PASSWORD" in err and emu.counts["auth"] == 0
    monkeypatch.setenv("F5_PASSWORD", "wrong-" + PASSWORD)
    code, out, err = run(["f5", "apply", "--yes", str(model)])
    assert code == 1 and "login refused" in err
    no_secret(out, err)
    assert "wrong-" not in out + err


def test_bad_input_is_exit_2_nothing_sent(emu, tmp_path, pki_files, monkeypatch):
    credentials_env(monkeypatch)
    m = write_model(tmp_path / "m.yaml", emu, pki_files)
    m.write_text(m.read_text().replace("certificate: {", "# certificate: {"))
    code, out, err = run(["f5", "apply", "--yes", str(m)])
    assert code == 2 and "certificate" in err
    m2 = write_model(tmp_path / "m2.yaml", emu, pki_files)
    m2.write_text(m2.read_text().replace("host: 127.0.0.1, ", ""))
    code, out, err = run(["f5", "plan", str(m2)])
    assert code == 2 and "targets.f5.host" in err
    assert emu.counts["auth"] == 0 and emu.reads == 0 and emu.writes == 0


def test_without_f5_sdk_the_imperative_method_points_to_as3(emu, model, monkeypatch):
    monkeypatch.setitem(sys.modules, "f5.bigip", None)  # as on Python 3.12+, where f5-sdk cannot be imported
    code, out, err = run(["f5", "plan", str(model)])
    assert code == 0 and "to create" in out  # reading and diffing need only requests
    code, out, err = run(["f5", "apply", "--yes", str(model)])
    assert code == 2 and "--method as3" in err and emu.writes == 0
    code, out, err = run(["f5", "apply", "--yes", "--method", "as3", str(model)])
    assert code == 0, err


def test_as3_apply_reports_per_tenant_and_is_idempotent(emu, model):
    code, out, err = run(["f5", "plan", "--method", "as3", "--json", str(model)])
    assert code == 0 and json.loads(out)["tenant"] == "Exchange" and emu.writes == 0
    code, out, err = run(["f5", "apply", "--yes", "--method", "as3", str(model)])
    assert code == 0, err
    assert "AS3 tenant Exchange: 200 success" in err and "applied (as3)" in out
    posted = [e for e in emu.log if e[1] == "/mgmt/shared/appsvcs/declare" and e[0] == "POST"]
    assert len(posted) == 1 and emu.as3_tenants["Exchange"]["lbsync"]["class"] == "Application"
    # the certificate files went to /Common before the declaration that points at them
    assert any(p.startswith("/Common/lbsync_") for p in emu.store.objects["sys/file/ssl-cert"])
    emu.reset_counts()
    code, out, err = run(["f5", "apply", "--yes", "--method", "as3", str(model)])
    assert code == 0 and "nothing to do" in out and emu.writes == 0


def test_as3_refusal_is_exit_1(emu, model, monkeypatch):
    from lbsync.targets.f5 import as3
    real = as3.declaration

    def broken(*a, **kw):
        d = real(*a, **kw)
        d["declaration"]["Exchange"]["lbsync"]["lbsync_owa_mail.contoso.com"]["loadBalancingMode"] = "bogus"
        return d
    monkeypatch.setattr("lbsync.targets.f5.as3push.declaration", broken)
    code, out, err = run(["f5", "apply", "--yes", "--method", "as3", str(model)])
    assert code == 1 and "422" in err and "Traceback" not in err
    assert not any(p.startswith("/Common/lbsync_") for p in emu.store.objects["sys/file/ssl-cert"])


def test_cli_module_imports_only_click():
    code = ("import sys, lbsync.cli.f5; "
            "print(sorted(m for m in ('requests', 'f5', 'cryptography', 'urllib3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_apply_runs_the_certificate_precheck_first(emu, tmp_path, monkeypatch):
    """Extended Protection on (2019 CU14+): a certificate that does not cover the namespaces stops the push."""
    credentials_env(monkeypatch)
    wrong = make_pki(["other.example.net"]).write(tmp_path / "wrong")
    m = write_model(tmp_path / "ep.yaml", emu, wrong, version=2019)
    m.write_text(m.read_text().replace("cu: 23", "cu: 14"))
    code, out, err = run(["f5", "apply", "--yes", str(m)])
    assert code == 2 and "Extended Protection is on and the certificate check failed" in err
    assert emu.counts["auth"] == 0 and emu.reads == 0 and emu.writes == 0


def test_secrets_never_reach_the_logs(emu, model, caplog, pki_files):
    import logging
    caplog.set_level(logging.DEBUG)
    code, out, err = run(["f5", "apply", "--yes", str(model)])
    assert code == 0, err
    key_body = pki_files["key"].read_text().splitlines()[1]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged  # requests/urllib3/icontrol did log at DEBUG
    for text in (logged, out, err):
        assert PASSWORD not in text and key_body not in text


def test_credentials_prompt_hides_the_password(monkeypatch, tmp_path, emu, pki_files):
    from lbsync.cli.common import load_plan
    from lbsync.targets.f5.connection import credentials
    monkeypatch.delenv("F5_USER", raising=False)
    monkeypatch.delenv("F5_PASSWORD", raising=False)
    asked = []

    def prompt(text, hide_input=False, **kw):
        asked.append((text, hide_input))
        return "typed-user" if not hide_input else "typed-pw"
    monkeypatch.setattr("click.prompt", prompt)
    plan = load_plan(str(write_model(tmp_path / "m.yaml", emu, pki_files)))
    assert credentials(plan, interactive=True) == ("typed-user", "typed-pw")
    assert [h for _, h in asked] == [False, True]


@pytest.mark.parametrize("where", [r"^/mgmt/shared/file-transfer/", r"^/mgmt/tm/sys/crypto/",
                                   r"^/mgmt/shared/appsvcs/declare$"])
def test_as3_fault_at_any_write_leaves_the_device_as_it_was(emu, model, where):
    before = emu.config()
    emu.inject(method="POST", path=where, nth=2 if "declare" not in where else 1, action="error", status=400)
    code, out, err = run(["f5", "apply", "--yes", "--method", "as3", str(model)])
    assert code == 1 and "Traceback" not in err
    assert emu.config() == before and emu.as3_tenants == {} and emu.uploads == {}


def test_as3_task_polling_survives_a_dropped_read(emu, model):
    emu.as3_delay = 1.0  # long enough that the retry after the drop finds it still running, even under load
    emu.inject(method="GET", path=r"^/mgmt/shared/appsvcs/task/", action="drop")
    from f5emu.testing import load

    from lbsync.targets.f5 import as3push
    from lbsync.targets.f5.connection import connect
    plan, material, _ = load(model)
    conn = connect(plan, interactive=False, warn=lambda t: None, backoff=0.01)
    result = as3push.apply(conn, plan, material, poll_interval=0.05)
    assert result.applied and "Exchange" in emu.as3_tenants
    polls = [e for e in emu.log if e[1].startswith("/mgmt/shared/appsvcs/task/")]
    assert len(polls) >= 3  # the dropped one, at least one "in progress", the result


@pytest.mark.parametrize("method", ["imperative", "as3"])
def test_apply_leaves_no_upload_on_the_device(emu, model, method):
    code, out, err = run(["f5", "apply", "--yes", "--method", method, str(model)])
    assert code == 0, err
    assert emu.uploads == {}  # the unencrypted private key above all
    assert [e[1] for e in emu.log].count("/mgmt/tm/util/unix-rm") == 4


@pytest.mark.parametrize("method", ["imperative", "as3"])
def test_a_failed_key_install_leaves_no_upload(emu, model, method):
    before = emu.config()
    emu.inject(method="POST", path=r"^/mgmt/tm/sys/crypto/key$", action="error", status=400)
    code, out, err = run(["f5", "apply", "--yes", "--method", method, str(model)])
    assert code == 1 and "Traceback" not in err
    assert emu.uploads == {} and emu.config() == before


@pytest.mark.parametrize("method", ["imperative", "as3"])
def test_an_upload_that_cannot_be_deleted_is_exit_1_naming_it(emu, model, method):
    emu.inject(method="POST", path=r"^/mgmt/tm/util/unix-rm$", nth=1, times=2, action="error", status=400)
    code, out, err = run(["f5", "apply", "--yes", "--method", method, str(model)])
    assert code == 1 and "applied (" not in out  # the changes were listed before; no success line after
    (left,) = emu.uploads
    what = "private key" if left.endswith(".key") else "certificate"
    local = f"/var/config/rest/downloads/{left}"
    assert err.strip().splitlines()[-1] == (
        f"f5: the uploaded {what} {local} is still on the BIG-IP (deleting it failed twice: "
        f"https://127.0.0.1:{emu.port}: 400 injected fault (400)); delete it by hand: tmsh run util unix-rm {local}")
    assert emu.as3_tenants == {}


def test_unreachable_device_is_one_clean_line(emu, model, pki_files, monkeypatch):
    import socket
    import types
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model.write_text(model.read_text().replace(f"port: {emu.port}", f"port: {port}"))
    slept = []  # the login is retried with backoff (0.5 + 1 + 2 s): recorded here instead of waited for
    monkeypatch.setattr("lbsync.targets.f5.connection.time", types.SimpleNamespace(sleep=slept.append))
    code, out, err = run(["f5", "plan", str(model)])
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1] == f"f5: cannot reach https://127.0.0.1:{port}: Connection refused"
    assert len(slept) == 3  # every retry was made (and each waited) before the one line


@pytest.mark.parametrize("text, reason", [
    # urllib3 2 (double quotes around the inner repr) and urllib3 1 (single quotes)
    ("HTTPSConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /mgmt/shared/authn/login "
     "(Caused by NewConnectionError(\"HTTPSConnection(host='127.0.0.1', port=9): Failed to establish a new "
     "connection: [Errno 111] Connection refused\"))", "Connection refused"),
    ("HTTPSConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /x (Caused by "
     "NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new "
     "connection: [Errno 111] Connection refused'))", "Connection refused"),
    ("HTTPSConnectionPool(host='10.0.0.1', port=443): Read timed out. (read timeout=30)", "timed out"),
    ("HTTPSConnectionPool(host='x', port=443): Max retries exceeded with url: /x (Caused by SSLError("
     "SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
     "certificate in certificate chain (_ssl.c:1006)')))",
     "certificate verify failed: self-signed certificate in certificate chain"),
    ("('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
     "RemoteDisconnected"),
    ("something else entirely", "ValueError"),
])
def test_connection_error_reasons_are_cut_cleanly(text, reason):
    from lbsync.targets.f5.connection import _reason
    assert _reason(ValueError(text)) == reason


# -- model-level errors point at the model key (FILE:LINE:COL) -------------------------------------------------------

def _pos(text: str, line_start: str, token: str | None = None) -> tuple[int, int]:
    """1-based line of the first line starting with line_start; column of token in it (else of its first key)."""
    for n, line in enumerate(text.splitlines(), start=1):
        if line.startswith(line_start):
            return n, (line.index(token) + 1 if token else len(line) - len(line.lstrip()) + 1)
    raise AssertionError(line_start)


def test_missing_certificate_points_at_targets_f5(emu, model):
    text = model.read_text().replace("certificate: {", "# certificate: {")
    model.write_text(text)
    code, out, err = run(["f5", "plan", str(model)])
    line, col = _pos(text, "  f5:")
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"{model}:{line}:{col}: error: the F5 push installs the model's certificate: add a certificate: section "
        "(pfx, or cert/key/chain), at targets.f5")


def test_missing_host_points_at_targets_f5(emu, model):
    text = model.read_text().replace("host: 127.0.0.1, ", "")
    model.write_text(text)
    code, out, err = run(["f5", "plan", str(model)])
    line, col = _pos(text, "  f5:")
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"{model}:{line}:{col}: error: targets.f5.host is not set: lbsync does not know which BIG-IP to talk to")


def test_missing_ca_bundle_points_at_its_value(emu, model, tmp_path):
    gone = tmp_path / "gone.pem"
    text = model.read_text().replace(f"ca_bundle: {emu.ca_file}", f"ca_bundle: {gone}")
    model.write_text(text)
    code, out, err = run(["f5", "plan", str(model)])
    line, col = _pos(text, "  f5:", str(gone))
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"{model}:{line}:{col}: error: targets.f5.ca_bundle: no such file: {gone}")
    assert emu.counts["auth"] == 0


def test_missing_credentials_point_at_targets_f5(emu, model, monkeypatch):
    monkeypatch.delenv("F5_PASSWORD")
    text = model.read_text()
    code, out, err = run(["f5", "plan", str(model)])
    line, col = _pos(text, "  f5:", "{")  # no username_env key: the targets.f5 mapping
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"{model}:{line}:{col}: error: F5 credentials: set the environment variables F5_USER and F5_PASSWORD "
        "(targets.f5.username_env / password_env), or run on a terminal to be asked")
    text = text.replace("partition: Exchange,", "partition: Exchange, username_env: MY_F5_USER,")
    model.write_text(text)
    code, out, err = run(["f5", "plan", str(model)])
    line, col = _pos(text, "  f5:", "username_env")
    assert code == 2 and err.strip().splitlines()[-1].startswith(
        f"{model}:{line}:{col}: error: F5 credentials: set the environment variables MY_F5_USER and F5_PASSWORD ")


def test_unreadable_server_ca_points_at_tls_server_ca(emu, model, pki_files, tmp_path):
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("hello\n")
    text = model.read_text().replace(f"server_ca: {pki_files['ca']}", f"server_ca: {bogus}")
    model.write_text(text)
    code, out, err = run(["f5", "plan", str(model)])
    line, col = _pos(text, "tls:", str(bogus))
    assert code == 2, err
    assert f"{model}:{line}:{col}: error: tls.server_ca {bogus} holds no PEM certificate" in err.splitlines()


def test_certificate_without_key_points_at_certificate(emu, model, tmp_path, monkeypatch):
    """A PFX exported without its private key: the model is valid, the F5 client-ssl profile cannot be built."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    pki = make_pki()
    pfx = tmp_path / "nokey.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(
        b"mail", None, pki.leaf.cert, [pki.intermediate.cert],
        serialization.BestAvailableEncryption(b"pfx-pw")))
    monkeypatch.setenv("PFX_PW", "pfx-pw")
    text = re.sub(r"certificate: \{[^}]*\}", f"certificate: {{pfx: {pfx}, password_env: PFX_PW}}",
                  model.read_text())
    model.write_text(text)
    code, out, err = run(["f5", "plan", str(model)])
    line, col = _pos(text, "certificate:")
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"{model}:{line}:{col}: error: the certificate has no private key; the F5 client-ssl profile needs one, "
        "at certificate")


# -- the Plan's per-pool decisions reach the device, and a second apply writes nothing -------------------------------

@pytest.mark.parametrize("method", ["imperative", "as3"])
def test_coexistence_pushes_persistence_and_server_tls_then_writes_nothing(
        emu, tmp_path, pki_files, monkeypatch, method):
    from f5emu.testing import coexistence_text
    credentials_env(monkeypatch)
    path = tmp_path / "coexistence.yaml"
    path.write_text(coexistence_text(emu, pki_files))
    code, out, err = run(["f5", "apply", "--yes", "--method", method, str(path)])
    assert code == 0, err
    if method == "imperative":
        s = emu.store.objects
        vs = s["ltm/virtual"]["/Exchange/lbsync_203.0.113.10_443"]
        assert vs["persist"] == [{"name": "/Exchange/lbsync_203.0.113.10_443_cookie", "tmDefault": "yes"}]
        assert vs["fallbackPersistence"] == "/Exchange/lbsync_203.0.113.10_443_source_addr"
        assert s["ltm/persistence/cookie"]["/Exchange/lbsync_203.0.113.10_443_cookie"]["cookieName"] == "lbsync_server"
        assert s["ltm/persistence/source-addr"]["/Exchange/lbsync_203.0.113.10_443_source_addr"]["timeout"] == 3900
        assert "no-tlsv1" not in s["ltm/profile/server-ssl"]["/Exchange/lbsync_legacy.contoso.com_serverssl"]["options"]
        assert s["ltm/profile/http"]["/Exchange/lbsync_http"]["enforcement"]["maxHeaderSize"] == 15360
        assert s["ltm/pool"]["/Exchange/lbsync_owa_legacy.contoso.com"]["loadBalancingMode"] == "round-robin"
        assert "persist cookie insert lbsync_server 0" in \
            s["ltm/rule"]["/Exchange/lbsync_203.0.113.10_443_route"]["apiAnonymous"]
    else:
        app = emu.as3_tenants["Exchange"]["lbsync"]
        assert app["lbsync_203.0.113.10_443"]["persistenceMethods"] == [{"use": "lbsync_203.0.113.10_443_cookie"}]
        assert app["lbsync_legacy.contoso.com_serverssl"]["tls1_0Enabled"] is True
    emu.reset_counts()
    code, out, err = run(["f5", "apply", "--yes", "--method", method, str(path)])
    assert code == 0 and "nothing to do" in out and emu.writes == 0, out + err
