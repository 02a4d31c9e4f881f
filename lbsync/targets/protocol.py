"""The interfaces every target implements (see docs/architecture.md, "Adding a load balancer").

A render target is one module with:
    NAME: str                 the --target name ("haproxy")
    LB_KIND: str | None       whose findings block it (Finding.target: "haproxy", "nginx", "f5"; None: Exchange)
    render(plan, options) -> {relative path: Output}
    readme(plan, options) -> str                      its section of README.txt
    check: callable | None    check(plan, files, work) -> verdict line: the real program's own check (--check)
A push method (F5 imperative, F5 AS3) is one module with connect / desired / plan / apply (Pusher below).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..output.writer import Output
from ..plan.types import Plan


@dataclass
class RenderOptions:
    templates: str | Path | None = None
    flavour: str = "appcmd"            # Exchange scripts: appcmd | webadministration
    extra: dict = field(default_factory=dict)


class Target(Protocol):
    NAME: str
    LB_KIND: str | None
    check: Callable[[Plan, dict[str, Output], Path], str] | None

    def render(self, plan: Plan, options: RenderOptions) -> dict[str, Output]: ...

    def readme(self, plan: Plan, options: RenderOptions) -> str: ...


class Pusher(Protocol):
    """Pushes the plan to a device: `plan` is a dry run returning the changes and their checksum, `apply` makes
    them — only while the device still gives that checksum (`expected_checksum`)."""
    METHOD: str

    def require(self) -> None: ...

    def connect(self, plan: Plan, *, warn: Callable[[str], None] | None = None) -> Any: ...

    def desired(self, plan: Plan, material: Any) -> Any: ...

    def plan(self, conn: Any, plan: Plan, material: Any, *, progress: Callable[[str], None] = ...) -> Any: ...

    def apply(self, conn: Any, plan: Plan, material: Any, *, force: bool = False,
              progress: Callable[[str], None] = ..., expected_checksum: str | None = None) -> Any: ...
