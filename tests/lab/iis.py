"""The IIS Require-SSL state of a simulated server, per location under Default Web Site.

`applied_state` runs the generated exchange/apply-SERVER.ps1 through tests/iisinterp.py against the default
applicationHost.config fixture and reads the effective sslFlags with lbsync.audit.apphost; when the Exchange
renderer is not available it falls back to the flags the plan expects (plan.exchange.locations).
`default_state` is the untouched fixture: what a server looks like before anyone applies lbsync's Exchange side.
"""

from __future__ import annotations

import importlib.util

from lbsync.audit.apphost import effective_flags
from lbsync.facts import catalog, httpsys

SITE = catalog.SITE


def all_locations() -> list[str]:
    """Every location the lab routes on: the site root, every catalog location, PowerShell."""
    locs = [SITE, f"{SITE}/PowerShell"]
    for svc in catalog.SERVICES.values():
        locs += [loc.full for loc in svc.locations]
    return list(dict.fromkeys(locs))


def default_state(version: int) -> dict[str, str]:
    from iisinterp import load_fixture
    return effective_flags(load_fixture(version), all_locations())


def exchange_renderer_available() -> bool:
    return importlib.util.find_spec("lbsync.targets.exchange") is not None


def applied_state(plan, server: str) -> tuple[dict[str, str], str]:
    """(flags per location, how they were obtained: 'interpreter' or 'plan')."""
    if exchange_renderer_available():
        return interpreted_state(plan, server), "interpreter"
    return planned_state(plan), "plan"


def interpreted_state(plan, server: str) -> dict[str, str]:
    """Run the generated apply-SERVER.ps1 on the fixture; the effective flags afterwards."""
    return effective_flags(_applied(plan, server).apphost, all_locations())


def _applied(plan, server: str):
    from iisinterp import load_fixture, run

    from lbsync.targets import RenderOptions, exchange
    files = exchange.render(plan, RenderOptions())
    return run(load_fixture(plan.exchange.version), files[f"exchange/apply-{server}.ps1"].content, server=server)


def applied_http_sys(plan, server: str) -> dict[str, int]:
    """HTTP.sys's limits on a server once the generated apply-SERVER.ps1 ran (the interpreter's registry values)
    and HTTP.sys restarted: value name -> bytes (Windows' defaults where the script sets nothing)."""
    ex = _applied(plan, server).exchange
    return {name: ex.http_sys_effective(name) for name in httpsys.VALUES}


def planned_state(plan) -> dict[str, str]:
    """The fixture's defaults with the plan's expected flags laid over them."""
    flags = default_state(plan.exchange.version)
    flags.update(plan.exchange.locations)
    return flags
