"""How many examples a slow Hypothesis property runs: its full max_examples in the whole suite; in the quick loop
(`pytest -m "not lab"`: tests/quickloop.py sets LBSYNC_TESTS_QUICK=1 for its workers) a quarter, at least 10.
The whole suite (`.ci/run`, no -m) keeps every count as written at the test."""

from __future__ import annotations

import os

QUICK = os.environ.get("LBSYNC_TESTS_QUICK") == "1"


def examples(full: int) -> int:
    return max(10, full // 4) if QUICK else full
