"""`lbsync f5 plan` and `lbsync f5 apply --method imperative`: read, diff, install files, one transaction.

Apply, per attempt: read what lbsync owns on the device, diff against the desired objects, stop if nothing
differs; refuse if too many of lbsync's objects would be deleted (unless forced); install the certificate/key
files that are missing or differ (fingerprint); then queue every object change in ONE transaction and commit.
A connection error or 5xx anywhere repeats the whole attempt after re-reading the device (an attempt whose commit
went through but whose answer was lost finds nothing left to do); a refusal (4xx) is final. Files installed by
a failed apply and referenced by nothing are removed again, so a failure leaves the device as it was. Uploaded
certificate/key files never stay in /var/config/rest/downloads: see upload.py (an upload that cannot be deleted
stops the apply, exit 1, naming it).
"""

from __future__ import annotations

import time

from ...plan.types import Plan
from .connection import Connection, DeviceError, Retryable, connect
from .device import Preview, Progress, Result, check_safety, checksum, install_files, remove_unused, same_state
from .diff import Change, compute
from .files import Material
from .have import read_owned
from .sdk import require, run_transaction
from .want import Desired, build

METHOD = "imperative"
__all__ = ["METHOD", "require", "connect", "desired", "plan", "apply"]


def desired(plan: Plan, material: Material | None) -> Desired:
    return build(plan, material)


def diff_device(conn: Connection, want: Desired, *, file_partition: str | None = None,
                progress: Progress = lambda t: None) -> tuple[list[Change], str]:
    """(the changes, their checksum: device.checksum)."""
    have = read_owned(conn, want.partition, file_partition=file_partition, progress=progress)
    changes = compute(want, have)
    return changes, checksum(changes)


def plan(conn: Connection, plan: Plan, material: Material | None, *,
         progress: Progress = lambda t: None) -> Preview:
    """Read the device and diff it with what lbsync wants (changes nothing)."""
    changes, state = diff_device(conn, desired(plan, material), progress=progress)
    return Preview(changes, device_checksum=state)


def apply(conn: Connection, plan: Plan, material: Material | None, *, force: bool = False, retries: int = 2,
          backoff: float = 0.5, progress: Progress = lambda text: None,
          expected_checksum: str | None = None) -> Result:
    """Apply: read, diff, refuse if the device no longer holds what the plan was made from (expected_checksum),
    stop if nothing differs, check the delete/modify shares, install files, one transaction; a connection error
    or 5xx repeats the whole attempt after re-reading the device (a repeated attempt may find its own earlier
    write: the checksum is checked on the first read only)."""
    require()
    want = desired(plan, material)
    result = Result([])
    installed: list[Change] = []
    delay = backoff
    try:
        for attempt in range(1, retries + 2):
            result.attempts = attempt
            try:
                changes, state = diff_device(conn, want, progress=progress)
                if attempt == 1:
                    same_state(expected_checksum, state)
                result.changes = changes
                pending = [c for c in changes if c.action != "unchanged"]
                if not pending:
                    return result
                check_safety(changes, force=force)
                install_files(conn, changes, progress, installed)
                objects = [c for c in pending if not (c.crypto and c.action != "delete")]
                if objects:
                    run_transaction(conn, objects, progress)
                result.applied = True
                result.installed = [c.path for c in installed]
                return result
            except Retryable as exc:
                if attempt > retries:
                    raise
                progress(f"attempt {attempt} failed ({exc}); re-reading the device in {delay:.1f}s")
                time.sleep(delay)
                delay *= 2
    except DeviceError:
        remove_unused(conn, installed, progress)
        raise
    return result
