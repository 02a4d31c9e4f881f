"""Readable output of `lbsync audit` and `lbsync probe` (rich tables)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .common import new_console, term

if TYPE_CHECKING:
    from ..audit.drift import Report
    from ..audit.probe import ProbeReport
    from ..plan.types import Plan


def _console(stderr: bool = False):
    return new_console(120, stderr=stderr, highlight=False)


def _show(value) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    return str(value)


def print_audit(plan: Plan, report: Report, lb: list, fix_note: list[str] | None = None) -> None:
    from rich.table import Table
    console = _console()
    from ..audit.evidence import server_exchange
    servers = list(server_exchange(plan))
    if report.drift:
        table = Table(title="Drift from the plan", title_justify="left")
        for col in ("server", "location / setting", "expected", "actual", "code"):
            table.add_column(col)
        for d in report.drift:
            table.add_row(term(d.server), term(d.location or "(all)"), term(_show(d.expected)),
                          term(_show(d.actual)), d.code)
        console.print(table)
    for s in servers:
        n = len(report.for_server(s))
        checked = report.checked.get(s)
        if checked is not None:
            state = f"[red]{n} drifted[/red]" if n else "[green]in sync[/green]"
            console.print(f"{s}: {checked} item(s) compared with the plan, {state}")
    for nc in report.not_checked:
        console.print(f"[yellow]not checked[/yellow] {nc.server}: {term(nc.what)} — {term(nc.reason)}")
    for d in lb:
        if d.diff:
            console.print(f"[red]{d.target}: {term(d.deployed)} differs from the rendered {d.rendered}[/red]")
            console.print(term(d.diff), end="")
        else:
            console.print(f"[green]{d.target}: {term(d.deployed)} matches the rendered {d.rendered}[/green]")
    for line in fix_note or []:
        console.print(term(line))
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
    from rich.table import Table
    console = _console()
    table = Table(title=f"probe (certificates compared with {term(report.reference_source)})", title_justify="left")
    for col in ("where", "check", "what", "result", "detail"):
        table.add_column(col)
    for c in report.checks:
        table.add_row(term(f"{c.scope} {c.target}"), c.check, term(c.subject),
                      "[green]ok[/green]" if c.ok else "[red]FAIL[/red]", term(c.detail))
    console.print(table)
    failed = [c for c in report.checks if not c.ok]
    console.print(f"[red]{len(failed)} check(s) failed[/red]" if failed else
                  f"[green]all {len(report.checks)} checks passed[/green]")


@contextmanager
def probe_progress() -> Iterator[Callable[[int, int], None]]:
    """A progress callback for run_probe: a rich progress bar on stderr when stderr is a terminal, else nothing."""
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    with Progress(TextColumn("probe"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task("probe", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
