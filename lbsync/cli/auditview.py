"""Readable output of `lbsync audit` and `lbsync probe` (rich tables)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..audit.drift import Report
    from ..audit.probe import ProbeReport
    from ..plan.types import Plan


def _console(stderr: bool = False):
    import shutil

    from rich.console import Console
    return Console(soft_wrap=False, width=max(shutil.get_terminal_size((160, 40)).columns, 120), stderr=stderr,
                   highlight=False)


def _show(value) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    return str(value)


def print_audit(plan: Plan, report: Report, lb: list, fix_note: list[str] | None = None) -> None:
    from rich.markup import escape
    from rich.table import Table
    console = _console()
    from ..audit.evidence import server_exchange
    servers = list(server_exchange(plan))
    if report.drift:
        table = Table(title="Drift from the plan", title_justify="left")
        for col in ("server", "location / setting", "expected", "actual", "code"):
            table.add_column(col)
        for d in report.drift:
            table.add_row(d.server, escape(d.location or "(all)"), escape(_show(d.expected)),
                          escape(_show(d.actual)), d.code)
        console.print(table)
    for s in servers:
        n = len(report.for_server(s))
        checked = report.checked.get(s)
        if checked is not None:
            state = f"[red]{n} drifted[/red]" if n else "[green]in sync[/green]"
            console.print(f"{s}: {checked} item(s) compared with the plan, {state}")
    for nc in report.not_checked:
        console.print(f"[yellow]not checked[/yellow] {nc.server}: {escape(nc.what)} — {escape(nc.reason)}")
    for d in lb:
        if d.diff:
            console.print(f"[red]{d.target}: {escape(d.deployed)} differs from the rendered {d.rendered}[/red]")
            console.print(escape(d.diff), end="")
        else:
            console.print(f"[green]{d.target}: {escape(d.deployed)} matches the rendered {d.rendered}[/green]")
    for line in fix_note or []:
        console.print(escape(line))
    drifted = bool(report.drift) or any(d.diff for d in lb)
    console.print("[red]drift found[/red]" if drifted else "[green]in sync with the plan[/green]")


def audit_json(report: Report, lb: list, fix_files: list[str]) -> str:
    doc = report.as_json()
    if lb:
        doc["load_balancers"] = [d.as_json() for d in lb]
        doc["in_sync"] = doc["in_sync"] and all(not d.diff for d in lb)
    if fix_files:
        doc["fix_scripts"] = fix_files
    return json.dumps(doc, indent=2)


def print_probe(report: ProbeReport) -> None:
    from rich.markup import escape
    from rich.table import Table
    console = _console()
    table = Table(title=f"probe (certificates compared with {escape(report.reference_source)})", title_justify="left")
    for col in ("where", "check", "what", "result", "detail"):
        table.add_column(col)
    for c in report.checks:
        table.add_row(f"{c.scope} {c.target}", c.check, escape(c.subject),
                      "[green]ok[/green]" if c.ok else "[red]FAIL[/red]", escape(c.detail))
    console.print(table)
    failed = [c for c in report.checks if not c.ok]
    console.print(f"[red]{len(failed)} check(s) failed[/red]" if failed else
                  f"[green]all {len(report.checks)} checks passed[/green]")
