"""report.html: the Plan and what was checked against it, as one self-contained page (templates/report/).

This module turns the Plan and the gathered results into rows and figures; the template lays them out. The page's
Jinja environment escapes every value for HTML (output.text.html, through `finalize`, with autoescape on behind
it), so no value of the model, of evidence or of a server's answer can open an element or an attribute; the page
carries a Content-Security-Policy that allows no script and no fetch at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from markupsafe import Markup

from .. import __version__
from ..audit.drift import expected_settings
from ..output import env
from ..output.env import render_template
from ..output.text import html
from ..plan.types import ExchangePlan, Plan
from . import diagram, svg
from .gather import ReportInputs

TEMPLATE = "report/report.html.j2"
LEVEL_CLASS = {"error": "bad", "warning": "unknown", "info": "neutral"}
CERT_CLASS = {"ok": "good", "warn": "unknown", "fail": "bad"}


def _finalize(value: object) -> Markup:
    """Every `{{ value }}` of the page: already-built markup as it is, anything else through output.text.html."""
    if isinstance(value, Markup):
        return value
    if type(value) in (int, float):     # the drawing's coordinates: digits, sign, point; autoescape keeps them
        return str(value)
    return Markup(html(str(value)))


def environment(user_dir: str | Path | None = None) -> jinja2.Environment:
    """The page's environment: the shipped templates (overridable with --templates), every value escaped."""
    return env.environment(user_dir, finalize=_finalize)


@dataclass
class Cell:
    """A table cell with a state: good | bad | unknown | neutral (colour and a word, never colour alone)."""
    text: str
    state: str = "neutral"
    word: str = ""        # in sync / drift / not checked ...


@dataclass
class CheckedRow:
    what: str
    state: str            # good | bad | unknown | neutral
    word: str             # checked / not checked / ...
    detail: str


@dataclass
class ExchangeGroup:
    title: str
    servers: list[str]
    evidence_servers: list[str]
    locations: list[dict]
    settings: list[dict]
    notes: list[str] = field(default_factory=list)


def _value(v: object) -> str:
    if v is None:
        return "(missing)"
    if isinstance(v, bool):
        return "$true" if v else "$false"
    return str(v)


def _where(plan: Plan, where: tuple, file: str) -> str:
    """FILE:LINE:COL of a model key (FILE alone when the key has no position)."""
    line, col = plan.model.marks.at(where) if where else (None, None)
    return f"{file}:{line}:{col}" if line else file


def _evidence_cell(inputs: ReportInputs, server: str, item: str, kind: str) -> Cell:
    ev = inputs.evidence
    drifted = [d for d in ev.report.drift if d.server == server and d.location == item]
    if drifted:
        d = drifted[0]
        return Cell(f"{_value(d.actual)} [{d.code}]", "bad", "drift")
    se = ev.servers.get(server)
    if se is None:
        return Cell("", "unknown", "not audited")
    if any(d.server == server and d.code == "server-missing" for d in ev.report.drift):
        return Cell("", "bad", "no evidence")
    shown = se.locations is not None and item in se.locations if kind == "location" else item in se.settings
    if shown:
        return Cell(se.locations[item] if kind == "location" else _value(se.settings[item]), "good", "in sync")
    return Cell("", "unknown", "not checked")


def _set_by(ex: ExchangePlan, path: str) -> str:
    if path not in ex.appcmd_locations:
        return "Set-OutlookAnywhere -SSLOffloading"
    if path in ex.fixed_locations:
        return "appcmd / WebAdministration (its own value in every mode, set back only where it differs)"
    return "appcmd / WebAdministration"


def exchange_groups(inputs: ReportInputs) -> list[ExchangeGroup]:
    """Per group lbsync writes scripts for: every managed IIS location and Exchange setting, with each server's
    evidence when there is some."""
    plan = inputs.plan
    out = []
    for ex in plan.exchanges:
        servers = [s.name for s in ex.servers]
        shown = servers if inputs.evidence is not None else []
        title = f"Exchange {ex.release}" + (f", group {ex.group}" if plan.model.groups else "")
        title += f", Extended Protection {'on' if ex.extended_protection else 'off'}"
        locations = [{"path": path, "expected": flags, "default": ex.defaults[path],
                      "changed": path in ex.changed_locations, "pool": ex.location_pool.get(path, ""),
                      "set_by": _set_by(ex, path),
                      "cells": [_evidence_cell(inputs, s, path, "location") for s in shown]}
                     for path, flags in ex.locations.items()]
        settings = [{"item": item, "expected": _value(want),
                     "cells": [_evidence_cell(inputs, s, item, "setting") for s in shown]}
                    for item, want in expected_settings(ex).items()]
        notes = []
        oa = ex.outlook_anywhere
        if oa.apply:
            notes.append("Outlook Anywhere: apply runs one Set-OutlookAnywhere (only where something differs): "
                         + " ".join(f"-{k} {_value(v)}" for k, v in oa.apply.items()))
        else:
            notes.append("Outlook Anywhere: left alone (no namespace carries rpc)")
        notes.append("MRSProxy: apply enables it on EWS (Set-WebServicesVirtualDirectory -MRSProxyEnabled $true); "
                     "its route is re-encrypted" if ex.mrsproxy_enabled else
                     "MRSProxy: not enabled by lbsync (exchange.mrsproxy is not set, or EWS is not carried)")
        if ex.oab_require_ssl is not None:
            notes.append(f"OAB: Set-OabVirtualDirectory -RequireSSL {_value(ex.oab_require_ssl)}")
        out.append(ExchangeGroup(title, servers, shown, locations, settings, notes))
    return out


