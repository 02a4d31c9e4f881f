"""Shared fixtures: a session-wide test PKI and helpers to write models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pki import Pki, make_ca, make_leaf, make_pki, new_key  # noqa: E402


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
    """The iControl REST emulator's own server certificate (tests/f5emu), for localhost and 127.0.0.1. Its key is EC
    P-256: the push tests make thousands of TLS handshakes with the emulator, and an ECDSA signature costs the
    emulator far less per handshake than an RSA-2048 one (what lbsync checks of it, the chain to the CA in
    targets.f5.ca_bundle and the names, is the same)."""
    root = make_ca()
    intermediate = make_ca("lbsync test intermediate", issuer=root)
    return Pki(root, intermediate, make_leaf(intermediate, ["localhost"], ips=["127.0.0.1"], key=new_key("ec", 256)))


@pytest.fixture(scope="session")
def emu_server(emu_pki):
    """The iControl REST emulator of this test process (127.0.0.1, partitions Common and Exchange): started once,
    stopped at the end. Tests take it through `emu`, which resets it first."""
    from f5emu import Emulator
    from f5emu.testing import PASSWORD, USER
    e = Emulator(users={USER: PASSWORD}, partitions=("Common", "Exchange")).start(pki=emu_pki)
    yield e
    e.stop()


@pytest.fixture
def emu(emu_server):
    """A running iControl REST emulator on 127.0.0.1 with partitions Common and Exchange, in the state of a device
    just started (Emulator.reset: configuration, tokens, transactions, uploads, AS3, faults, counters, latency);
    the same server (port, certificate) for every test of the process instead of one started and stopped each."""
    yield emu_server.reset()
    emu_server.reset()
