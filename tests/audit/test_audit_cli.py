"""`lbsync audit` as a user runs it: table and --json, exit codes 0/1/2, --fix-script files, --haproxy/--nginx
drift (normalised unified diff), one-line errors and nothing written on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import iisinterp
from click.testing import CliRunner
from support.auditing import AUDIT, CU_RESET, applied, cu_reset, model_text, write

from lbsync.cli import main
from lbsync.targets import RenderOptions, haproxy, nginx

HAPROXY_TARGET = "targets:\n  haproxy: {cert_path: /etc/haproxy/certs/mail.pem}\n"
NGINX_MODEL = """version: 1
exchange:
  version: 2013
  cu: 23
  mrsproxy: true
  outlook_anywhere: {external_hostname: outlook.contoso.com, external_auth: Basic, internal_auth: Basic}
  auth: {ews: [Basic], oab: [Basic], mapi: [Basic], autodiscover: [Basic]}
servers:
  - {name: EX01, address: 192.0.2.11}
  - {name: EX02, address: 192.0.2.12}
namespaces:
  - {host: mail.contoso.com, services: [owa, ecp, ews, eas, oab, mapi]}
  - {host: autodiscover.contoso.com, services: [autodiscover]}
  - {host: outlook.contoso.com, services: [rpc]}
tls:
  default: offload
  services: {rpc: passthrough}
  server_ca: /etc/ssl/certs/ca-certificates.crt
targets:
  nginx: {cert_path: /etc/nginx/certs/mail.crt, key_path: /etc/nginx/certs/mail.key}
allow: [nginx-ntlm]   # /owa/Integrated (Windows authentication only) through NGINX open source
"""


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, env={"COLUMNS": "400"})
    return result.exit_code, result.stdout, result.stderr


def setup(tmp_path, text=None):
    model = tmp_path / "lbsync.yaml"
    model.write_text(text or model_text(2013, "offload"))
    return model


def load_plan(model):
    from lbsync.cli.common import load_plan as lp
    return lp(str(model))


def test_in_sync_exit_0_table_and_json(tmp_path):
    model = setup(tmp_path)
    plan = load_plan(model)
    specs = []
    for s in ("EX01", "EX02"):
        specs += ["--apphost", f"{s}={write(tmp_path, s + '.config', applied(plan, s)[0])}"]
    code, out, err = run("audit", model, *specs)
    assert code == 0, err
    assert "in sync with the plan" in out and "EX01: 27 item(s) compared with the plan, in sync" in out
    assert "not checked EX01: Outlook Anywhere" in out
    code, out, _ = run("audit", model, *specs, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["in_sync"] is True and doc["drift"] == []
    assert {n["what"] for n in doc["not_checked"]} == {"Outlook Anywhere", "OAB", "EWS"}
    code, out, _ = run("audit", model, *specs, "--fix-script", tmp_path / "fix.ps1")
    assert code == 0 and "no fix script written" in out and list(tmp_path.glob("fix*")) == []


def test_drift_exit_1_json_entries_and_fix_scripts(tmp_path):
    model = setup(tmp_path)
    plan = load_plan(model)
    ex02 = cu_reset(applied(plan, "EX02")[0], CU_RESET)
    specs = ["--apphost", f"EX01={write(tmp_path, '1.config', applied(plan, 'EX01')[0])}",
             "--apphost", f"ex02={write(tmp_path, '2.config', ex02)}"]
    code, out, err = run("audit", model, *specs, "--json", "--fix-script", tmp_path / "out" / "fix.ps1")
    assert code == 1
    doc = json.loads(out)
    assert doc["in_sync"] is False
    assert sorted(doc["drift"], key=lambda d: d["location"]) == sorted(
        [{"server": "EX02", "location": loc, "expected": "None", "actual": "Ssl, Ssl128",
          "code": "ssl-still-required"} for loc in CU_RESET], key=lambda d: d["location"])
    fix = tmp_path / "out" / "fix-EX02.ps1"
    assert doc["fix_scripts"] == [str(fix)] and f"wrote {fix}" in err
    assert not (tmp_path / "out" / "fix-EX01.ps1").exists()
    fixed = iisinterp.run_script(ex02, fix.read_text(encoding="utf-8-sig"), server="EX02")
    code, _, _ = run("audit", model, specs[0], specs[1], "--apphost", f"EX02={write(tmp_path, '3.config', fixed)}")
    assert code == 0
    # the table names the drift and its code
    code, out, _ = run("audit", model, *specs)
    assert code == 1 and "ssl-still-required" in out and "EX02: 27 item(s) compared with the plan, 4 drifted" in out


def test_evidence_folder_and_outlook_anywhere_utf16(tmp_path):
    model = setup(tmp_path)
    plan = load_plan(model)
    ev = tmp_path / "ev"
    for s in ("EX01", "EX02"):
        write(ev, f"{s}/applicationHost.config", applied(plan, s)[0])
    write(ev, "EX01/outlook-anywhere.json", (AUDIT / "get-outlookanywhere-EX01.utf16le.json").read_bytes())
    code, out, err = run("audit", model, "--evidence", ev, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["drift"] == [], err
    assert ("EX01", "Outlook Anywhere") not in {(n["server"], n["what"]) for n in doc["not_checked"]}


def test_bad_input_exit_2_one_line_nothing_written(tmp_path):
    model = setup(tmp_path)
    broken = AUDIT / "broken.applicationHost.config"
    fix = tmp_path / "fix.ps1"
    code, out, err = run("audit", model, "--apphost", f"EX01={broken}", "--fix-script", fix)
    assert code == 2 and out == ""
    assert err.strip().startswith(f"{broken}:5: error:") and len(err.strip().splitlines()) == 1
    assert list(tmp_path.glob("fix*")) == []
    code, _, err = run("audit", model, "--apphost", f"EX05={broken}")
    assert code == 2 and "unknown server 'EX05' (the model's servers: EX01, EX02)" in err
    code, _, err = run("audit", model)
    assert code == 2 and "nothing to audit" in err
    code, _, err = run("audit", tmp_path / "missing.yaml", "--apphost", f"EX01={broken}")
    assert code == 2


def test_no_traceback_from_the_real_command(tmp_path):
    model = setup(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "lbsync", "audit", str(model), "--outlook-anywhere",
                           f"EX01={AUDIT / 'broken.applicationHost.config'}"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    broken = AUDIT / "broken.applicationHost.config"
    assert proc.stderr.strip() == f"{broken}:1:1: error: not valid JSON: Expecting value"


# ---- load balancer drift ----------------------------------------------------------------------------------------

def rendered_haproxy(model) -> str:
    return haproxy.render(load_plan(model), RenderOptions()).get(haproxy.CONFIG).content


def shuffle_haproxy(text: str) -> str:
    """What a person's copy may look like: other comments and spacing, server lines and backends reordered."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    out, i = [], 0
    while i < len(lines):
        pair = i + 1 < len(lines) and lines[i + 1].lstrip().startswith("server ")
        if lines[i].lstrip().startswith("server ") and pair:
            out += ["\t" + lines[i + 1].strip() + "   # second", "  " + lines[i].strip()]
            i += 2
            continue
        out.append(lines[i].replace("    ", "  ", 1))
        i += 1
    text = "# deployed by hand from lbsync's output\n\n" + "\n".join(out) + "\n"
    blocks = text.split("\nbackend ")
    head, backends = blocks[0], blocks[1:]
    return head + "".join("\nbackend " + b for b in reversed(backends))


