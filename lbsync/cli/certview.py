"""The readable `cert check` view (a rich table); --json uses Report.as_json()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..output.text import printable
from .common import new_console, term

if TYPE_CHECKING:
    from rich.console import Console

    from ..certs.check import Report

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def print_report(report: Report, console: Console | None = None) -> None:
    from rich.table import Table
    from rich.text import Text
    if console is None:
        console = new_console(100)
    console.print(Text(f"{printable(report.subject)}  (sha256 {report.fingerprint_sha256}; Exchange thumbprint "
                       f"{report.thumbprint})"))
    table = Table(title=f"certificate check: {term(report.source)}", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("message", overflow="fold")
    for c in report.checks:
        table.add_row(c.id, Text(c.status, style=_STYLE.get(c.status, "")), Text(printable(c.message)))
    console.print(table)
    fails = sum(c.status == "fail" for c in report.checks)
    warns = sum(c.status == "warn" for c in report.checks)
    verdict = "FAILED" if fails else "ok"
    console.print(Text(f"{verdict}: {fails} fail, {warns} warn, {len(report.checks) - fails - warns} ok",
                       style=_STYLE["fail" if fails else "warn" if warns else "ok"]))
