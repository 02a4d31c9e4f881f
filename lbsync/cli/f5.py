"""`lbsync f5 plan|apply`: push the plan to an F5 BIG-IP through iControl REST (dry run by default).

Only click is imported here; the F5 code (requests, f5-sdk, cryptography) loads inside the commands.
Exit codes: 0 applied / nothing to do, 1 the device refused (or could not be reached / trusted), 2 bad input.
"""

from __future__ import annotations

import json as _json

import click

from ..errors import CheckFailed, LbsyncError
from ..output.text import printable
from .common import ALLOW_OPT, MODEL_ARG, load_plan, print_findings, refuse_on_errors

METHOD_OPT = click.option("--method", type=click.Choice(["imperative", "as3"]), default="imperative",
                          show_default=True, help="imperative: f5-sdk and one iControl REST transaction; "
                          "as3: POST the AS3 declaration (requests only, any Python).")


def _say(text: str) -> None:
    click.echo(text, err=True)


def _prepare(model: str, allow: tuple[str, ...], *, apply: bool):
    plan = load_plan(model, allow)
    print_findings(plan, levels=("warning",), targets={"f5"})
    refuse_on_errors(plan, plan.blocking({"f5"}))
    if apply:
        from ..certs.precheck import precheck_or_refuse
        precheck_or_refuse(plan)
    if plan.model.certificate is None:  # at targets.f5: the key that asks for the push
        line, col = plan.model.marks.at(("targets", "f5"), key=True)
        raise LbsyncError("the F5 push installs the model's certificate: add a certificate: section "
                          "(pfx, or cert/key/chain)", file=plan.model.marks.file, line=line, col=col,
                          key="targets.f5")
    from ..targets.f5.material import load_material
    return plan, load_material(plan)


def _print_changes(changes, device: str, as_json: bool, extra: dict | None = None) -> None:
    from ..targets.f5.diff import summary
    counts = summary(changes)
    if as_json:
        doc = {"device": device, "summary": counts,
               "changes": [c.as_json() for c in changes], **(extra or {})}
        click.echo(_json.dumps(doc, indent=2, default=str))
        return
    for c in changes:
        click.echo(f"{c.action:9} {c.kind:24} {printable(c.path)}")
        for attr, (have, want) in c.diff.items():
            click.echo(f"{'':10}{attr}: {_short(have)} -> {_short(want)}")
    click.echo(f"{device}: {counts['create']} to create, {counts['modify']} to modify, {counts['delete']} to "
               f"delete, {counts['unchanged']} unchanged")


def _short(value) -> str:
    text = _json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _refused(exc) -> None:
    raise CheckFailed(f"f5: {exc}") from None


@click.group("f5")
def f5() -> None:
    """Push the plan to an F5 BIG-IP through iControl REST: `plan` (dry run) shows, `apply` changes."""


@f5.command("plan")
@MODEL_ARG
@ALLOW_OPT
@METHOD_OPT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def plan_cmd(model: str, allow: tuple[str, ...], method: str, as_json: bool) -> None:
    """Read the device and show, per object, create / modify / delete / unchanged (changes nothing)."""
    from ..targets.f5.connection import DeviceError
    from ..targets.f5.pushers import PUSHERS
    pusher = PUSHERS[method]
    plan, material = _prepare(model, allow, apply=False)
    conn = None
    try:
        conn = pusher.connect(plan, warn=_say)
        preview = pusher.plan(conn, plan, material)
    except DeviceError as exc:
        _refused(exc)
    finally:
        if conn is not None:
            conn.logout()
    _print_changes(preview.changes, conn.settings.base, as_json, {"method": method, **preview.extra})


@f5.command("apply")
@MODEL_ARG
@ALLOW_OPT
@METHOD_OPT
@click.option("--force", is_flag=True, help="Allow deleting more than 30% of the objects lbsync owns.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document of what was applied.")
def apply_cmd(model: str, allow: tuple[str, ...], method: str, force: bool, as_json: bool) -> None:
    """Apply the plan to the device (certificate files first, then one transaction, or one AS3 declaration)."""
    from ..targets.f5.connection import DeviceError
    from ..targets.f5.pushers import PUSHERS
    pusher = PUSHERS[method]
    plan, material = _prepare(model, allow, apply=True)
    conn = None
    try:
        conn = pusher.connect(plan, warn=_say)
        result = pusher.apply(conn, plan, material, force=force, progress=_say)
    except DeviceError as exc:
        _refused(exc)
    finally:
        if conn is not None:
            conn.logout()
    counts = result.summary
    if as_json:
        click.echo(_json.dumps({"device": conn.settings.base, "method": method, "applied": result.applied,
                                "summary": counts, "changes": [c.as_json() for c in result.pending]},
                               indent=2, default=str))
    elif not result.applied:
        click.echo(f"{conn.settings.base}: nothing to do ({counts['unchanged']} objects in sync)")
    else:
        click.echo(f"{conn.settings.base}: applied ({method}): {counts['create']} created, {counts['modify']} "
                   f"modified, {counts['delete']} deleted, {counts['unchanged']} unchanged")