def test_haproxy_same_config_reordered_and_recommented_is_in_sync(tmp_path):
    model = setup(tmp_path, model_text(2013, "offload") + HAPROXY_TARGET)
    deployed = write(tmp_path, "haproxy.cfg", shuffle_haproxy(rendered_haproxy(model)))
    assert haproxy.normalise(Path(deployed).read_text()) == haproxy.normalise(rendered_haproxy(model))
    code, out, err = run("audit", model, "--haproxy", deployed)
    assert code == 0, out + err
    assert "matches the rendered haproxy/haproxy.cfg" in out


def test_haproxy_drift_shows_a_unified_diff_and_exits_1(tmp_path):
    model = setup(tmp_path, model_text(2013, "offload") + HAPROXY_TARGET)
    text = rendered_haproxy(model)
    lines = text.splitlines()
    uses = [i for i, ln in enumerate(lines) if ln.strip().startswith("use_backend ")]
    lines[uses[0]], lines[uses[1]] = lines[uses[1]], lines[uses[0]]      # rule order matters
    changed = "\n".join(lines).replace("192.0.2.12:80 check", "192.0.2.99:80 check", 1)
    deployed = write(tmp_path, "haproxy.cfg", changed)
    code, out, _ = run("audit", model, "--haproxy", deployed, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["in_sync"] is False
    diff = doc["load_balancers"][0]["diff"]
    assert "-    server EX02 192.0.2.99:80 check" in diff and "+    server EX02 192.0.2.12:80 check" in diff
    moved = [ln for ln in diff.splitlines() if ln[:1] in "+-" and "use_backend" in ln]
    assert moved and all(ln[1:].strip() in (lines[uses[0]].strip(), lines[uses[1]].strip()) for ln in moved)
    assert diff.startswith(f"--- {deployed} (deployed, normalised)")


def test_nginx_upstream_servers_reordered_is_in_sync_and_a_changed_timeout_is_drift(tmp_path):
    model = setup(tmp_path, NGINX_MODEL)
    files = nginx.render(load_plan(model), RenderOptions())
    http = files[nginx.HTTP_CONF].content
    stream = files[nginx.STREAM_CONF].content
    lines = http.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.strip().startswith("server 192.0.2.11:80"))
    lines[i], lines[i + 1] = lines[i + 1] + "   # moved", lines[i]
    same = write(tmp_path, "lbsync.conf", "\n\n".join(lines))
    stream_file = write(tmp_path, "lbsync-stream.conf", stream.replace("    ", "\t"))
    code, out, err = run("audit", model, "--nginx", same, "--nginx", stream_file)
    assert code == 0, out + err
    drifted = write(tmp_path, "d/lbsync.conf", http.replace("proxy_read_timeout 3900s", "proxy_read_timeout 60s", 1))
    assert "proxy_read_timeout 3900s" in http
    code, out, _ = run("audit", model, "--nginx", drifted, "--json")
    diff = json.loads(out)["load_balancers"][0]["diff"]
    assert code == 1 and "proxy_read_timeout 60s;" in diff and "+" in diff


def test_audit_help_points_to_f5_plan():
    code, out, _ = run("audit", "--help")
    assert code == 0 and "lbsync f5 plan" in out
