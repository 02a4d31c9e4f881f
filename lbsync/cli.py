"""Command line: parse, call the library, print, map errors to exit codes. Heavy imports stay inside commands."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import click

from . import __version__
from .errors import CheckFailed, LbsyncError

MODEL_ARG = click.argument("model", required=False, default="lbsync.yaml", metavar="[MODEL]",
                           type=click.Path(dir_okay=False))
ALLOW_OPT = click.option("--allow", "allow", multiple=True, metavar="CODE",
                         help="Accept an error finding with this code as a warning (repeatable).")


def err(text: str) -> None:
    click.echo(text, err=True)


def finding_line(plan, f) -> str:
    """`FILE:LINE:COL: level: [code] message` — the position of the model entry the finding is about."""
    line, col = plan.model.marks.at(f.where) if f.where else (None, None)
    where = plan.model.marks.file
    if line:
        where += f":{line}:{col}"
    return f"{where}: {f.level}: [{f.code}] {f.message}"


def load_plan(model_path: str, allow: tuple[str, ...] = ()):
    from .findings import CODES
    from .model import load_model
    from .plan import build_plan
    for code in allow:
        if code not in CODES:
            import difflib
            close = difflib.get_close_matches(code, list(CODES), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise LbsyncError(f"--allow: unknown finding code '{code}'{hint}")
        if not CODES[code].allowable:
            raise LbsyncError(f"--allow: '{code}' cannot be allowed: {CODES[code].summary}")
    return build_plan(load_model(model_path), allow=allow)


def refuse_on_errors(plan, blocking) -> None:
    if blocking:
        for f in blocking:
            err(finding_line(plan, f))
        raise SystemExit(2)


def print_findings(plan, *, levels=("warning", "error"), targets: set[str] | None = None) -> None:
    for f in plan.relevant(targets):
        if f.level in levels:
            err(finding_line(plan, f))


class LbsyncGroup(click.Group):
    """Maps lbsync's errors to exit codes and one-line messages, never a traceback."""

    def main(self, *args, **kwargs):
        kwargs.pop("standalone_mode", None)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
            sys.exit(rv if isinstance(rv, int) else 0)
        except click.exceptions.Abort:
            err("aborted")
            sys.exit(130)
        except click.ClickException as exc:
            exc.show()
            sys.exit(2 if exc.exit_code not in (0, 1) else exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except LbsyncError as exc:
            err(str(exc))
            sys.exit(2)
        except CheckFailed as exc:
            if str(exc):
                err(str(exc))
            sys.exit(1)
        except KeyboardInterrupt:
            err("interrupted")
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(1)
        except Exception as exc:  # a bug in lbsync: one line, details only on request
            if os.environ.get("LBSYNC_DEBUG"):
                raise
            err(f"lbsync: internal error: {type(exc).__name__}: {exc} (set LBSYNC_DEBUG=1 for a traceback)")
            sys.exit(3)


@click.group(cls=LbsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lbsync")
def main() -> None:
    """lbsync: one model of Exchange namespaces, servers and protocols; both sides of TLS offloading/bridging.

    Exit codes: 0 success / in sync, 1 a check found problems, 2 bad input or usage.
    """


@main.command()
@MODEL_ARG
@ALLOW_OPT
def validate(model: str, allow: tuple[str, ...]) -> None:
    """Check the model and the rules; print findings."""
    plan = load_plan(model, allow)
    print_findings(plan, levels=("warning",))
    refuse_on_errors(plan, plan.blocking())
    n = len(plan.services)
    click.echo(f"{model}: valid — {len(plan.namespaces)} namespace(s), {len(plan.model.servers)} server(s), "
               f"{n} route(s)")


@main.command("plan")
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


@main.command()
@MODEL_ARG
@ALLOW_OPT
@click.option("--target", "-t", default=None,
              type=click.Choice(["exchange", "haproxy", "nginx", "f5-tmsh", "f5-as3", "all"]),
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
def render(model, allow, target, outdir, templates, flavour, diff, check) -> None:
    """Render the Exchange scripts and load-balancer configurations."""
    from .render import RenderOptions, default_targets, expand, finding_targets, render_targets
    from .render.writer import diff_all, write_all
    plan = load_plan(model, allow)
    targets = expand(target) if target else default_targets(plan)
    print_findings(plan, levels=("warning",), targets=finding_targets(targets))
    refuse_on_errors(plan, plan.blocking(finding_targets(targets)))
    if any(t != "exchange" for t in targets):
        from .certs.precheck import precheck_or_refuse
        precheck_or_refuse(plan)
    files = render_targets(plan, targets, RenderOptions(templates=templates, flavour=flavour))
    if diff:
        text = diff_all(outdir, files)
        click.echo(text if text else "no differences", nl=not text)
        return
    if check:
        from .render.check import check_files
        check_files(plan, files, targets)
    written = write_all(outdir, files)
    for path in written:
        click.echo(f"wrote {path}")


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the schema to this file (UTF-8) instead of printing it; PowerShell 5.1's '>' would "
                   "write UTF-16.")
def schema(output) -> None:
    """Print the JSON Schema of lbsync.yaml (for editors: yaml-language-server).

    Put '# yaml-language-server: $schema=lbsync.schema.json' on the first line of lbsync.yaml.
    """
    from .model.schema import SCHEMA
    text = json.dumps(SCHEMA, indent=2) + "\n"
    if not output:
        click.echo(text, nl=False)
        return
    from .render.writer import atomic_write
    try:
        atomic_write(Path(output), text)
    except OSError as exc:
        raise LbsyncError(f"cannot write: {exc.strerror}", file=output) from None
    click.echo(f"wrote {output}")


@main.command()
@click.option("--profile", "-p", metavar="NAME", help="Profile to start from (see --list).")
@click.option("--list", "list_", is_flag=True, help="List the bundled profiles.")
@click.option("-o", "--output", default="lbsync.yaml", show_default=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(profile, list_, output, force) -> None:
    """Write a starting model from a bundled profile."""
    from .profiles import list_profiles, profile_text
    if list_:
        for name, summary in list_profiles():
            click.echo(f"{name:28} {summary}")
        return
    if not profile:
        raise LbsyncError("init needs --profile NAME (see 'lbsync init --list')")
    text = profile_text(profile)
    out = Path(output)
    if out.is_dir():
        raise LbsyncError("is a folder; give the model's file name with -o", file=str(out))
    if out.exists() and not force:
        raise LbsyncError("the file exists; pass --force to overwrite it", file=str(out))
    from .render.writer import atomic_write
    try:
        atomic_write(out, text)
    except OSError as exc:
        raise LbsyncError(f"cannot write: {exc.strerror}", file=str(out)) from None
    click.echo(f"wrote {out} from profile {profile}; check it with 'lbsync validate {out}'")


# Command groups that live in their own modules (each imports only click at module level).
for _module, _name in (("lbsync.cli_cert", "cert"), ("lbsync.cli_f5", "f5"), ("lbsync.cli_audit", "audit"),
                       ("lbsync.cli_audit", "probe")):
    if importlib.util.find_spec(_module) is not None:
        main.add_command(getattr(importlib.import_module(_module), _name))


if __name__ == "__main__":  # pragma: no cover
    main()
