"""Run the `lbsync` command line in this process (click's CliRunner): the same command group, option parsing and
exit-code mapping as the installed script, without paying for a new Python per call. A few tests still run the real
process (`python -m lbsync`) to prove what only a process shows (no traceback reaches the terminal, imports)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from click.testing import CliRunner

from lbsync.cli import main


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args, cwd=None, env=None, input=None) -> Ran:
    """`lbsync ARGS` in `cwd` with extra environment variables; stdout and stderr apart, like subprocess.run."""
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        result = CliRunner().invoke(main, [str(a) for a in args], env=env, input=input, catch_exceptions=True,
                                    prog_name="lbsync")
    finally:
        os.chdir(old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception   # an exception the command line let through: a test failure, not an exit code
    return Ran(result.exit_code, result.stdout, result.stderr)
