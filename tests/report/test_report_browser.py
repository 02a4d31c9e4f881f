"""report.html in a real headless Chromium (tests/support/browser.py, the DevTools protocol over a pipe): each
report loads without a console error and without a single network request, a screenshot is taken, and the
rendered page is asserted on — every namespace, route, pool and server of the model drawn, MRSProxy a separate
re-encrypted route, no two labels overlapping (their real bounding boxes), drift rows when evidence drifts, light
and dark mode, landscape print, no colour-only distinction, hostile values inert. One browser for the module."""

from __future__ import annotations

import re
import struct

import pytest
from support.auditing import CU_RESET, applied, cu_reset, model_text, write
from support.browser import Browser
from support.cli import run_cli
from support.paths import ROOT
from support.reports import (
    BOXES_JS,
    HOSTILE_HOST,
    HOSTILE_SERVER,
    MAIL_MODEL,
    MEASURE_JS,
    PROFILES,
    UNREACHED_MODEL,
    big_model,
    expected_names,
    hostile_plan,
    plan_at,
    write_model,
)

from lbsync.cli.common import load_plan
from lbsync.output.text import printable
from lbsync.report import build_report, for_render

pytestmark = pytest.mark.browser

EXAMPLE = ROOT / "profiles" / "exchange2013-offload.yaml"
PNG = b"\x89PNG\r\n\x1a\n"
EXTRA = {"big-20x12": big_model(), "mail": MAIL_MODEL, "unreached": UNREACHED_MODEL}
NAMES = [p.stem for p in PROFILES] + list(EXTRA)


@pytest.fixture(scope="module")
def browser():
    with Browser() as b:
        yield b


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict:
    """name -> (model path, report path): `lbsync report` of each bundled profile and of the extra models."""
    folder = tmp_path_factory.mktemp("reports")
    models = {p.stem: p for p in PROFILES}
    models.update({name: write_model(folder, f"{name}.yaml", data) for name, data in EXTRA.items()})
    out = {}
    for name, model in models.items():
        page = folder / f"{name}.html"
        ran = run_cli("report", model, "-o", page)
        assert ran.returncode == 0, ran.stderr
        out[name] = (model, page)
    return out


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", NAMES)
def test_each_report_loads_clean_draws_the_whole_model_and_no_labels_overlap(browser, reports, name, tmp_path):
    model, path = reports[name]
    plan = plan_at(model)
    page = browser.open(path, width=1440, height=900)
    try:
        assert page.errors == []
        assert page.requests == [path.resolve().as_uri()] and page.other_requests == []
        assert page.evaluate("document.scripts.length") == 0
        width, height = _png_size(page.screenshot(tmp_path / f"{name}.png", full=False))
        assert (width, height) == (1440, 900) and (tmp_path / f"{name}.png").stat().st_size > 10_000
        boxes = page.evaluate(BOXES_JS)
        drawn: dict[str, set[str]] = {}
        for b in boxes:
            drawn.setdefault(b["kind"], set()).add(b["name"])
        for kind, names in expected_names(plan).items():
            assert names <= drawn.get(kind, set()), (kind, sorted(names - drawn.get(kind, set())))
        for svc in plan.services:
            (box,) = [b for b in boxes if b["kind"] == "route" and b["name"] == f"{svc.namespace} {svc.service}"]
            assert box["mode"] == svc.mode
            if svc.mrsproxy:
                assert box["mode"] == "bridge" and "separate" in box["cls"].split()
                assert box["texts"][1].startswith("re-encrypt") and "separate route (MRSProxy)" in box["texts"]
        measured = page.evaluate(MEASURE_JS)
        assert measured["figures"] and all(f["texts"] > 0 for f in measured["figures"])
        assert measured["overlaps"] == [], measured["overlaps"][:5]
        assert measured["outside"] == [], measured["outside"][:5]
    finally:
        page.close()


