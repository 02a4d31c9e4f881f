"""The order of a cut-over across both sides (README.txt), decided once from the modes.

The rule: every step leaves every path working. A location that stops requiring SSL accepts HTTP and HTTPS, so the
servers go first where the load balancer will send plain HTTP (offload), and the load balancer switches only when
every server is done. A load balancer that re-encrypts or passes TLS through sends HTTPS, which a server accepts
whatever its settings, so it goes first where apply may make the servers require SSL again (bridge, passthrough).
Going back (undo) is the same rule the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..facts.lb import Mode
from .types import Plan


@dataclass(frozen=True)
class Cutover:
    servers_first: tuple[str, ...]   # offloaded services: the servers must accept HTTP before the LB sends it
    lb_first: tuple[str, ...]        # bridged / passed-through services: the LB sends HTTPS before apply requires SSL
    servers: tuple[str, ...]         # the servers lbsync writes scripts for, in model order

    @property
    def order(self) -> str:
        """"servers-first" when anything is offloaded (the load balancer switches last), else "lb-first"."""
        return "servers-first" if self.servers_first else "lb-first"


def cutover(plan: Plan) -> Cutover:
    offloaded: dict[str, None] = {}
    secured: dict[str, None] = {}
    servers: dict[str, None] = {}
    for ex in plan.exchanges:
        for service, mode in ex.modes.items():
            (offloaded if mode == Mode.OFFLOAD else secured)[str(service)] = None
        servers.update(dict.fromkeys(s.name for s in ex.servers))
    return Cutover(tuple(offloaded), tuple(s for s in secured if s not in offloaded), tuple(servers))
