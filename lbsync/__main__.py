"""`python -m lbsync`: the same command line as the `lbsync` script."""

from lbsync.cli import main

main(prog_name="lbsync")
