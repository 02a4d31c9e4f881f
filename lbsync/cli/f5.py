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


def _print_changes(changes, device: str, as_json: bool, extra: dict | None = None, *, err: bool = False) -> None:
    """The changes as a table (stderr with err: the question of `apply --json` at a terminal) or one JSON
    document."""
    from ..targets.f5.diff import summary
    counts = summary(changes)
    if as_json:
        doc = {"device": device, "summary": counts,
               "changes": [c.as_json() for c in changes], **(extra or {})}
        click.echo(_json.dumps(doc, indent=2, default=str))
        return
    for c in changes:
        click.echo(f"{c.action:9} {c.kind:24} {printable(c.path)}", err=err)
        for attr, (have, want) in c.diff.items():
            click.echo(f"{'':10}{attr}: {_short(have)} -> {_short(want)}", err=err)
    click.echo(f"{device}: {counts['create']} to create, {counts['modify']} to modify, {counts['delete']} to "
               f"delete, {counts['unchanged']} unchanged", err=err)


def _short(value) -> str:
    text = _json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _refused(exc) -> None:
    raise CheckFailed(f"f5: {exc}") from None


@click.group("f5")
def f5() -> None:
    """Push the plan to an F5 BIG-IP through iControl REST: `plan` (dry run) shows, `apply` changes."""


PLAN_FORMAT = "lbsync-f5-plan"


def _desired_checksum(pusher, plan, material) -> str:
    """What lbsync wants on the device, as a checksum: a saved plan applies only with the model it was made from."""
    import hashlib
    want = pusher.desired(plan, material)
    doc = {"objects": [[o.kind, o.path, o.attrs] for o in want.objects],
           "files": [[f.kind, f.path, f.fingerprint] for f in want.files]}
    text = _json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_saved(path: str) -> dict:
    from ..reading import read_bytes
    data = read_bytes(path, "evidence")
    try:
        doc = _json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise LbsyncError("not a saved plan (lbsync f5 plan -o FILE writes one)", file=path) from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT or doc.get("version") != 1:
        raise LbsyncError("not a saved plan of this lbsync (format lbsync-f5-plan, version 1)", file=path)
    from ..targets.f5.pushers import PUSHERS
    if doc.get("method") not in PUSHERS:
        raise LbsyncError(f"the saved plan names an unknown method {printable(str(doc.get('method')))!s} "
                          f"(known: {', '.join(PUSHERS)})", file=path)
    for key in ("method", "device", "partition", "desired_checksum", "device_checksum"):
        if not isinstance(doc.get(key), str):
            raise LbsyncError(f"a saved plan without {key}", file=path, key=key)
    return doc


def _interactive() -> bool:
    import sys
    return sys.stdin.isatty()


@f5.command("plan")
@MODEL_ARG
@ALLOW_OPT
@METHOD_OPT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Save the plan, with a checksum of what it depends on, for `f5 apply --plan FILE`.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when changes are pending (as git diff --exit-code).")
def plan_cmd(model: str, allow: tuple[str, ...], method: str, as_json: bool, out: str | None,
             exit_code: bool) -> None:
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
    if out:
        from ..output.writer import atomic_write
        from ..targets.f5.diff import summary
        doc = {"format": PLAN_FORMAT, "version": 1, "method": method, "device": conn.settings.base,
               "partition": plan.model.targets.f5.partition, "model": printable(str(plan.model.path)),
               "desired_checksum": _desired_checksum(pusher, plan, material),
               "device_checksum": preview.device_checksum, "summary": summary(preview.changes),
               "changes": [c.as_json() for c in preview.pending]}
        try:
            atomic_write(out, _json.dumps(doc, indent=2, default=str) + "\n")
        except OSError as exc:
            raise LbsyncError(f"cannot write: {exc.strerror}", file=out) from None
        _say(f"plan saved to {out}: apply exactly this with `lbsync f5 apply --plan {out}`")
    if exit_code and preview.pending:
        raise CheckFailed("")


@f5.command("apply")
@MODEL_ARG
@ALLOW_OPT
@click.option("--method", type=click.Choice(["imperative", "as3"]), default=None,
              help="imperative (the default): f5-sdk and one iControl REST transaction; as3: POST the AS3 "
                   "declaration (requests only, any Python). With --plan: the plan's.")
@click.option("--plan", "saved", type=click.Path(dir_okay=False), metavar="FILE",
              help="Apply exactly this saved plan (lbsync f5 plan -o FILE); refused if the device or the model "
                   "changed since.")
@click.option("--yes", is_flag=True, help="Apply without asking (needed without a terminal).")
@click.option("--force", is_flag=True, help="Allow deleting or modifying more than 30% of the objects lbsync owns.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document of what was applied.")
def apply_cmd(model: str, allow: tuple[str, ...], method: str | None, saved: str | None, yes: bool, force: bool,
              as_json: bool) -> None:
    """Show the changes, ask, then apply them (certificate files first, then one transaction, or one AS3
    declaration). Nothing is written without consent: an answer at the terminal, --yes, or a saved plan."""
    from ..targets.f5.connection import DeviceError
    from ..targets.f5.pushers import PUSHERS
    doc = _read_saved(saved) if saved else None
    if doc and method and method != doc["method"]:
        raise LbsyncError(f"--method {method}: the saved plan was made with --method {doc['method']}", file=saved)
    method = (doc or {}).get("method") or method or "imperative"
    pusher = PUSHERS[method]
    if not doc and not yes and not _interactive():
        raise LbsyncError("f5 apply changes the device: run it at a terminal to confirm, pass --yes, or save a plan "
                          "(lbsync f5 plan -o plan.json) and apply it with --plan plan.json")
    pusher.require()   # f5-sdk for the imperative method: said before anything is read or asked
    plan, material = _prepare(model, allow, apply=True)
    if doc and _desired_checksum(pusher, plan, material) != doc["desired_checksum"]:
        raise LbsyncError("the model (or its certificate) changed since this plan was saved: nothing was written; "
                          "run `lbsync f5 plan -o FILE` again and review it", file=saved)
    conn = None
    try:
        conn = pusher.connect(plan, warn=_say)
        if doc and conn.settings.base != doc["device"]:
            raise LbsyncError(f"the saved plan is for {doc['device']}, the model points at {conn.settings.base}",
                              file=saved)
        preview = pusher.plan(conn, plan, material)
        expected = doc["device_checksum"] if doc else preview.device_checksum
        if doc and preview.device_checksum != expected:
            from ..targets.f5.device import same_state
            same_state(expected, preview.device_checksum)
        if not preview.pending:
            result = None
        else:
            asking = not doc and not yes
            if not as_json or asking:   # what the question is about; with --json on stderr, stdout stays JSON
                _print_changes(preview.changes, conn.settings.base, False, err=as_json)
            if asking and not click.confirm(
                    f"Apply these {len(preview.pending)} change(s) to {conn.settings.base}?", default=False,
                    err=True):
                raise CheckFailed("f5: not applied (not confirmed)")
            result = pusher.apply(conn, plan, material, force=force, progress=_say, expected_checksum=expected)
    except DeviceError as exc:
        _refused(exc)
    finally:
        if conn is not None:
            conn.logout()
    from ..targets.f5.device import Result
    result = result or Result(preview.changes)
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
