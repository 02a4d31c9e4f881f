"""The Exchange state every server of a group must have: what verify-SERVER.ps1 compares on the server and what
`lbsync audit` compares in the evidence (docs/verify-json.md). One statement of it, read by both."""

from __future__ import annotations

from ..facts import catalog, iis, vdirauth
from .types import ExchangePlan


def outlook_anywhere(ex: ExchangePlan) -> dict | None:
    """Get-OutlookAnywhere property -> expected value: exactly the parameters apply's one Set-OutlookAnywhere sets
    (OutlookAnywherePlan.apply); None when no namespace carries rpc (left alone)."""
    if ex.outlook_anywhere.ssl_offloading is None:
        return None
    return dict(ex.outlook_anywhere.apply)


def vdir_auth(ex: ExchangePlan) -> dict[str, list[str]]:
    """service -> what its virtual directory accepts, in the words the cmdlets can show (facts.vdirauth)."""
    return {s: vdirauth.comparable(s, methods) for s, methods in ex.auth.items() if s in vdirauth.VDIRS}


def exchange_state(ex: ExchangePlan) -> dict:
    """What verify compares with: effective sslFlags of every managed location (Rpc included, as the Service
    Host writes it), the site roots lbsync never touches, the Exchange settings lbsync manages, and what each
    managed virtual directory accepts (vdir_auth: compared, never changed), the HTTP.sys registry values
    http.max_header_bytes sets (http_sys). `null` means not managed."""
    return {
        "locations": dict(ex.locations),
        "site_root": catalog.SITE_ROOT_FLAGS,
        "back_end_root": iis.site_root(catalog.BACK_END_SITE).flags,
        "back_end": back_end(ex),
        "outlook_anywhere": outlook_anywhere(ex),
        "oab": None if ex.oab_require_ssl is None else {"RequireSSL": ex.oab_require_ssl},
        "ews": {"MRSProxyEnabled": True} if ex.mrsproxy_enabled else None,
        "vdir_auth": vdir_auth(ex),
        "http_sys": dict(ex.http_sys) or None,
    }


def back_end(ex: ExchangePlan) -> dict[str, list[str]]:
    """Every Exchange Back End location of this version (relative path, "" the site) -> the effective sslFlags
    it may have as Exchange leaves it (facts.iis: two with Extended Protection where Microsoft's script changed)."""
    return {loc.path: list(iis.back_end_accepted(loc.full, ex.extended_protection))
            for loc in iis.BACK_END if loc.exists_on(ex.version)}


def back_end_accepted(path: str, extended_protection: bool) -> tuple[str, ...]:
    """The effective sslFlags an Exchange Back End path may have (never changed by lbsync)."""
    return iis.back_end_accepted(path, extended_protection)
