"""`lbsync report` and the report.html `render` writes, as a user runs them (no browser here: the page's text and
structure; tests/report/test_report_browser.py opens it in Chromium)."""

from __future__ import annotations

import hashlib
import json
from html.parser import HTMLParser

import yaml
from support.auditing import CU_RESET, applied, cu_reset, model_text, write
from support.cli import run_cli
from support.paths import ROOT
from support.reports import write_model

from lbsync.cli.common import load_plan
from lbsync.output.writer import MANIFEST

EXAMPLE = ROOT / "profiles" / "exchange2013-offload.yaml"
PW = "Ex-port-123!"


class _Page(HTMLParser):
    """The page's elements (tag, attributes) and text by element id."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.by_id: dict[str, str] = {}
        self._open: list[str | None] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag not in ("meta", "link", "rect", "path", "line", "circle", "br", "img", "input"):
            self._open.append(attrs.get("id"))
            if attrs.get("id"):
                self.by_id[attrs["id"]] = ""

    def handle_endtag(self, tag):
        if self._open and tag not in ("meta", "link", "rect", "path", "line", "circle"):
            self._open.pop()

    def handle_data(self, data):
        for ident in self._open:
            if ident:
                self.by_id[ident] += data

    def rows(self, cls: str) -> list[dict]:
        return [a for t, a in self.tags if t == "tr" and cls in (a.get("class") or "").split()]


def test_report_writes_one_page_with_the_models_digest_version_and_time(tmp_path):
    out = tmp_path / "r" / "report.html"
    ran = run_cli("report", EXAMPLE, "-o", out, env={"SOURCE_DATE_EPOCH": "1767225600"})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"wrote {out}\n"
    page = _Page(out.read_text(encoding="utf-8"))
    assert page.by_id["model-sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert page.by_id["model-file"] == str(EXAMPLE)
    assert page.by_id["generated"] == "2026-01-01 00:00:00 UTC"
    assert ("meta", {"name": "generator", "content": "lbsync 0.1.0"}) in page.tags
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert csp.startswith("default-src 'none';") and "script-src" not in csp
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed", "img", "link")
                and not (t == "link" and _ == {"rel": "icon", "href": "data:,"})]
    # the page says what it did not check, and why
    states = {a.get("data-state") for a in page.rows("checked-row")}
    assert states == {"good", "unknown"}
    text = out.read_text(encoding="utf-8")
    assert "no evidence given: --apphost SERVER=FILE" in text and "not asked for: --probe" in text


def test_every_route_row_shows_the_plans_mode(tmp_path):
    out = tmp_path / "report.html"
    assert run_cli("report", EXAMPLE, "-o", out).returncode == 0
    plan = load_plan(str(EXAMPLE))
    rows = _Page(out.read_text(encoding="utf-8")).rows("route-row")
    assert [r["data-mode"] for r in rows] == [s.mode for ns in plan.namespaces for s in ns.services]


def test_render_writes_a_reproducible_report_listed_in_its_manifest(tmp_path):
    out = tmp_path / "out"
    ran = run_cli("render", EXAMPLE, "-o", out)
    assert ran.returncode == 0 and f"wrote {out}/report.html" in ran.stdout
    manifest = json.loads((out / MANIFEST).read_text())
    assert "report.html" in manifest["files"]
    page = _Page((out / "report.html").read_text(encoding="utf-8"))
    assert page.by_id["generated"].startswith("not recorded: written by lbsync render")
    assert page.by_id["model-sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    ran = run_cli("render", EXAMPLE, "-o", out, "--diff", "--exit-code")
    assert ran.returncode == 0 and ran.stdout.strip() == "no differences"     # no time, no wall clock in it
    # a changed model changes the report too (and only what changed shows in the diff)
    data = yaml.safe_load(EXAMPLE.read_text())
    data["servers"][1]["name"] = "EX03"
    changed = write_model(tmp_path, "changed.yaml", data)
    ran = run_cli("render", changed, "-o", out, "--diff")
    assert f"+++ {out}/report.html" in ran.stdout and "EX03" in ran.stdout


def test_templates_override_the_report_too(tmp_path):
    tdir = tmp_path / "t" / "report"
    tdir.mkdir(parents=True)
    (tdir / "report.html.j2").write_text("<p>{{ file }} {{ routes | length }}</p>\n")
    out = tmp_path / "report.html"
    assert run_cli("report", EXAMPLE, "-o", out, "--templates", tmp_path / "t").returncode == 0
    assert out.read_text() == f"<p>{EXAMPLE} 10</p>\n"


def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path):
    out = tmp_path / "report.html"
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("version: 1\n", "version: 2\n", 1))
    for args, what in (((bad,), "bad.yaml:"),
                       ((EXAMPLE, "--apphost", "EX01=/nonexistent/applicationHost.config"), "no such file"),
                       ((EXAMPLE, "--apphost", "EX09=x.config"), "EX09"),
                       ((EXAMPLE, "--password-env", "LBSYNC_T_NOT_SET"), "LBSYNC_T_NOT_SET"),
                       ((tmp_path / "missing.yaml",), "model file not found")):
        ran = run_cli("report", *args, "-o", out)
        assert ran.returncode == 2, (args, ran.stderr)
        assert len(ran.stderr.strip().splitlines()) == 1 and what in ran.stderr, ran.stderr
        assert "Traceback" not in ran.stderr and not out.exists()
    out.mkdir()
    ran = run_cli("report", EXAMPLE, "-o", out)
    assert ran.returncode == 2 and "Traceback" not in ran.stderr


def _audit_setup(tmp_path, drifted: bool):
    tmp_path.mkdir(parents=True, exist_ok=True)
    model = tmp_path / "lbsync.yaml"
    model.write_text(model_text(2013, "offload"))
    plan = load_plan(str(model))
    ex02 = applied(plan, "EX02")[0]
    if drifted:
        ex02 = cu_reset(ex02, CU_RESET)
    return model, ["--apphost", f"EX01={write(tmp_path, '1.config', applied(plan, 'EX01')[0])}",
                   "--apphost", f"EX02={write(tmp_path, '2.config', ex02)}"]


def test_evidence_drift_becomes_rows_with_their_codes_and_exit_stays_0(tmp_path):
    model, specs = _audit_setup(tmp_path, drifted=True)
    out = tmp_path / "report.html"
    ran = run_cli("report", model, *specs, "-o", out)
    assert ran.returncode == 0, ran.stderr       # the page is the result; `lbsync audit` is the check with exit 1
    page = _Page(out.read_text(encoding="utf-8"))
    rows = page.rows("drift-row")
    assert sorted((r["data-server"], r["data-code"]) for r in rows) == [("EX02", "ssl-still-required")] * len(CU_RESET)
    cells = [a for t, a in page.tags if t == "td" and "evidence" in (a.get("class") or "")]
    assert sum(c["data-state"] == "bad" for c in cells) == len(CU_RESET)
    assert {c["data-state"] for c in cells} >= {"good", "bad", "unknown"}   # in sync, drift, not checked (OA)
    in_sync, specs = _audit_setup(tmp_path / "ok", drifted=False)
    ran = run_cli("report", in_sync, *specs, "-o", out)
    page = _Page(out.read_text(encoding="utf-8"))
    assert ran.returncode == 0 and page.rows("drift-row") == [] and "in-sync" in page.by_id


def _cert_model(tmp_path, pki, env: str | None) -> tuple:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "mail.pfx").write_bytes(pki.pfx(PW.encode()))
    (tmp_path / "ca.pem").write_bytes(pki.root.cert_pem())
    data = yaml.safe_load(EXAMPLE.read_text())
    data["tls"]["server_ca"] = "ca.pem"
    data["certificate"] = {"pfx": "mail.pfx", **({"password_env": env} if env else {})}
    return write_model(tmp_path, "lbsync.yaml", data)


def test_the_certificate_check_when_the_password_is_there_and_a_reason_when_not(tmp_path, pki):
    model = _cert_model(tmp_path / "a", pki, "LBSYNC_T_REPORT_PW")
    out = tmp_path / "report.html"
    ran = run_cli("report", model, "-o", out, env={"LBSYNC_T_REPORT_PW": PW})
    assert ran.returncode == 0, ran.stderr
    page = _Page(out.read_text(encoding="utf-8"))
    checks = [a["data-check"] for a in page.rows("cert-check")]
    assert checks[:3] == ["load", "key-match", "san-coverage"] and "chain" in checks
    assert "certificate-not-checked" not in page.by_id
    # no password in the environment and no terminal to ask on: the page says so, the command still succeeds
    ran = run_cli("report", model, "-o", out, env={"LBSYNC_T_REPORT_PW": None})
    page = _Page(out.read_text(encoding="utf-8"))
    assert ran.returncode == 0 and page.rows("cert-check") == []
    reason = page.by_id["certificate-not-checked"]
    assert "could not be checked" in reason and "LBSYNC_T_REPORT_PW" in reason and PW not in reason
    assert "warning: certificate could not be checked" in ran.stderr
    # a model without certificate: says that
    ran = run_cli("report", EXAMPLE, "-o", out)
    assert "the model has no certificate: section" in _Page(out.read_text()).by_id["certificate-not-checked"]


def _refusing_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connecting is refused at once)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


def test_probe_results_are_shown_per_check_and_per_server(tmp_path):
    port = _refusing_port()
    data = yaml.safe_load(EXAMPLE.read_text())
    data["servers"] = [{"name": "EX01", "address": "127.0.0.2", "http_port": port, "https_port": _refusing_port()}]
    data["namespaces"] = [{"host": "mail.contoso.com", "vip": "127.0.0.3", "port": _refusing_port(),
                           "services": ["owa", "ews"]}]
    model = write_model(tmp_path, "lbsync.yaml", data)
    out = tmp_path / "report.html"
    ran = run_cli("report", model, "-o", out, "--probe", "--timeout", "2")
    assert ran.returncode == 0, ran.stderr
    page = _Page(out.read_text(encoding="utf-8"))
    rows = page.rows("probe-row")
    assert rows and {r["data-ok"] for r in rows} == {"no"}        # nothing answers: every check failed, and says so
    text = out.read_text(encoding="utf-8")
    assert "cannot connect" in text and f"{len(rows)} check(s) through the VIPs and on each server: " \
                                          f"{len(rows)} failed" in text
    assert "probe: " in text and " failed</text>" in text          # under the server in the diagram


def test_a_model_with_error_findings_still_gets_its_page_with_the_errors_located(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["targets"] = {"nginx": {}}        # NTLM routes through NGINX open source: error nginx-ntlm
    model = write_model(tmp_path, "lbsync.yaml", data)
    assert run_cli("render", model, "-o", tmp_path / "out").returncode == 2        # render refuses ...
    out = tmp_path / "report.html"
    ran = run_cli("report", model, "-o", out)
    assert ran.returncode == 0, ran.stderr                                          # ... the page shows why
    page = _Page(out.read_text(encoding="utf-8"))
    assert [a["data-code"] for t, a in page.tags if t == "tr" and a.get("data-code") == "nginx-ntlm"] == ["nginx-ntlm"]
    text = out.read_text(encoding="utf-8")
    assert '<td class="state bad">error</td><td class="mono">nginx-ntlm</td>' in text and f"{model}:" in text
    assert {a.get("data-state") for a in page.rows("checked-row")} >= {"bad"}      # model and plan: errors
