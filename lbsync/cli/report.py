"""`lbsync report`: one self-contained HTML page of the deployment and of what was checked against the plan.

Only click is imported at module level; the work happens in lbsync.report.
"""

from __future__ import annotations

import datetime as dt
import os

import click

from ..errors import LbsyncError
from .common import ALLOW_OPT, MODEL_ARG, err, load_plan


@click.command()
@MODEL_ARG
@click.option("-o", "--output", "output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write (replaced all at once).")
@click.option("--apphost", "apphost", multiple=True, metavar="SERVER=FILE",
              help="A server's applicationHost.config, compared with the plan as 'lbsync audit' does. Repeatable.")
@click.option("--outlook-anywhere", "outlook_anywhere", multiple=True, metavar="SERVER=FILE",
              help="The JSON verify-SERVER.ps1 writes, or Get-OutlookAnywhere output (as for audit). Repeatable.")
@click.option("--evidence", "evidence_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="A folder of collected evidence (as for audit).")
@click.option("--haproxy", "haproxy_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="A deployed haproxy.cfg to compare with a fresh render.")
@click.option("--nginx", "nginx_files", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="A deployed lbsync.conf / lbsync-stream.conf to compare with a fresh render. Repeatable.")
@click.option("--probe", "run_probe", is_flag=True,
              help="Run 'lbsync probe' (connects to every VIP and server of the model) and show its results.")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 120),
              help="With --probe: seconds per endpoint.")
@click.option("--password-env", metavar="VAR",
              help="Environment variable holding the certificate's PFX/key password (default: the model's "
                   "certificate.password_env, else a hidden prompt on a terminal; otherwise the page says the "
                   "certificate was not checked).")
@click.option("--ca-bundle", type=click.Path(dir_okay=False),
              help="Trust anchors (PEM) for the certificate's chain check (as for cert check).")
@click.option("--templates", type=click.Path(file_okay=False),
              help="Template override folder (report/report.html.j2), as for render.")
@ALLOW_OPT
def report(model: str, output: str, apphost: tuple[str, ...], outlook_anywhere: tuple[str, ...],
           evidence_dir: str | None, haproxy_file: str | None, nginx_files: tuple[str, ...], run_probe: bool,
           timeout: float, password_env: str | None, ca_bundle: str | None, templates: str | None,
           allow: tuple[str, ...]) -> None:
    """Write one HTML page for a change board: the deployment diagram drawn from the plan (clients, listeners,
    namespaces, routes and their modes, pools and health checks, servers), the Exchange side per server, the
    findings, the certificate check, and — when given evidence, deployed configurations or --probe — the drift
    and probe results. The page is self-contained (no script, nothing fetched) and says what was checked and
    what was not. Exit 0 when written (whatever it shows), 2 bad input."""
    from ..output.writer import atomic_write
    from ..report import gather
    from ..report.page import build_report
    if password_env and password_env not in os.environ:
        raise LbsyncError(f"environment variable {password_env} (--password-env) is not set")
    plan = load_plan(model, allow)
    given = bool(apphost or outlook_anywhere or evidence_dir)
    inputs = gather.ReportInputs(
        plan=plan, model_sha256=gather.model_digest(plan), generated=_now(), command="lbsync report",
        certificate=gather.certificate_status(plan, password_env=password_env, ca_bundle=ca_bundle),
        evidence_note="no evidence given: --apphost SERVER=FILE, --outlook-anywhere SERVER=FILE or --evidence DIR "
                      "(as for 'lbsync audit')",
        lb_note="no deployed configuration given: --haproxy FILE, --nginx FILE ('lbsync f5 plan' for F5)",
        probe_note="not asked for: --probe connects to every VIP and server of the model")
    if given:
        inputs.evidence = gather.exchange_evidence(plan, apphost=list(apphost), outlook_anywhere=list(outlook_anywhere),
                                                   evidence_dir=evidence_dir)
    if haproxy_file or nginx_files:
        inputs.lb_configs = gather.lb_configs(plan, haproxy=haproxy_file, nginx=list(nginx_files), templates=templates)
    if run_probe:
        inputs.probe = gather.probe(plan, inputs.certificate, timeout=timeout)
    if inputs.certificate.report is None and plan.model.certificate is not None:
        err(f"{plan.model.marks.file}: warning: certificate {inputs.certificate.reason}")
    atomic_write(output, build_report(inputs, templates=templates))
    click.echo(f"wrote {output}")


def _now() -> dt.datetime:
    """The time the page records: now, or SOURCE_DATE_EPOCH (reproducible builds) when set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise LbsyncError(f"SOURCE_DATE_EPOCH: '{epoch}' is not a number of seconds") from None
    return dt.datetime.now(dt.timezone.utc)
