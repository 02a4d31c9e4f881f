"""`lbsync render`: both sides from one plan, written all or nothing (or shown as a diff)."""

from __future__ import annotations

import click

from ..errors import CheckFailed, LbsyncError
from .common import (
    ALLOW_OPT,
    MODEL_ARG,
    err,
    finding_line,
    load_plan,
    print_findings,
    print_target_errors,
    refuse_on_errors,
)

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
@click.option("--exit-code", is_flag=True, help="With --diff: exit 1 when something would change (as git diff "
              "--exit-code).")
@click.option("--check", is_flag=True, help="Run haproxy -c / nginx -t on the result when installed.")
def render(model: str, allow: tuple[str, ...], target: str | None, outdir: str, templates: str | None,
           flavour: str, diff: bool, exit_code: bool, check: bool) -> None:
    """Render the Exchange scripts and load-balancer configurations."""
    from ..output.writer import Output, diff_all, stale, write_all
    from ..report import build_report, for_render
    from ..targets import TARGETS, RenderOptions, check_files, default_targets, expand, finding_targets, render_targets
    if exit_code and not diff:
        raise LbsyncError("--exit-code goes with --diff (render --diff --exit-code)")
    plan = load_plan(model, allow)
    targets = expand(target) if target else default_targets(plan)
    if not target and not plan.declared_targets():
        # no targets: in the model: every target that can be rendered is; one a finding stops is skipped, saying why
        stopped = plan.target_errors()
        skipped = [t for t in targets if TARGETS[t].LB_KIND in stopped]
        targets = [t for t in targets if t not in skipped]
        print_target_errors(plan, set())
        for t in skipped:
            codes = ", ".join(sorted({f.code for f in stopped[TARGETS[t].LB_KIND]}))
            err(f"{plan.model.marks.file}: warning: skipped {t}: {codes} (see above)")
    print_findings(plan, levels=("warning",), targets=finding_targets(targets))
    blocking = plan.blocking(finding_targets(targets))
    if target == "all" and any(f.target for f in blocking):
        kinds = sorted({f.target for f in blocking if f.target})
        for f in blocking:
            err(finding_line(plan, f))
        raise LbsyncError(f"--target all includes {', '.join(kinds)}, which this model cannot render (above): "
                          "render the other targets with --target NAME (or without --target), or allow the code "
                          "(allow: in the model, or --allow CODE) where it is allowable", file=plan.model.marks.file)
    refuse_on_errors(plan, blocking)
    if finding_targets(targets) and plan.certificate_gate:
        from ..certs.precheck import precheck_or_refuse  # cryptography is loaded only when the gate applies
        precheck_or_refuse(plan, with_key=False)   # render names the key file, it does not carry the key
    files = render_targets(plan, targets, RenderOptions(templates=templates, flavour=flavour))
    files["report.html"] = Output(build_report(for_render(plan), templates=templates))   # the plan as a page
    if diff:
        text = diff_all(outdir, files, manifest=True)
        click.echo(text if text else "no differences", nl=not text)
        if exit_code and text:
            raise CheckFailed("")
        return
    if check:
        check_files(plan, files, targets)
    removed = stale(outdir, files)
    written = write_all(outdir, files, manifest=True)
    for path in written:
        click.echo(f"wrote {path}")
    for path in removed:
        click.echo(f"removed {path} (written by an earlier render, no longer produced)")
