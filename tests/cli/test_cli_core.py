"""The core commands as a user runs them: validate, plan (table and --json), schema, init; exit codes and errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support.cli import run_cli
from support.paths import ROOT  # noqa: E402
from support.plans import model_dict

from lbsync.cli import main

PROFILES = ROOT / "profiles"


def lbsync(*args, cwd=None, env=None):
    """The command line, in process (support.cli); the real process is run where only a process can show it."""
    return run_cli(*args, cwd=cwd, env={"COLUMNS": "200", **(env or {})})


def write_model(tmp_path, data, name="lbsync.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- validate -------------------------------------------------------------------------------------------------

def test_validate_ok(tmp_path):
    path = write_model(tmp_path, model_dict(2013, "offload"))
    proc = lbsync("validate", path)
    assert proc.returncode == 0, proc.stderr
    # 9 routes: 7 services + MRSProxy + /owa/Integrated
    assert proc.stdout.strip() == f"{path}: valid — 2 namespace(s), 2 server(s), 9 route(s)"
    assert proc.stderr == ""


def test_validate_defaults_to_lbsync_yaml_in_the_current_folder(tmp_path):
    write_model(tmp_path, model_dict(2013, "offload"))
    proc = lbsync("validate", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("lbsync.yaml: valid")


def test_validate_error_finding_exits_2_with_its_position(tmp_path):
    path = write_model(tmp_path, model_dict(2016, "offload"))
    line = path.read_text().splitlines().index("  default: offload") + 1
    proc = lbsync("validate", path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"{path}:{line}:12: error: [offload-unsupported] Exchange 2016 does not support")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_validate_allow_turns_the_error_into_a_warning(tmp_path):
    path = write_model(tmp_path, model_dict(2016, "offload"))
    proc = lbsync("validate", path, "--allow", "offload-unsupported")
    assert proc.returncode == 0, proc.stderr
    assert ": warning: [offload-unsupported]" in proc.stderr and "(allowed)" in proc.stderr


def test_allow_unknown_code_is_a_usage_error(tmp_path):
    path = write_model(tmp_path, model_dict(2016, "offload"))
    proc = lbsync("validate", path, "--allow", "offload-unsuported")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: --allow: unknown finding code 'offload-unsuported' "
                                   "(did you mean 'offload-unsupported'?)")


def test_allow_unallowable_code_is_refused(tmp_path):
    path = write_model(tmp_path, model_dict(2016, "bridge"))
    proc = lbsync("plan", path, "--allow", "passthrough-mixed")
    assert proc.returncode == 2
    assert "--allow: 'passthrough-mixed' cannot be allowed" in proc.stderr
    assert proc.stdout == ""


def test_validate_prints_warnings_but_not_infos(tmp_path):
    data = model_dict(2019, "bridge", cu=14)
    path = write_model(tmp_path, data)
    proc = lbsync("validate", path)
    assert proc.returncode == 0
    assert "warning: [ep-same-certificate]" in proc.stderr
    assert "server-ca-system" not in proc.stderr  # an info


# --- plan -----------------------------------------------------------------------------------------------------

def test_plan_json_matches_the_contract(tmp_path):
    path = write_model(tmp_path, model_dict(2013, "offload", mrsproxy=True))
    proc = lbsync("plan", path, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {"services", "outlook_anywhere", "findings"} <= set(doc)
    for s in doc["services"]:
        assert {"namespace", "service", "mode", "backend", "health_url", "exchange"} <= set(s)
        assert set(s["backend"]) == {"scheme", "port"}
        assert {"locations", "app_pools"} <= set(s["exchange"])
    by = {(s["namespace"], s["service"]): s for s in doc["services"]}
    owa = by[("mail.contoso.com", "owa")]
    assert owa["mode"] == "offload" and owa["backend"] == {"scheme": "http", "port": 80}
    assert owa["health_url"] == "/owa/healthcheck.htm"
    assert owa["exchange"]["locations"] == {"Default Web Site/owa": "None", "Default Web Site/owa/Integrated": "None",
                                            "Default Web Site/owa/oma": "None", "Default Web Site/owa/Calendar": "None"}
    assert owa["exchange"]["app_pools"] == ["MSExchangeOWAAppPool"]
    mrs = by[("mail.contoso.com", "mrsproxy")]
    assert mrs["mode"] == "bridge" and mrs["backend"] == {"scheme": "https", "port": 443}
    assert by[("autodiscover.contoso.com", "autodiscover")]["health_url"] == "/Autodiscover/healthcheck.htm"
    assert doc["outlook_anywhere"]["ssl_offloading"] is True
    assert {"level": "info", "code": "mrsproxy-bridged"}.items() <= doc["findings"][0].items()
    for f in doc["findings"]:
        assert {"level", "code", "message"} <= set(f)


def test_plan_json_with_an_error_still_prints_and_exits_2(tmp_path):
    path = write_model(tmp_path, model_dict(2016, "offload"))
    proc = lbsync("plan", path, "--json")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert [f["code"] for f in doc["findings"] if f["level"] == "error"] == ["offload-unsupported"]
    assert "error: [offload-unsupported]" in proc.stderr


def test_plan_table(tmp_path):
    path = write_model(tmp_path, model_dict(2013, "offload", cu=23, mrsproxy=True))
    proc = lbsync("plan", path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Exchange 2013 CU23, Extended Protection off, servers: EX01, EX02" in out
    assert "mail.contoso.com — listen 203.0.113.10:443" in out
    assert "autodiscover.contoso.com — listen 203.0.113.10:443" in out
    assert out.index("mrsproxy") < out.index("│ ews ")  # longest prefix first
    assert "Default Web Site/Microsoft-Server-ActiveSync" in out
    assert "Outlook Anywhere: -SSLOffloading $true" in out
    assert "OAB: Set-OabVirtualDirectory -RequireSSL $false" in out
    assert "MRSProxy: Set-WebServicesVirtualDirectory -MRSProxyEnabled $true" in out
    assert "Exchange Back End" not in out
    assert "\x1b[" not in out  # no colour codes when not a terminal


def test_plan_bad_model_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "lbsync.yaml"
    path.write_text("version: 1\nexchange: {version: 2016}\nservers: []\nnamespaces: []\n")
    proc = lbsync("plan", path, "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"{path}:3:10: error: must not be empty, at servers",
                                        f"{path}:4:13: error: must not be empty, at namespaces"]


# --- schema ---------------------------------------------------------------------------------------------------

def test_schema_prints_json(tmp_path):
    proc = lbsync("schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["title"].startswith("lbsync model")


# --- init -----------------------------------------------------------------------------------------------------

def test_init_list(tmp_path):
    proc = lbsync("init", "--list")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    names = [line.split()[0] for line in lines]
    # Subscription Edition first (the default), then the others by name
    assert names[0] == "exchange-se" and lines[0].endswith("(the default)")
    assert names[1:] == sorted(p.stem for p in PROFILES.glob("*.yaml") if p.stem != "exchange-se")
    assert "exchange2013-offload" in names
    for line in lines:
        assert len(line.split(None, 1)) == 2, f"no summary: {line}"
    # the summaries start in one column, whatever the longest name
    starts = {len(line) - len(line.split(None, 1)[1]) for line in lines}
    assert len(starts) == 1 and starts.pop() == max(len(n) for n in names) + 2


def test_init_writes_the_profile_and_it_validates(tmp_path):
    proc = lbsync("init", "--profile", "exchange2013-offload", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "lbsync.yaml"
    assert out.read_text() == (PROFILES / "exchange2013-offload.yaml").read_text()
    assert lbsync("validate", cwd=tmp_path).returncode == 0


def test_init_output_option_creates_folders(tmp_path):
    out = tmp_path / "site" / "model.yaml"
    proc = lbsync("init", "-p", "exchange2016-bridge", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (PROFILES / "exchange2016-bridge.yaml").read_text()
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)


def test_init_refuses_to_overwrite(tmp_path):
    out = tmp_path / "lbsync.yaml"
    out.write_text("mine\n")
    proc = lbsync("init", "--profile", "exchange2016-bridge", "-o", out)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{out}: error: the file exists; pass --force to overwrite it"
    assert out.read_text() == "mine\n"
    proc = lbsync("init", "--profile", "exchange2016-bridge", "-o", out, "--force")
    assert proc.returncode == 0
    assert out.read_text() == (PROFILES / "exchange2016-bridge.yaml").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["lbsync.yaml"]  # no temporary file left behind


def test_init_unknown_profile(tmp_path):
    proc = lbsync("init", "--profile", "exchange2016", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no profile 'exchange2016' (did you mean 'exchange2016-bridge'?" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_profile_name_is_never_a_path(tmp_path):
    (tmp_path / "evil.yaml").write_text("version: 1\n")
    proc = lbsync("init", "--profile", str(tmp_path / "evil"), "-o", tmp_path / "out.yaml")
    assert proc.returncode == 2 and "no profile" in proc.stderr
    assert not (tmp_path / "out.yaml").exists()


def test_init_without_a_profile_writes_the_subscription_edition_model(tmp_path):
    proc = lbsync("init", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "lbsync.yaml"
    assert out.read_text() == (PROFILES / "exchange-se.yaml").read_text()
    assert "exchange:\n  version: SE" in out.read_text()
    assert "from profile exchange-se" in proc.stdout


def test_init_into_a_folder_is_refused(tmp_path):
    proc = lbsync("init", "-p", "exchange2016-bridge", "-o", tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_init_unwritable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # running as root: make the parent a file instead
            target = tmp_path / "afile" / "x.yaml"
            (tmp_path / "afile").write_text("")
        else:
            target = locked / "x.yaml"
        proc = lbsync("init", "-p", "exchange2016-bridge", "-o", target)
        assert proc.returncode == 2
        assert proc.stderr.startswith(f"{target}: error: cannot write: "), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr
    finally:
        locked.chmod(0o700)


# --- error mapping (LbsyncGroup) ------------------------------------------------------------------------------

def test_usage_error_exits_2():
    proc = lbsync("plan", "--no-such-option")
    assert proc.returncode == 2 and "No such option" in proc.stderr


def test_internal_error_is_one_line_exit_3(tmp_path, monkeypatch):
    path = write_model(tmp_path, model_dict(2016, "bridge"))

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr("lbsync.plan.build_plan", broken)
    monkeypatch.delenv("LBSYNC_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 3
    assert result.stderr.strip() == "lbsync: internal error: RuntimeError: boom (set LBSYNC_DEBUG=1 for a traceback)"
    assert "Traceback" not in result.output


def test_interrupt_exits_130(tmp_path, monkeypatch):
    path = write_model(tmp_path, model_dict(2016, "bridge"))

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("lbsync.plan.build_plan", interrupted)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 130 and result.stderr.strip() == "aborted"


def test_version_and_help():
    assert lbsync("--version").stdout.startswith("lbsync, version ")
    proc = lbsync("--help")
    assert proc.returncode == 0
    for command in ("validate", "plan", "render", "schema", "init"):
        assert command in proc.stdout


def test_help_lists_every_exit_code():
    text = " ".join(lbsync("--help").stdout.split())
    for code, meaning in (("0", "success"), ("1", "a check found problems"), ("2", "bad input or usage"),
                          ("3", "an internal error")):
        assert f"{code} {meaning}" in text


@pytest.mark.parametrize("args", [("plan",), ("plan", "--json"), ("schema",), ("validate",)],
                         ids=["plan", "plan-json", "schema", "validate"])
def test_a_reader_that_went_away_is_not_an_error(tmp_path, args):
    """stdout is a pipe nobody reads (its read end closed before lbsync writes): exit 0, stderr as without the
    pipe (validate's warnings), no word about the pipe."""
    import subprocess
    import sys
    command = [sys.executable, "-m", "lbsync", *args, *([] if args == ("schema",) else [PROFILES / "exchange-se.yaml"])]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60, cwd=tmp_path)
    finally:
        os.close(write_end)
    normal = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert normal.returncode == 0 and normal.stdout
    assert (proc.returncode, proc.stderr) == (0, normal.stderr)


