"""`lbsync validate`, `plan`, `schema`, `init`: the model and what lbsync derives from it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import LbsyncError
from .common import ALLOW_OPT, MODEL_ARG, load_plan, print_findings, print_target_errors, refuse_on_errors, target_note


@click.command()
@MODEL_ARG
@ALLOW_OPT
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document: every error and warning as an object (file, line, column, key, code, "
                   "message); nothing on stderr. Exit codes as without it.")
def validate(model: str, allow: tuple[str, ...], as_json: bool) -> None:
    """Check the model and the rules; print findings."""
    if as_json:
        _validate_json(model, allow)
        return
    plan = load_plan(model, allow)
    print_findings(plan, levels=("warning",))
    print_target_errors(plan, plan.declared_targets())
    refuse_on_errors(plan, plan.blocking())
    click.echo(f"{model}: valid — {_summary_text(plan)}")


def _summary_text(plan) -> str:
    mail = f", {len(plan.mail)} mail port(s)" if plan.mail else ""
    return (f"{len(plan.model.namespaces)} namespace(s), {len(plan.model.servers)} server(s), "
            f"{len(plan.services)} route(s){mail}")


def _validate_json(model: str, allow: tuple[str, ...]) -> None:
    """validate --json: the same verdict as the text form, as one document (format lbsync-validate, version 1)."""
    from ..errors import ModelErrors
    from ..model.loader import key_path
    doc: dict = {"format": "lbsync-validate", "version": 1, "model": model}
    try:
        plan = load_plan(model, allow)
    except LbsyncError as exc:
        errors = exc.errors if isinstance(exc, ModelErrors) else [exc]
        doc.update(valid=False, problems=[{"level": "error", "code": None, "message": e.message, "file": e.file,
                                           "line": e.line, "column": e.col, "key": e.key, "target": None}
                                          for e in errors], summary=None)
        click.echo(json.dumps(doc, indent=2))
        raise SystemExit(2) from None

    def problem(f, level: str, note: str = "") -> dict:
        line, col = plan.model.marks.at(f.where) if f.where else (None, None)
        return {"level": level, "code": f.code, "message": note + f.message, "file": plan.model.marks.file,
                "line": line, "column": col, "key": key_path(f.where) if f.where else None, "target": f.target}

    blocking = plan.blocking()
    problems = [problem(f, "error") for f in blocking]
    problems += [problem(f, "warning") for f in plan.relevant() if f.level == "warning"]
    if not plan.declared_targets():
        problems += [problem(f, "warning", target_note(kind, f.code))
                     for kind, found in plan.target_errors().items() for f in found]
    doc.update(valid=not blocking, problems=problems,
               summary={"namespaces": len(plan.model.namespaces), "servers": len(plan.model.servers),
                        "routes": len(plan.services), "mail_ports": len(plan.mail)})
    click.echo(json.dumps(doc, indent=2))
    if blocking:
        raise SystemExit(2)


@click.command("plan")
@MODEL_ARG
@ALLOW_OPT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def plan_cmd(model: str, allow: tuple[str, ...], as_json: bool) -> None:
    """Show what lbsync derives, per namespace x service, and the findings."""
    plan = load_plan(model, allow)
    if as_json:
        click.echo(json.dumps(plan.as_json(), indent=2))
    else:
        from .planview import print_plan
        print_plan(plan)
    print_target_errors(plan, plan.declared_targets())
    if plan.blocking():
        refuse_on_errors(plan, plan.blocking())


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the schema to this file (UTF-8) instead of printing it; PowerShell 5.1's '>' would "
                   "write UTF-16.")
def schema(output: str | None) -> None:
    """Print the JSON Schema of lbsync.yaml (for editors: yaml-language-server).

    Put '# yaml-language-server: $schema=lbsync.schema.json' on the first line of lbsync.yaml.
    """
    from ..model.schema import SCHEMA
    text = json.dumps(SCHEMA, indent=2) + "\n"
    if not output:
        click.echo(text, nl=False)
        return
    from ..output.writer import atomic_write
    try:
        atomic_write(Path(output), text)
    except OSError as exc:
        raise LbsyncError(f"cannot write: {exc.strerror}", file=output) from None
    click.echo(f"wrote {output}")


@click.command()
@click.option("--profile", "-p", metavar="NAME", help="Profile to start from (see --list; default: exchange-se).")
@click.option("--list", "list_", is_flag=True, help="List the bundled profiles.")
@click.option("-o", "--output", default="lbsync.yaml", show_default=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(profile: str | None, list_: bool, output: str, force: bool) -> None:
    """Write a starting model from a bundled profile."""
    from ..model.profiles import DEFAULT_PROFILE, list_profiles, profile_text
    if list_:
        profiles = list_profiles()
        width = max(len(name) for name, _ in profiles) + 2
        for name, summary in profiles:
            click.echo(f"{name:{width}}{summary}" + ("  (the default)" if name == DEFAULT_PROFILE else ""))
        return
    profile = profile or DEFAULT_PROFILE
    text = profile_text(profile)
    out = Path(output)
    if out.is_dir():
        raise LbsyncError("is a folder; give the model's file name with -o", file=str(out))
    if out.exists() and not force:
        raise LbsyncError("the file exists; pass --force to overwrite it", file=str(out))
    from ..output.writer import atomic_write
    try:
        atomic_write(out, text)
    except OSError as exc:
        raise LbsyncError(f"cannot write: {exc.strerror}", file=str(out)) from None
    click.echo(f"wrote {out} from profile {profile}; check it with 'lbsync validate {out}'")
