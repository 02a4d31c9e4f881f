"""The Exchange state every server of a group must have: what verify-SERVER.ps1 compares on the server and what
`lbsync audit` compares in the evidence (docs/verify-json.md). One statement of it, read by both."""

from __future__ import annotations

from ..facts import catalog, vdirauth
from .types import ExchangePlan


def outlook_anywhere(ex: ExchangePlan) -> dict | None:
    """Get-OutlookAnywhere property -> expected value; None when no namespace carries rpc (left alone)."""
    offloading = ex.outlook_anywhere.ssl_offloading
    if offloading is None:
        return None
    return {
        "SSLOffloading": offloading,
        # Microsoft: with SSLOffloading $false, internal and external clients must be told to use SSL
        **({} if offloading else {"ExternalClientsRequireSsl": True, "InternalClientsRequireSsl": True}),
        **ex.outlook_anywhere.managed}


def vdir_auth(ex: ExchangePlan) -> dict[str, list[str]]:
    """service -> what its virtual directory accepts, in the words the cmdlets can show (facts.vdirauth)."""
    return {s: vdirauth.comparable(s, methods) for s, methods in ex.auth.items() if s in vdirauth.VDIRS}


def exchange_state(ex: ExchangePlan) -> dict:
    """What verify compares with: effective sslFlags of every managed location (Rpc included, as the Service
    Host writes it), the site roots lbsync never touches, the Exchange settings lbsync manages, and what each
    managed virtual directory accepts (vdir_auth: compared, never changed). `null` means not managed."""
    return {
        "locations": dict(ex.locations),
        "site_root": catalog.SITE_ROOT_FLAGS,
        "back_end_root": catalog.BACK_END_DEFAULT_FLAGS[""],
        "outlook_anywhere": outlook_anywhere(ex),
        "oab": None if ex.oab_require_ssl is None else {"RequireSSL": ex.oab_require_ssl},
        "ews": {"MRSProxyEnabled": True} if ex.mrsproxy_enabled else None,
        "vdir_auth": vdir_auth(ex),
    }


def back_end_default(path: str) -> str:
    """Exchange's default effective sslFlags of an Exchange Back End location (never changed by lbsync)."""
    prefix = catalog.BACK_END_SITE.lower() + "/"
    rel = path[len(prefix):] if path.lower().startswith(prefix) else ""
    return catalog.BACK_END_DEFAULT_FLAGS.get(rel, catalog.BACK_END_DEFAULT_FLAGS[""])