def test_plan_piped_into_head(tmp_path):
    import subprocess
    import sys
    script = f"set -o pipefail; {sys.executable} -m lbsync plan {PROFILES / 'exchange-se.yaml'} | head -1"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("Exchange SE RTM") and proc.stdout.count("\n") == 1


def test_schema_to_a_file_is_utf8_and_the_same_document(tmp_path):
    out = tmp_path / "lbsync.schema.json"
    proc = lbsync("schema", "-o", out)
    assert proc.returncode == 0 and proc.stdout.strip() == f"wrote {out}"
    raw = out.read_bytes()
    assert not raw.startswith((b"\xff\xfe", b"\xef\xbb\xbf"))
    assert json.loads(raw.decode("utf-8")) == json.loads(lbsync("schema").stdout)


def test_modeline_does_not_disturb_the_model(tmp_path):
    """The yaml-language-server modeline is a comment: lbsync reads the model as before."""
    path = write_model(tmp_path, model_dict(2013, "offload"))
    path.write_text("# yaml-language-server: $schema=lbsync.schema.json\n" + path.read_text())
    assert lbsync("validate", path).returncode == 0


def test_the_render_command_offers_exactly_the_registered_targets():
    """cli/render.py lists the --target choices without importing the targets (so --help stays fast): the list and
    the registry must agree (docs/architecture.md, adding a load balancer)."""
    from lbsync.cli.render import TARGET_NAMES
    from lbsync.targets import TARGETS
    assert TARGET_NAMES == list(TARGETS)


