"""The `lbsync` command group: maps lbsync's errors to exit codes and one-line messages, never a traceback.

Commands live in one module per group (model, render, cert, f5, audit); each imports only click and cli.common
at module level, so `lbsync --help` loads no library module.
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import CheckFailed, LbsyncError
from . import audit, cert, f5, model, render
from .common import err


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


for _command in (model.validate, model.plan_cmd, render.render, model.schema, model.init, cert.cert, f5.f5,
                 audit.audit, audit.probe):
    main.add_command(_command)
