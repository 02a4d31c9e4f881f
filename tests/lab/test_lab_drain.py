"""README.txt's HAProxy drain commands (#14 item 9), run as printed against a real haproxy's runtime API."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from lab.fixtures import (
    lab,  # noqa: F401 - fixture
    start_lb,
)
from lbsync.targets import RenderOptions, haproxy

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(not (shutil.which("haproxy") and shutil.which("socat")),
                                 reason="needs haproxy and socat")]


def haproxy_commands(text: str, server: str) -> dict[str, str]:
    """The README's shell lines for one server: B=..., drain, sessions, ready."""
    block = text[text.index(f"  {server}: out"):]
    lines = block.split("\n")[1:]
    b_end = next(i for i, ln in enumerate(lines) if ln.rstrip().endswith('"') and i >= 0)
    assign = "\n".join(lines[:b_end + 1]).strip()
    drain, stat, ready = (ln.strip() for ln in lines[b_end + 1:b_end + 4])
    return {"B": assign, "drain": drain, "stat": stat, "ready": ready}


def admin_states(sock) -> dict[tuple[str, str], int]:
    """`show servers state`: (backend, server) -> srv_admin_state (0x08: forced drain)."""
    out = subprocess.run(["socat", "stdio", str(sock)], input=b"show servers state\n", capture_output=True,
                         check=True).stdout.decode()
    states = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) > 6 and f[0].isdigit():
            states[(f[1], f[3])] = int(f[6])
    return states


def test_haproxy_drain_commands_drain_exactly_that_server_in_every_backend(lab, pki_files,  # noqa: F811
                                                                            tmp_path_factory):
    running = start_lb(lab, pki_files, tmp_path_factory, "haproxy", "offload")
    try:
        sock = running.lb.stats_socket
        text = haproxy.readme(running.plan, RenderOptions(extra={"stats_socket": str(sock)}))
        server = running.plan.exchange.servers[0].name
        cmd = haproxy_commands(text, server)
        before = admin_states(sock)
        mine = {b for (b, s) in before if s == server}
        assert mine and all(v == 0 for v in before.values())
        out = subprocess.run(["bash", "-c", f"{cmd['B']}\n{cmd['drain']}\n{cmd['stat']}"], capture_output=True,
                             text=True, check=True)
        after = admin_states(sock)
        assert {k for k, v in after.items() if v & 0x08} == {(b, server) for b in mine}
        listed = {ln.split()[0] for ln in out.stdout.splitlines() if ln.strip()}
        assert listed == mine   # the sessions line names every backend the server is in
        subprocess.run(["bash", "-c", f"{cmd['B']}\n{cmd['ready']}"], check=True, capture_output=True)
        assert all(v == 0 for v in admin_states(sock).values())
    finally:
        running.lb.stop()
