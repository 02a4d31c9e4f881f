"""`lbsync validate`, `plan`, `schema`, `init`: the model and what lbsync derives from it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import LbsyncError
from .common import ALLOW_OPT, MODEL_ARG, load_plan, print_findings, refuse_on_errors


@click.command()
@MODEL_ARG
@ALLOW_OPT
def validate(model: str, allow: tuple[str, ...]) -> None:
    """Check the model and the rules; print findings."""
    plan = load_plan(model, allow)
    print_findings(plan, levels=("warning",))
    refuse_on_errors(plan, plan.blocking())
    n = len(plan.services)
    mail = f", {len(plan.mail)} mail port(s)" if plan.mail else ""
    click.echo(f"{model}: valid — {len(plan.model.namespaces)} namespace(s), {len(plan.model.servers)} server(s), "
               f"{n} route(s){mail}")


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
