"""What every command shares: the MODEL argument, --allow, loading the plan, and printing findings.

Library modules are imported inside the functions that use them, so `lbsync --help` stays fast.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

import click

from ..errors import LbsyncError
from ..output.text import printable

if TYPE_CHECKING:
    from ..plan.types import Finding, Plan

MODEL_ARG = click.argument("model", required=False, default="lbsync.yaml", metavar="[MODEL]",
                           type=click.Path(dir_okay=False))
ALLOW_OPT = click.option("--allow", "allow", multiple=True, metavar="CODE",
                         help="Accept an error finding with this code as a warning (repeatable).")


def err(text: str) -> None:
    click.echo(text, err=True)


def new_console(min_width: int, *, stderr: bool = False, **kwargs):
    """A rich Console for lbsync's tables, at least `min_width` columns. A closed stdout (lbsync plan | head -1)
    raises BrokenPipeError for the command group to handle (exit as decided, silently); rich's own handler would
    exit 1."""
    import shutil

    from rich.console import Console  # rich loads only when something is printed with it
    out = Console(soft_wrap=False, width=max(shutil.get_terminal_size((160, 40)).columns, min_width), stderr=stderr,
                  **kwargs)
    out.on_broken_pipe = _broken_pipe
    return out


def _broken_pipe() -> None:
    raise BrokenPipeError


def term(text: object) -> str:
    """Foreign text (evidence, a server's answer, a certificate's subject, a device's object name) for a rich
    console: control characters shown as escapes (an ANSI sequence never reaches the terminal raw), markup escaped."""
    from rich.markup import escape  # rich loads only when something is printed with it
    return escape(printable(str(text)))


def finding_line(plan: Plan, f: Finding, *, level: str | None = None, note: str = "") -> str:
    """`FILE:LINE:COL: level: [code] message` — the position of the model entry the finding is about."""
    line, col = plan.model.marks.at(f.where) if f.where else (None, None)
    where = plan.model.marks.file
    if line:
        where += f":{line}:{col}"
    return f"{where}: {level or f.level}: [{f.code}] {note}{f.message}"


def target_note(kind: str, code: str) -> str:
    """What a load-balancer-specific error stops, and the ways past it."""
    return (f"(stops only the {kind} output: render skips {kind}; declare targets: without {kind}, or allow: "
            f"[{code}]) ")


def print_target_errors(plan: Plan, stopping: set[str]) -> None:
    """The errors of load balancers whose output this command does not produce, as warnings naming them — only for
    a model that declares no targets: (one that does has said which load balancers it has)."""
    if plan.declared_targets():
        return
    for kind, found in plan.target_errors().items():
        if kind in stopping:
            continue
        for f in found:
            err(finding_line(plan, f, level="warning", note=target_note(kind, f.code)))


def load_plan(model_path: str, allow: tuple[str, ...] = ()):
    """The model at model_path, planned; --allow codes checked first (unknown or not allowable: exit 2)."""
    from ..facts.codes import CODES
    from ..model import load_model
    from ..plan import build_plan
    for code in allow:
        if code not in CODES:
            close = difflib.get_close_matches(code, list(CODES), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise LbsyncError(f"--allow: unknown finding code '{code}'{hint}")
        if not CODES[code].allowable:
            raise LbsyncError(f"--allow: '{code}' cannot be allowed: {CODES[code].summary}")
    return build_plan(load_model(model_path), allow=allow)


def refuse_on_errors(plan: Plan, blocking: list[Finding]) -> None:
    if blocking:
        for f in blocking:
            err(finding_line(plan, f))
        raise SystemExit(2)


def print_findings(plan: Plan, *, levels: tuple[str, ...] = ("warning", "error"),
                   targets: set[str] | None = None) -> None:
    for f in plan.relevant(targets):
        if f.level in levels and not (f.level == "error" and f.target and f not in plan.blocking(targets)):
            err(finding_line(plan, f))
