"""Shared fixtures: a session-wide test PKI and helpers to write models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pki import make_pki  # noqa: E402


@pytest.fixture(scope="session")
def pki():
    return make_pki()


@pytest.fixture(scope="session")
def pki_files(pki, tmp_path_factory):
    return pki.write(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def profiles_dir() -> Path:
    return ROOT / "profiles"


@pytest.fixture(scope="session")
def emu_pki():
    """The iControl REST emulator's own server certificate (tests/f5emu)."""
    return make_pki(["localhost"], ips=["127.0.0.1"])


@pytest.fixture
def emu(emu_pki):
    """A running iControl REST emulator on 127.0.0.1 with partitions Common and Exchange; stopped afterwards."""
    from f5emu import Emulator
    from f5emu.testing import PASSWORD, USER
    e = Emulator(users={USER: PASSWORD}, partitions=("Common", "Exchange")).start(pki=emu_pki)
    yield e
    e.stop()
