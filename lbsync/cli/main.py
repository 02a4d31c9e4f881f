"""The `lbsync` command group: maps lbsync's errors to exit codes and one-line messages, never a traceback.

Commands live in one module per group (model, render, cert, f5, audit, report); each imports only click and cli.common
at module level, so `lbsync --help` loads no library module.
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import CheckFailed, LbsyncError
from . import audit, cert, f5, model, render, report
from .common import err


class LbsyncGroup(click.Group):
    """Maps lbsync's errors to exit codes and one-line messages, never a traceback."""

    def main(self, *args, **kwargs):
        kwargs.pop("standalone_mode", None)
        code = self._exit_code(*args, **kwargs)
        try:
            sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe could no longer be handled
        except BrokenPipeError:
            code = _reader_gone(code)
        sys.exit(code)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # caught here, before click's own handler turns it into exit 1
            return _reader_gone(0)

    def _exit_code(self, *args, **kwargs) -> int:
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
            return rv if isinstance(rv, int) else 0
        except BrokenPipeError:
            return _reader_gone(0)
        except click.exceptions.Abort:
            err("aborted")
            return 130
        except click.ClickException as exc:
            exc.show()
            return 2 if exc.exit_code not in (0, 1) else exc.exit_code
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except LbsyncError as exc:
            err(str(exc))
            return 2
        except CheckFailed as exc:
            if str(exc):
                err(str(exc))
            return 1
        except KeyboardInterrupt:
            err("interrupted")
            return 130
        except Exception as exc:  # a bug in lbsync: one line, details only on request
            if os.environ.get("LBSYNC_DEBUG"):
                raise
            err(f"lbsync: internal error: {type(exc).__name__}: {exc} (set LBSYNC_DEBUG=1 for a traceback)")
            return 3


def _reader_gone(code: int) -> int:
    """The reader of stdout went away (lbsync plan | head -1): its choice, not an error. Stdout goes to devnull so
    the interpreter's last flush stays silent (Python docs, signal module, "Note on SIGPIPE"); the exit code stays
    what the command decided."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (in-process tests)
        pass
    return code


@click.group(cls=LbsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lbsync")
def main() -> None:
    """lbsync: one model of Exchange namespaces, servers and protocols; both sides of TLS offloading/bridging.

    Exit codes: 0 success / in sync, 1 a check found problems (or changes pending with --exit-code), 2 bad
    input or usage, 3 an internal error in lbsync (LBSYNC_DEBUG=1 shows the traceback).
    """


for _command in (model.validate, model.plan_cmd, render.render, model.schema, model.init, cert.cert, f5.f5,
                 audit.audit, audit.probe, report.report):
    main.add_command(_command)