_LINE = __import__("re").compile(r"^(?P<file>.+?)(?::(?P<line>\d+):(?P<col>\d+))?: (?P<level>error|warning): "
                                 r"(?:\[(?P<code>[a-z0-9-]+)\] )?(?P<message>.*?)(?:, at (?P<key>\S+))?$")


@pytest.mark.parametrize("model", [*sorted(PROFILES.glob("*.yaml")), ROOT / "tests/bad_models/bad_enum_service.yaml",
                                   ROOT / "tests/bad_models/dup_server.yaml", "nginx-ntlm-without-targets"],
                         ids=lambda p: getattr(p, "stem", p))
def test_validate_json_holds_what_the_text_form_prints(tmp_path, model):
    if model == "nginx-ntlm-without-targets":
        data = model_dict(2016, "bridge")
        data.pop("targets", None)
        model = write_model(tmp_path, data)
    text = lbsync("validate", model)
    js = lbsync("validate", "--json", model)
    assert js.returncode == text.returncode and js.stderr == ""
    doc = json.loads(js.stdout)
    assert doc["format"] == "lbsync-validate" and doc["valid"] == (text.returncode == 0)
    lines = [_LINE.match(line) for line in text.stderr.splitlines()]
    assert all(lines), text.stderr
    want = sorted((m["level"], m["code"], m["file"], int(m["line"]) if m["line"] else None, m["message"])
                  for m in lines)
    got = sorted((p["level"], p["code"], p["file"], p["line"], p["message"]) for p in doc["problems"])
    assert got == want
    if doc["valid"]:
        assert doc["summary"]["servers"] >= 1 and f"{doc['summary']['routes']} route(s)" in text.stdout


def test_validate_json_names_the_missing_model_and_the_unknown_allow(tmp_path):
    js = lbsync("validate", "--json", tmp_path / "nope.yaml")
    doc = json.loads(js.stdout)
    assert js.returncode == 2 and js.stderr == "" and doc["valid"] is False
    assert doc["problems"][0]["file"] == str(tmp_path / "nope.yaml") and "not found" in doc["problems"][0]["message"]
    js = lbsync("validate", "--json", "--allow", "nginx-ntlmm", PROFILES / "exchange-se.yaml")
    assert js.returncode == 2 and "did you mean 'nginx-ntlm'" in json.loads(js.stdout)["problems"][0]["message"]
