"""`lbsync cert check|export`: the one shared certificate. Only click is imported at module level."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import CheckFailed, LbsyncError
from .common import load_plan


def _source_options(func):
    options = [
        click.argument("model", required=False, default="lbsync.yaml", metavar="[MODEL]",
                       type=click.Path(dir_okay=False)),
        click.option("--pfx", type=click.Path(dir_okay=False), help="PKCS#12 file (Export-ExchangeCertificate)."),
        click.option("--cert", "cert", type=click.Path(dir_okay=False),
                     help="PEM certificate (a full chain or a HAProxy combined PEM with its key also works)."),
        click.option("--key", type=click.Path(dir_okay=False), help="PEM private key (with --cert)."),
        click.option("--chain", type=click.Path(dir_okay=False), help="PEM intermediate certificates (with --cert)."),
        click.option("--password-env", metavar="VAR",
                     help="Environment variable holding the PFX/key password (default: the model's "
                          "certificate.password_env, else a hidden prompt)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class Source:
    """What the command works on: the certificate bundle and, when there is a model, its plan."""

    def __init__(self, ctx: click.Context, model: str, pfx, cert, key, chain, password_env):
        from ..certs.load import PasswordSource, load_bundle
        default_model = ctx.get_parameter_source("model") == click.core.ParameterSource.DEFAULT
        given = pfx or cert
        if key and not cert:
            raise LbsyncError("--key goes with --cert")
        if chain and not cert:
            raise LbsyncError("--chain goes with --cert (a PFX carries its own chain)")
        if pfx and cert:
            raise LbsyncError("give either --pfx or --cert/--key, not both")
        self.plan = None
        if default_model and not Path(model).exists():
            if not given:
                raise LbsyncError("no model here: give MODEL, or --pfx FILE / --cert FILE --key FILE",
                                  file=model)
        else:
            self.plan = load_plan(model)
        c = self.plan.model.certificate if self.plan else None
        if password_env:
            self.password = PasswordSource(password_env, explicit=True)
        else:
            self.password = PasswordSource(c.password_env if c else None)
        if given:
            self.bundle = load_bundle(pfx=pfx, cert=cert, key=key, chain=chain, password=self.password)
        elif c is None:
            raise LbsyncError("the model has no certificate: section; pass --pfx FILE or --cert FILE --key FILE",
                              file=model)
        else:
            self.bundle = load_bundle(pfx=c.pfx, cert=c.cert, key=c.key, chain=c.chain, password=self.password)


@click.group("cert")
def cert() -> None:
    """The shared certificate: check it, compare it with what is served, export it for the load balancers."""


@cert.command("check")
@_source_options
@click.option("--ca-bundle", type=click.Path(dir_okay=False),
              help="Trust anchors (PEM) for the chain check (default: the model's tls.server_ca, else the "
                   "system store).")
@click.option("--at", "at", metavar="DATE", help="Check validity at this date (YYYY-MM-DD or ISO date-time; "
              "default now).")
@click.option("--name", "names", multiple=True, metavar="HOST",
              help="A host name the certificate must cover (repeatable; added to the model's names).")
@click.option("--compare", "compare", multiple=True, metavar="FILE|HOST:PORT",
              help="A file or live endpoint that must present the same certificate (repeatable).")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 120),
              help="Seconds per live endpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def check(ctx: click.Context, model: str, pfx: str | None, cert: str | None, key: str | None, chain: str | None,
          password_env: str | None, ca_bundle: str | None, at: str | None, names: tuple[str, ...],
          compare: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Check the certificate: key, names, validity, chain, strength, EKU, and that it is the same everywhere.

    Exit 0: no check failed; 1: a check failed; 2: bad input.
    """
    from ..certs.check import names_from_plan, parse_at, run_checks, trust_for
    when = parse_at(at)
    src = Source(ctx, model, pfx, cert, key, chain, password_env)
    plan = src.plan
    wanted = (names_from_plan(plan) if plan else []) + [n.lower().rstrip(".") for n in names]
    wanted = list(dict.fromkeys(wanted))
    trust = trust_for(plan.model if plan else None, ca_bundle)
    observed = []
    if compare:
        from ..certs.compare import collect
        sni = [ns.host for ns in plan.namespaces] if plan else list(dict.fromkeys(names))
        observed = collect(list(compare), sni, src.password, timeout)
    warn_days = plan.model.certificate.warn_days if plan and plan.model.certificate else 30
    report = run_checks(src.bundle, names=wanted, names_hint="no model; pass --name HOST (repeatable)",
                        trust=trust, at=when, warn_days=warn_days, observed=observed,
                        extended_protection=bool(plan and plan.exchange.extended_protection))
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        from .certview import print_report
        print_report(report)
    if not report.ok:
        failed = ", ".join(c.id for c in report.checks if c.status == "fail")
        raise CheckFailed(f"certificate check failed: {failed}")


@cert.command("export")
@_source_options
@click.option("--format", "fmt", required=True, type=click.Choice(["haproxy", "nginx", "f5"]),
              help="haproxy: one PEM (leaf, chain, key); nginx: full chain + key; f5: cert, key, chain.")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Folder to write into (files go under FORMAT/).")
@click.pass_context
def export(ctx: click.Context, model: str, pfx: str | None, cert: str | None, key: str | None, chain: str | None,
           password_env: str | None, fmt: str, outdir: str) -> None:
    """Write the certificate and key for a load balancer (key files mode 0600, written atomically)."""
    from ..certs.export import export_bundle, model_names
    src = Source(ctx, model, pfx, cert, key, chain, password_env)
    written, dropped = export_bundle(src.bundle, fmt, outdir, model_names(src.plan.model if src.plan else None))
    for c in dropped:
        click.echo(f"note: left out of the chain: '{c.subject.rfc4514_string()}' "
                   f"({'self-signed root' if c.subject == c.issuer else 'not on the path from the leaf'})",
                   err=True)
    for path in written:
        mode = path.stat().st_mode & 0o777
        click.echo(f"wrote {path} (mode {mode:04o})")
