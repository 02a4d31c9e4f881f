"""The readable `lbsync plan` view (rich tables)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from .common import new_console

if TYPE_CHECKING:
    from rich.console import Console

    from ..plan.types import GroupPlan, Plan

_LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def print_plan(plan: Plan, console: Console | None = None) -> None:
    if console is None:
        console = new_console(120)
    ex = plan.exchange
    console.print(f"[bold]Exchange {ex.release}[/bold]"
                  + f", Extended Protection {'on' if ex.extended_protection else 'off'}, "
                  f"servers: {', '.join(s.name for s in ex.servers)}")
    for ns in plan.namespaces:
        table = Table(title=f"{ns.host} — listen {ns.bind}" + (" (TCP passthrough, SNI)" if ns.passthrough else ""),
                      title_justify="left")
        for col in ("service", "mode", "backend", "paths", "health check", "timeout", "pool"):
            table.add_column(col)
        for s in ns.routes:
            table.add_row(s.service, s.mode, f"{s.scheme}:{s.port}", " ".join(s.paths),
                          f"{s.health.scheme} {s.health.path}", f"{s.timeout_s}s", s.pool)
        console.print(table)
    if plan.mail:
        table = Table(title="Mail — layer 4, passed through (Exchange keeps its certificate)", title_justify="left")
        for col in ("namespace", "service", "listen", "health check", "idle timeout", "servers see", "pool"):
            table.add_column(col)
        for m in plan.mail:
            c = m.check
            check = ("EHLO, 2xx" if c.kind == "smtp" else f"greeting '{c.expect}'") + (" over TLS" if c.tls else "")
            table.add_row(m.namespace, m.service, m.bind, check, f"{m.timeout_s}s",
                          "the LB (SNAT)" if m.source_address == "lb" else "the client", m.pool)
        console.print(table)
    loc = Table(title="Exchange side (every server, identically)", title_justify="left")
    for col in ("IIS location", "sslFlags (expected)", "Exchange default", "app pool", "set by"):
        loc.add_column(col)
    for path, flags in ex.locations.items():
        # apply writes every location but Rpc, each guarded: a location that keeps a fixed value in every mode
        # (owa/Calendar: None) is set back to it only where it differs
        how = ("Set-OutlookAnywhere" if path not in ex.appcmd_locations else
               f"appcmd / WebAdministration ({flags} in every mode, set only if it differs)"
               if path in ex.fixed_locations else "appcmd / WebAdministration")
        loc.add_row(path, flags, ex.defaults[path], ex.location_pool[path], how)
    console.print(loc)
    oa = ex.outlook_anywhere
    if oa.ssl_offloading is not None:
        console.print(f"Outlook Anywhere: -SSLOffloading ${str(oa.ssl_offloading).lower()}"
                      f" (external {oa.external_hostname or '-'}, {oa.external_auth}/{oa.internal_auth})")
        console.print("  apply runs one Set-OutlookAnywhere (only where something differs): "
                      + " ".join(f"-{k} " + ((f"${str(v).lower()}") if isinstance(v, bool) else str(v))
                                 for k, v in oa.apply.items()))
        if not any(k.endswith(("Hostname", "AuthenticationMethod")) for k in oa.apply):
            console.print("  (no exchange.outlook_anywhere key stated: host names and authentication are left as "
                          "they are)")
        undo = ex.undo_outlook_anywhere_ssl_offloading
        if undo is not None:
            console.print("  undo sets back, in one Set-OutlookAnywhere, what apply recorded before changing it "
                          f"(without a record: -SSLOffloading ${str(undo).lower()})"
                          + (" (Extended Protection is on: SSL offloading stays off)" if undo is False else ""))
    if ex.oab_require_ssl is not None:
        console.print(f"OAB: Set-OabVirtualDirectory -RequireSSL ${str(ex.oab_require_ssl).lower()}")
    if ex.mrsproxy_enabled:
        console.print("MRSProxy: Set-WebServicesVirtualDirectory -MRSProxyEnabled $true (its route is bridged)")
    for gp in plan.coexistence:
        print_group(gp, console)
    findings = plan.relevant()
    if findings:
        ft = Table(title="Findings", title_justify="left")
        for col in ("level", "code", "message"):
            ft.add_column(col)
        for f in findings:
            ft.add_row(f"[{_LEVEL_STYLE[f.level]}]{f.level}[/]", f.code, f.message)
        console.print(ft)


_BEHAVIOUR = {"proxy": "proxied by 2013+", "redirect": "redirected", "autodiscover": "URL from Autodiscover",
              "redirect-if-external-url": "proxied (redirected if its ExternalUrl is set)",
              "direct": "its own namespace"}


def print_group(gp: GroupPlan, console: Console) -> None:
    """One coexistence group: where each client of a mailbox on it lands, and how its Exchange side is set."""
    how = "scripts (exchange/*.ps1)" if gp.scripted else "manual steps (README.txt)"
    console.print(f"[bold]Group {gp.name}[/bold]: Exchange {gp.version}, servers: {', '.join(gp.servers)}; "
                  f"namespaces: {', '.join(gp.namespaces) or '-'}; health: {gp.health_path}; Exchange side: {how}")
    table = Table(title=f"Clients of Exchange {gp.version} mailboxes ({gp.name})", title_justify="left")
    for col in ("service", "2013+ front end", "client lands on", "note"):
        table.add_column(col)
    for c in gp.clients:
        table.add_row(c.service, _BEHAVIOUR[c.behaviour], c.lands_on or "[bold red](nowhere)[/]", c.note)
    console.print(table)
    for svc, step in gp.manual_steps:
        console.print(f"  manual ({svc}): {step}")
