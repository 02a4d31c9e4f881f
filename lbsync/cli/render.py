"""`lbsync render`: both sides from one plan, written all or nothing (or shown as a diff)."""

from __future__ import annotations

import click

from .common import ALLOW_OPT, MODEL_ARG, load_plan, print_findings, refuse_on_errors

TARGET_NAMES = ["exchange", "haproxy", "nginx", "f5-tmsh", "f5-as3"]   # targets.TARGETS (asserted in the tests)


@click.command()
@MODEL_ARG
@ALLOW_OPT
@click.option("--target", "-t", default=None, type=click.Choice(TARGET_NAMES + ["all"]),
              help="What to render (default: exchange + the targets the model declares under targets:).")
@click.option("-o", "--output", "outdir", default="lbsync-out", show_default=True, type=click.Path(file_okay=False),
              help="Folder to write into.")
@click.option("--templates", type=click.Path(file_okay=False), help="Folder whose templates override the shipped "
              "ones by relative name.")
@click.option("--flavour", "--flavor", "flavour", default="appcmd", show_default=True,
              type=click.Choice(["appcmd", "webadministration"]),
              help="Exchange scripts: appcmd lines (as Microsoft's doc) or Set-WebConfigurationProperty.")
@click.option("--diff", is_flag=True, help="Show a unified diff against what is in the folder; write nothing.")
@click.option("--check", is_flag=True, help="Run haproxy -c / nginx -t on the result when installed.")
def render(model: str, allow: tuple[str, ...], target: str | None, outdir: str, templates: str | None,
           flavour: str, diff: bool, check: bool) -> None:
    """Render the Exchange scripts and load-balancer configurations."""
    from ..certs.precheck import precheck_or_refuse
    from ..output.writer import diff_all, write_all
    from ..targets import RenderOptions, check_files, default_targets, expand, finding_targets, render_targets
    plan = load_plan(model, allow)
    targets = expand(target) if target else default_targets(plan)
    print_findings(plan, levels=("warning",), targets=finding_targets(targets))
    refuse_on_errors(plan, plan.blocking(finding_targets(targets)))
    if finding_targets(targets):
        precheck_or_refuse(plan)
    files = render_targets(plan, targets, RenderOptions(templates=templates, flavour=flavour))
    if diff:
        text = diff_all(outdir, files)
        click.echo(text if text else "no differences", nl=not text)
        return
    if check:
        check_files(plan, files, targets)
    written = write_all(outdir, files)
    for path in written:
        click.echo(f"wrote {path}")