def test_the_bundled_example_marks_mrsproxy_reencrypted_and_the_rest_offloaded(browser, reports):
    page = browser.open(reports["exchange2013-offload"][1])
    try:
        routes = {b["name"]: b for b in page.evaluate(BOXES_JS) if b["kind"] == "route"}
        assert routes["mail.contoso.com mrsproxy"]["mode"] == "bridge"
        assert {r["mode"] for n, r in routes.items() if n != "mail.contoso.com mrsproxy"} == {"offload"}
        labels = page.evaluate("[...document.querySelectorAll('svg.diagram text.edge-label')].map(t => t.textContent)")
        assert labels.count("HTTPS :443") == 1 and labels.count("plain HTTP :80") == len(routes) - 1
        assert "TLS :443" in labels
    finally:
        page.close()


def test_drift_rows_appear_when_evidence_drifts(browser, tmp_path):
    model = tmp_path / "lbsync.yaml"
    model.write_text(model_text(2013, "offload"))
    plan = load_plan(str(model))
    ex02 = cu_reset(applied(plan, "EX02")[0], CU_RESET)
    out = tmp_path / "report.html"
    ex01 = applied(plan, "EX01")[0]
    ran = run_cli("report", model, "-o", out, "--apphost", f"EX01={write(tmp_path, '1.config', ex01)}",
                  "--apphost", f"EX02={write(tmp_path, '2.config', ex02)}")
    assert ran.returncode == 0, ran.stderr
    page = browser.open(out)
    try:
        assert page.errors == [] and page.other_requests == []
        rows = page.evaluate("""[...document.querySelectorAll('tr.drift-row')].map(r => ({
            cells: [...r.cells].map(c => c.textContent), bg: getComputedStyle(r.cells[4]).backgroundColor}))""")
        assert sorted(r["cells"][1] for r in rows) == sorted(CU_RESET)
        assert {(r["cells"][0], r["cells"][2], r["cells"][3], r["cells"][4]) for r in rows} == {
            ("EX02", "None", "Ssl, Ssl128", "ssl-still-required")}
        red, green, _ = map(int, re.findall(r"\d+", rows[0]["bg"])[:3])
        assert red > green                                   # coloured as a problem ...
        servers = {b["name"]: b for b in page.evaluate(BOXES_JS) if b["kind"] == "server"}
        assert "bad" in servers["EX02"]["cls"].split() and "drift: 4" in servers["EX02"]["texts"]   # ... and said
        assert "good" in servers["EX01"]["cls"].split() and "in sync" in servers["EX01"]["texts"]
        assert page.evaluate(MEASURE_JS)["overlaps"] == []
    finally:
        page.close()


def _rgb(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", text)[:3])


def test_light_and_dark_mode_follow_the_system(browser, reports):
    path = reports["exchange2013-offload"][1]
    probe = """[getComputedStyle(document.documentElement).backgroundColor,
                getComputedStyle(document.querySelector('svg.diagram g.route text')).fill,
                getComputedStyle(document.querySelector('svg.diagram g.route rect.box')).fill]"""
    seen = {}
    for dark in (False, True):
        page = browser.open(path, dark=dark)
        try:
            seen[dark] = [_rgb(v) for v in page.evaluate(probe)]
        finally:
            page.close()
    (bg_light, text_light, box_light), (bg_dark, text_dark, box_dark) = seen[False], seen[True]
    assert sum(bg_light) > 700 and sum(bg_dark) < 150
    assert sum(text_light) < 200 and sum(text_dark) > 500       # the text stays readable on each
    assert box_light != box_dark


def test_modes_differ_by_pattern_and_word_not_by_colour_alone(browser, reports):
    page = browser.open(reports["outlook-anywhere-passthrough"][1])       # offload-free: bridge + passthrough
    try:
        styles = page.evaluate("""Object.fromEntries(['client', 'plain', 'reencrypt', 'passthrough', 'inner'].map(c => {
            const s = getComputedStyle(document.querySelector('ul.legend path.edge.' + c));
            return [c, [s.strokeDasharray, s.strokeWidth]];
        }))""")
        assert len({tuple(v) for v in styles.values()}) == 5, styles    # five distinct line styles (the legend)
        drawn = page.evaluate("[...new Set([...document.querySelectorAll('svg.diagram path.edge')].map(p => "
                              "p.getAttribute('class') + ' ' + getComputedStyle(p).strokeDasharray))]")
        assert {d.split(" ", 2)[1] for d in drawn} == {"client", "inner", "reencrypt", "passthrough", "trunk"}
        # grey scale: every mode's line still says what it is in words
        page.call("Emulation.setEmulatedVisionDeficiency", {"type": "achromatopsia"})
        labels = page.evaluate("[...document.querySelectorAll('svg.diagram text.edge-label')].map(t => t.textContent)")
        assert "HTTPS :443" in labels and "client's TLS :443" in labels
    finally:
        page.close()


def _pdf_pages(data: bytes) -> list[tuple[float, float]]:
    assert data.startswith(b"%PDF-")
    return [(float(w), float(h)) for w, h in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)]


