"""`lbsync audit` (deployed evidence vs the plan, fix script, LB drift) and `lbsync probe` (live checks).

Only click is imported at module level; the work happens in lbsync.audit.
"""

from __future__ import annotations

import click

from ..errors import CheckFailed, LbsyncError
from .common import ALLOW_OPT as _ALLOW
from .common import MODEL_ARG as _MODEL
from .common import load_plan, refuse_on_errors


@click.command()
@_MODEL
@click.option("--apphost", "apphost", multiple=True, metavar="SERVER=FILE",
              help="A server's applicationHost.config (%windir%\\System32\\inetsrv\\config). Repeatable.")
@click.option("--outlook-anywhere", "outlook_anywhere", multiple=True, metavar="SERVER=FILE",
              help="The JSON verify-SERVER.ps1 writes, or 'Get-OutlookAnywhere | ConvertTo-Json' output (UTF-8 or "
                   "UTF-16 as PowerShell 5.1's '>' writes it). Repeatable.")
@click.option("--evidence", "evidence_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="A folder of collected evidence: verify-SERVER.json, SERVER/applicationHost.config, "
                   "SERVER/outlook-anywhere.json, outlook-anywhere.json.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--fix-script", "fix_script", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write a repair script per drifted server (FILE-SERVER.ps1): lbsync's apply script restricted to "
                   "exactly the drifted items.")
@click.option("--flavour", "--flavor", "flavour", default="appcmd", show_default=True,
              type=click.Choice(["appcmd", "webadministration"]), help="Style of the fix script's IIS lines.")
@click.option("--templates", type=click.Path(file_okay=False), help="Template override folder (as for render).")
@click.option("--haproxy", "haproxy_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="A deployed haproxy.cfg to compare with a fresh render (normalised unified diff).")
@click.option("--nginx", "nginx_files", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="A deployed lbsync.conf / lbsync-stream.conf to compare with a fresh render. Repeatable.")
@_ALLOW
def audit(model: str, apphost: tuple[str, ...], outlook_anywhere: tuple[str, ...], evidence_dir: str | None,
          as_json: bool, fix_script: str | None, flavour: str, templates: str | None, haproxy_file: str | None,
          nginx_files: tuple[str, ...], allow: tuple[str, ...]) -> None:
    """Compare what is deployed with the model: drift per server, with stable codes.

    Exchange evidence (applicationHost.config, Outlook Anywhere / verify JSON) is compared with the plan; settings
    the plan does not dictate are compared between the servers. --haproxy / --nginx compare the load balancer's
    configuration with a fresh render; for F5 BIG-IP, 'lbsync f5 plan' shows the drift against the device.
    Exit 0 in sync, 1 drift, 2 bad input.
    """
    from ..audit import drift as driftmod
    from ..audit import evidence as evmod

    exchange_given = bool(apphost or outlook_anywhere or evidence_dir)
    if not exchange_given and not haproxy_file and not nginx_files:
        raise LbsyncError("nothing to audit: give --apphost SERVER=FILE, --outlook-anywhere SERVER=FILE, "
                          "--evidence DIR, --haproxy FILE or --nginx FILE")
    if fix_script and not exchange_given:
        raise LbsyncError("--fix-script needs Exchange evidence (--apphost, --outlook-anywhere or --evidence)")
    plan = load_plan(model, allow)
    targets = ({"haproxy"} if haproxy_file else set()) | ({"nginx"} if nginx_files else set())
    refuse_on_errors(plan, plan.blocking(targets))

    report = driftmod.Report()
    if exchange_given:
        evidence = evmod.collect(plan, apphost=list(apphost), outlook_anywhere=list(outlook_anywhere),
                                 evidence_dir=evidence_dir)
        report = driftmod.compare(plan, evidence)
    lb = []
    if haproxy_file or nginx_files:
        from ..audit.lbdiff import config_drift
        lb += [config_drift(plan, "haproxy", haproxy_file, templates=templates)] if haproxy_file else []
        lb += [config_drift(plan, "nginx", f, templates=templates) for f in nginx_files]

    notes: list[str] = []
    written: list[str] = []
    if fix_script:
        from ..audit import fix
        scripts, unrepaired = fix.fix_scripts(plan, report, base=fix_script, flavour=flavour, templates=templates)
        written = [str(p) for p in fix.write_fix_scripts(fix_script, scripts)]
        notes += [f"wrote {p}" for p in written]
        if not scripts:
            notes.append("no fix script written: nothing the Exchange side can repair has drifted")
        for d in unrepaired:
            notes.append(f"not repaired by a fix script (needs a person): {d.server} {d.location or ''} [{d.code}]")

    from . import auditview as view
    if as_json:
        click.echo(view.audit_json(report, lb, written))
        for line in notes:
            click.echo(line, err=True)
    else:
        view.print_audit(plan, report, lb, notes)
    if report.drift or any(d.diff for d in lb):
        raise CheckFailed()


@click.command()
@_MODEL
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 120),
              help="Seconds per connection / answer (every request is bounded).")
@_ALLOW
def probe(model: str, as_json: bool, timeout: float, allow: tuple[str, ...]) -> None:
    """Live checks: through each namespace's VIP (SNI and Host = the namespace) the model's certificate and every
    health URL answering 200; on each server directly, offloaded services on HTTP, bridged ones on HTTPS with the
    shared certificate and still refusing plain HTTP (403.4). Redirects are never followed off the namespace.
    Every endpoint is bounded by --timeout in all (connect, TLS, redirects, answer); the checks run concurrently.
    Exit 0 all passed, 1 a check failed, 2 bad input."""
    import json

    from ..audit.probe import model_fingerprint, run_probe
    from .auditview import probe_progress
    plan = load_plan(model, allow)
    refuse_on_errors(plan, plan.blocking(set()))
    reference, source = model_fingerprint(plan)
    with probe_progress() as progress:   # on stderr, only on a terminal: stdout stays the table or the JSON
        result = run_probe(plan, timeout=timeout, reference=reference, reference_source=source, progress=progress)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        from .auditview import print_probe
        print_probe(result)
    if not result.ok:
        raise CheckFailed()