def _server_status(inputs: ReportInputs) -> dict[str, list[tuple[str, str]]]:
    """Server name -> notes under its box in the diagram: evidence and probe results."""
    out: dict[str, list[tuple[str, str]]] = {}
    if inputs.evidence is not None:
        rep = inputs.evidence.report
        for s in inputs.plan.model.servers:
            if s.name not in inputs.evidence.servers:
                out.setdefault(s.name, []).append(("unknown", "not audited"))
            elif any(d.server == s.name and d.code == "server-missing" for d in rep.drift):
                out.setdefault(s.name, []).append(("bad", "no evidence"))
            else:
                n = len(rep.for_server(s.name))
                out.setdefault(s.name, []).append(("bad", f"drift: {n}") if n else ("good", "in sync"))
    if inputs.probe is not None:
        for s in inputs.plan.model.servers:
            mine = [c for c in inputs.probe.checks if c.scope == "server" and c.target == s.name]
            failed = sum(not c.ok for c in mine)
            if mine:
                out.setdefault(s.name, []).append(("bad", f"probe: {failed} failed") if failed else
                                                  ("good", "probe: ok"))
    return out


def checked_rows(inputs: ReportInputs) -> list[CheckedRow]:
    plan = inputs.plan
    findings = plan.relevant()
    counts = {lvl: sum(f.level == lvl for f in findings) for lvl in ("error", "warning", "info")}
    rows = [CheckedRow("model and plan", "bad" if counts["error"] else "good", "checked",
                       f"validated and planned: {counts['error']} error(s), {counts['warning']} warning(s), "
                       f"{counts['info']} note(s) (Findings below)")]
    cert = inputs.certificate
    if cert.report is not None:
        fails = [c.id for c in cert.report.checks if c.status == "fail"]
        verdict = f"failed: {', '.join(fails)}" if fails else "no check failed"
        rows.append(CheckedRow("certificate", "bad" if fails else "good", "checked",
                               f"{cert.report.source}: {verdict}"))
    else:
        rows.append(CheckedRow("certificate", "unknown", "not checked", cert.reason))
    if inputs.evidence is not None:
        rep = inputs.evidence.report
        compared = sum(rep.checked.values())
        rows.append(CheckedRow("Exchange servers (evidence)", "bad" if rep.drift else "good", "checked",
                               f"{compared} item(s) compared with the plan on {len(rep.checked)} server(s): "
                               f"{len(rep.drift)} drifted, {len(rep.not_checked)} not checked"))
    else:
        rows.append(CheckedRow("Exchange servers (evidence)", "unknown", "not checked", inputs.evidence_note))
    if inputs.lb_configs:
        for d in inputs.lb_configs:
            rows.append(CheckedRow(f"{d.target} configuration", "bad" if d.diff else "good", "checked",
                                   f"{d.deployed} {'differs from' if d.diff else 'matches'} the rendered {d.rendered}"))
    else:
        rows.append(CheckedRow("load-balancer configuration", "unknown", "not checked", inputs.lb_note))
    if inputs.probe is not None:
        failed = sum(not c.ok for c in inputs.probe.checks)
        rows.append(CheckedRow("live probe", "bad" if failed else "good", "checked",
                               f"{len(inputs.probe.checks)} check(s) through the VIPs and on each server: "
                               f"{failed} failed"))
    else:
        rows.append(CheckedRow("live probe", "unknown", "not run", inputs.probe_note))
    rows.append(CheckedRow("F5 BIG-IP device", "unknown", "not checked",
                           "this page never reads a device: 'lbsync f5 plan' shows its drift"))
    return rows


def _routes(plan: Plan) -> list[dict]:
    return [{"namespace": ns.host, "listen": ns.bind, "service": s.service, "mode": s.mode,
             "mode_name": diagram.MODE_NAME[s.mode], "separate": s.mrsproxy, "paths": " ".join(s.paths),
             "backend": f"{s.scheme} :{s.port}", "pool": s.pool,
             "health": f"{s.health.scheme} {s.health.path} → {s.health.expect}",
             "members": ", ".join(m.server for m in s.members),
             "certificate": ", ".join(s.certificate_presented_by)}
            for ns in plan.namespaces for s in ns.services]


def context(inputs: ReportInputs) -> dict:
    plan = inputs.plan
    generated = inputs.generated.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") \
        if inputs.generated else None
    file = inputs.model_file or plan.model.marks.file
    findings = [{"level": f.level, "state": LEVEL_CLASS[f.level], "code": f.code, "where": _where(plan, f.where, file),
                 "message": f.message, "target": f.target or "", "allowed": f.allowed} for f in plan.relevant()]
    cert = inputs.certificate
    return {
        "version": __version__, "file": file, "sha256": inputs.model_sha256,
        "generated": generated, "command": inputs.command,
        "releases": ", ".join(dict.fromkeys(f"Exchange {ex.release}" for ex in plan.exchanges)),
        "legacy": plan.coexistence, "tls_profile": plan.tls_profile,
        "checked": checked_rows(inputs),
        "figures": diagram.figures(plan, _server_status(inputs)), "figure_svg": svg.figure,
        "routes": _routes(plan), "mail": plan.mail, "listeners": plan.listeners, "redirects": plan.redirects,
        "exchange": exchange_groups(inputs), "findings": findings,
        "cert": cert.report, "cert_reason": cert.reason, "cert_class": CERT_CLASS,
        "evidence": inputs.evidence, "lb_configs": inputs.lb_configs, "probe": inputs.probe,
        "value": _value,
    }


def build_report(inputs: ReportInputs, *, templates: str | Path | None = None) -> str:
    """The page (templates: a folder whose report/report.html.j2 overrides the shipped one, as for render)."""
    return render_template(environment(templates), TEMPLATE, **context(inputs))