@pytest.mark.parametrize("paper", [(8.27, 11.69), (8.5, 11.0)], ids=["A4", "Letter"])
def test_it_prints_landscape_on_a4_and_letter(browser, reports, paper):
    page = browser.open(reports["exchange2013-offload"][1])
    try:
        pages = _pdf_pages(page.pdf(preferCSSPageSize=True, paperWidth=paper[0], paperHeight=paper[1],
                                    printBackground=True))
        assert pages and all(w > h for w, h in pages)
        assert all(abs(w / 72 - paper[1]) < 0.02 and abs(h / 72 - paper[0]) < 0.02 for w, h in pages)
        page.emulate(media="print")
        width = page.evaluate("document.querySelector('svg.diagram').getBoundingClientRect().width")
        body = page.evaluate("document.body.getBoundingClientRect().width")
        assert width <= body + 0.5                          # the diagram fits the printed width
    finally:
        page.close()


def test_hostile_names_stay_text_in_the_browser(browser, tmp_path):
    out = tmp_path / "hostile.html"
    out.write_text(build_report(for_render(hostile_plan(plan_at(EXAMPLE)))), encoding="utf-8")
    page = browser.open(out)
    try:
        assert page.errors == [] and page.other_requests == []    # no script ran, no image or frame was fetched
        assert page.evaluate("document.querySelectorAll('script, img, iframe, foreignObject, style').length") == 1
        ns = page.evaluate("""(() => { const g = [...document.querySelectorAll('g[data-kind=namespace]')][0];
                                       return [g.dataset.name, g.querySelector('text').textContent]; })()""")
        assert ns == [printable(HOSTILE_HOST)] * 2
        servers = page.evaluate("[...document.querySelectorAll('g[data-kind=server]')].map(g => g.dataset.name)")
        assert HOSTILE_SERVER in servers
        assert page.evaluate(MEASURE_JS)["outside"] == []
    finally:
        page.close()


NASTY = ["x<img src=x onerror=alert(1)><script>alert(2)<.yaml", "a\nb \x1b[2J.yaml", "\u202eenil.yaml"]


@pytest.mark.parametrize("name", NASTY)
def test_a_nasty_model_file_name_is_shown_as_text(browser, tmp_path, name):
    folder = tmp_path / "m"
    folder.mkdir()
    model = folder / name
    model.write_text(EXAMPLE.read_text())
    out = tmp_path / "report.html"
    assert run_cli("report", model, "-o", out).returncode == 0
    page = browser.open(out)
    try:
        assert page.errors == [] and page.evaluate("document.scripts.length") == 0
        assert page.evaluate("document.getElementById('model-file').textContent") == printable(str(model))
        assert page.evaluate("document.title") == f"lbsync report: {printable(str(model))}"
    finally:
        page.close()
