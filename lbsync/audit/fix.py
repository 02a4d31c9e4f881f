"""The remediation script: lbsync's own apply script, rendered from a copy of the plan restricted to what drifted.

For each server with repairable drift, `plan.exchange` is narrowed with dataclasses.replace — that server only,
only its drifted IIS locations, Outlook Anywhere / OAB / MRSProxy / HTTP.sys only where they drifted — and handed
to the Exchange renderer, so the guards, the backup, -WhatIf and the app-pool recycling are exactly those of apply.
Outlook Anywhere is repaired with apply's one Set-OutlookAnywhere (every parameter of the plan, guarded): Exchange
takes a host name only together with that side's *ClientsRequireSsl and authentication method.
What lbsync never changes (the site root, the back-end site, settings it does not manage) and what is missing
from the evidence is not repaired: it is listed for a person to look at.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import LbsyncError
from ..facts import catalog
from ..output.text import ps_comment
from ..output.writer import atomic_write
from ..plan.lookup import slug
from ..plan.types import ExchangePlan, Plan
from ..targets import exchange as exrender
from ..targets.protocol import RenderOptions
from .drift import SSL_CODES, Drift, Report
from .evidence import EWS_MRSPROXY, HTTP_SYS, OAB_REQUIRE_SSL, server_exchange

RPC_LOCATION = f"{catalog.SITE}/Rpc"


def repairable(plan: Plan, d: Drift) -> bool:
    ex = server_exchange(plan).get(d.server, plan.exchange)
    if d.code in SSL_CODES:
        return d.location in ex.appcmd_locations or (d.location == RPC_LOCATION
                                                     and ex.outlook_anywhere.ssl_offloading is not None)
    if d.location in _oa_items(ex):   # a setting apply's Set-OutlookAnywhere sets, so the fix can
        return d.code != "location-missing"
    return d.location in (OAB_REQUIRE_SSL, EWS_MRSPROXY, *HTTP_SYS.values()) and d.code != "location-missing"


def _oa_items(ex: ExchangePlan) -> set[str]:
    """The drift items of the Outlook Anywhere settings apply's one Set-OutlookAnywhere sets."""
    return {f"Outlook Anywhere: {p}" for p in ex.outlook_anywhere.apply}


def with_managed_descendants(managed: list[str], repaired: set[str]) -> list[str]:
    """The repaired locations plus every managed location under one of them, in the plan's (parent-first) order.

    Repairing a parent changes what its children inherit: owa/Calendar that lost its own "None" looks right while
    owa has drifted to None, and turns wrong once owa is repaired. The children's guarded lines re-check them after
    the parent is set and change nothing when they still match.
    """
    roots = [r.lower() + "/" for r in repaired]
    return [loc for loc in managed if loc in repaired or any(loc.lower().startswith(r) for r in roots)]


def restricted_plan(plan: Plan, server: str, drift: list[Drift]) -> Plan:
    """A copy of the plan that applies exactly these drift items on this one server (its group's expectations;
    other groups left out)."""
    ex = server_exchange(plan)[server]
    items = {d.location for d in drift if repairable(plan, d)}
    oa = ex.outlook_anywhere
    # any Outlook Anywhere item (or /Rpc's sslFlags): apply's whole command, guarded, as one
    fix_oa = bool(items & _oa_items(ex)) or RPC_LOCATION in items
    exchange = dataclasses.replace(
        ex,
        servers=tuple(s for s in ex.servers if s.name == server),
        appcmd_locations=with_managed_descendants(ex.appcmd_locations, items),
        outlook_anywhere=oa if fix_oa else dataclasses.replace(oa, ssl_offloading=None, apply={}),
        oab_require_ssl=ex.oab_require_ssl if OAB_REQUIRE_SSL in items else None,
        mrsproxy_enabled=ex.mrsproxy_enabled if EWS_MRSPROXY in items else False,
        # either HTTP.sys value: apply's guarded lines for both (each a no-op where it already matches)
        http_sys=ex.http_sys if items & set(HTTP_SYS.values()) else {},
    )
    return dataclasses.replace(plan, exchange=exchange, group_exchanges=[])


def script_path(base: str | Path, server: str) -> Path:
    """fix.ps1 -> fix-EX01.ps1 (one script per server: each runs on its own server, as apply does)."""
    base = Path(base)
    suffix = base.suffix or ".ps1"
    return base.with_name(f"{base.stem if base.suffix else base.name}-{slug(server)}{suffix}")


def fix_scripts(plan: Plan, report: Report, *, base: str | Path = "fix.ps1", flavour: str = "appcmd",
                templates: str | Path | None = None) -> tuple[dict[str, str], list[Drift]]:
    """(server -> script text, drift items the scripts do not repair). `base` names the scripts (script_path)."""
    scripts: dict[str, str] = {}
    for server in server_exchange(plan):
        mine = [d for d in report.for_server(server) if repairable(plan, d)]
        if not mine:
            continue
        narrowed = restricted_plan(plan, server, mine)
        files = exrender.render(narrowed, RenderOptions(templates=templates, flavour=flavour))
        text = files[f"exchange/apply-{slug(server)}.ps1"].content
        # the help block's example names the file this is written to
        text = text.replace(f".\\apply-{slug(server)}.ps1", f".\\{script_path(base, server).name}")
        scripts[server] = _with_header(text, server, mine)
    unrepaired = [d for d in report.drift if not repairable(plan, d)]
    return scripts, unrepaired


def _with_header(text: str, server: str, items: list[Drift]) -> str:
    """Comment lines before the script's help block: what this fix repairs (comments only, so the help block and
    param() still lead the script as PowerShell requires)."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    nl = "\r\n" if "\r\n" in body else "\n"
    lines = [f"# lbsync audit fix for {ps_comment(server)}: repairs {len(items)} drifted item(s) and nothing else;",
             "# the same guards, backup, -WhatIf and recycling as apply. Run it on that server, then verify again."]
    # evidence values are data: one comment line each, never a line break or a `#>` of theirs
    lines += [ps_comment(f"#   {d.location}: {_show(d.actual)} -> {_show(d.expected)}  [{d.code}]") for d in items]
    if any(d.location == RPC_LOCATION for d in items):
        lines += ["# /Rpc's sslFlags are written by the Microsoft Exchange Service Host about 15 minutes after",
                  "# Set-OutlookAnywhere; if Outlook Anywhere already shows the right SSLOffloading, wait for it (or",
                  "# Restart-Service MSExchangeServiceHost) and verify again."]
    return bom + nl.join(lines) + nl + body


def _show(value) -> str:
    if isinstance(value, bool):
        return "$true" if value else "$false"
    return "(missing)" if value is None else str(value)


def write_fix_scripts(base: str | Path, scripts: dict[str, str]) -> list[Path]:
    written = []
    for server, text in scripts.items():
        path = script_path(base, server)
        try:
            atomic_write(path, text)
        except OSError as exc:
            raise LbsyncError(f"cannot write: {exc.strerror}", file=str(path)) from None
        written.append(path)
    return written
