"""Exchange facts as data: virtual directories, IIS locations, app pools, paths, health URLs, defaults.

Sources: Microsoft Learn "Configuring SSL offloading in Exchange 2013" (the appcmd/Set-OutlookAnywhere steps),
"Load balancing in Exchange Server" (per-protocol Managed Availability health pages, no affinity needed since
2013), "Exchange Server TLS guidance / Extended Protection" (EP default from Exchange 2019 CU14), and what real
Exchange servers have in applicationHost.config (facts.iis: sslFlags, app pools, authentication per location).
The same facts hold for 2013, 2016, 2019 and Subscription Edition except where `since` says otherwise (SE RTM is
2019 CU15's code: facts.versions).
 [API] Exchange Team Blog, "On-Premises Architectural Requirements for the REST API" (2016-09-26): "Exchange 2016
       Cumulative Update 3 (CU3) includes support for the REST API integration with Office 365 ... CU3 introduces a new
       virtual directory to support the REST API, the /api virtual direc[tory]"; CSS-Exchange
       Get-ExtendedProtectionConfiguration.ps1: "# No API virtual directory" on Exchange 2013. Its clients: the
       hybrid REST preview (ended, "Update 3/4/2022") — no Microsoft page names a current external client, so it
       is optional: route it only if something of yours uses it.
 [MA]  Microsoft Learn KB 3002351 "Load balancer marks Client Access server as down in an Exchange Server 2013
       Cumulative Update 6 environment" (monitor https://CAS/<protocol>/healthcheck.htm): the per-protocol
       healthcheck.htm pages are Exchange 2013's Managed Availability; Exchange 2007/2010 have none.
Facts for server groups of other versions (coexistence) are in facts.coexistence; what the load balancer does
per version (persistence, TLS toward the servers, balancing) in facts.lb.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from . import iis
from .sslflags import NONE
from .versions import SE, ExVersion

SITE = iis.SITE
BACK_END_SITE = iis.BACK_END_SITE  # ports 81/444: never touched, no generated line names it


class Svc(StrEnum):
    """The model's service keys (and mrsproxy, the route `exchange.mrsproxy: true` adds)."""
    OWA = "owa"
    ECP = "ecp"
    EWS = "ews"
    EAS = "eas"
    OAB = "oab"
    MAPI = "mapi"
    RPC = "rpc"
    AUTODISCOVER = "autodiscover"
    API = "api"
    MRSPROXY = "mrsproxy"                # routes the plan adds beside a key's own (not model keys)
    OWA_INTEGRATED = "owa-integrated"


# Exchange's defaults in applicationHost.config (what `undo` restores and `audit` expects where lbsync changes
# nothing), from real servers' captures (facts.iis). "inherit" means the location has no <access> of its own and
# takes the site root's value.
SITE_ROOT_FLAGS = iis.site_root(SITE).flags or NONE
DEFAULT_FLAGS: dict[str, str] = {loc.path: (loc.flags if loc.flags is not None else "inherit")
                                 for loc in iis.FRONT_END if loc.path}


def default_flags(path: str, version: int) -> str:
    """Exchange's default sslFlags of a front-end location on a server of this version: its own value, or
    "inherit" where a default install writes none there (ActiveSync on 2013)."""
    loc = iis.BY_FULL[f"{SITE}/{path}".lower()]
    explicit = loc.explicit_on(version)
    return explicit if explicit is not None else "inherit"


@dataclass(frozen=True)
class Location:
    path: str                 # under "Default Web Site"
    app_pool: str
    follows_mode: bool = True  # False: keeps its own fixed value in every mode (owa/Calendar)
    fixed: str | None = None

    @property
    def full(self) -> str:
        return f"{SITE}/{self.path}"


@dataclass(frozen=True)
class Service:
    key: str
    title: str
    locations: tuple[Location, ...]
    lb_paths: tuple[str, ...]          # case-insensitive prefixes at the load balancer
    health_path: str                   # anonymous, answers `health_expect` on a healthy server

    default_auth: tuple[str, ...]
    idle_timeout_s: int                # how long an idle/long-poll request may last at the LB
    streaming: bool                    # never buffer request/response bodies
    managed_by_exchange: bool = False  # IIS flags set through an Exchange cmdlet, never by appcmd
    since: tuple[int, int] | None = None  # (version, cu) it first appeared in, when not in 2013 RTM
    health_expect: str = "200"         # HTTP status (or range) a healthy server answers on health_path
    parent: str | None = None          # a route the plan adds beside this model key's own route


def _loc(path: str, pool: str) -> Location:
    return Location(path, pool)


SERVICES: dict[str, Service] = {s.key: s for s in [
    Service("owa", "Outlook on the web",
            (_loc("owa", "MSExchangeOWAAppPool"), _loc("owa/Integrated", "MSExchangeOWAAppPool"),
             _loc("owa/oma", "MSExchangeOWAAppPool"),
             Location("owa/Calendar", "MSExchangeOWACalendarAppPool", follows_mode=False, fixed=NONE)),
            ("/owa",), "/owa/healthcheck.htm", ("Forms",), 600, False),
    Service("ecp", "Exchange admin center / control panel", (_loc("ecp", "MSExchangeECPAppPool"),),
            ("/ecp",), "/ecp/healthcheck.htm", ("Forms",), 600, False),
    Service("ews", "Exchange Web Services", (_loc("EWS", "MSExchangeServicesAppPool"),),
            ("/ews",), "/EWS/healthcheck.htm", ("Ntlm", "Negotiate"), 2100, True),  # streaming subscriptions ≤ 30 min
    Service("eas", "Exchange ActiveSync",
            (_loc("Microsoft-Server-ActiveSync", "MSExchangeSyncAppPool"),),
            ("/microsoft-server-activesync",), "/Microsoft-Server-ActiveSync/healthcheck.htm", ("Basic",),
            3900, True),  # Ping heartbeat up to 59 minutes
    Service("oab", "Offline Address Book", (_loc("OAB", "MSExchangeOABAppPool"),),
            ("/oab",), "/OAB/healthcheck.htm", ("Ntlm", "Negotiate"), 600, False),
    Service("mapi", "MAPI over HTTP", (_loc("mapi", "MSExchangeMapiFrontEndAppPool"),),
            ("/mapi",), "/mapi/healthcheck.htm", ("Ntlm", "Negotiate"), 3600, True, since=(2013, 4)),
    Service("rpc", "Outlook Anywhere (RPC over HTTP)", (_loc("Rpc", "MSExchangeRpcProxyFrontEndAppPool"),),
            ("/rpc",), "/rpc/healthcheck.htm", ("Ntlm", "Negotiate"), 3600, True, managed_by_exchange=True),
    Service("autodiscover", "Autodiscover", (_loc("Autodiscover", "MSExchangeAutodiscoverAppPool"),),
            ("/autodiscover",), "/Autodiscover/healthcheck.htm", ("Basic", "Ntlm", "Negotiate"), 300, False),
    # The REST virtual directory [API]: Exchange 2016 CU3 and later (none on 2013). Extended Protection "Required" on
    # it (the EP page's table), and no Microsoft SSL-offloading procedure names it: it is bridged or passed through,
    # never offloaded (finding api-offload). IIS has anonymous and Windows authentication on (facts.iis): taken as
    # connection-bound. No health page for /API is documented anywhere (searched: Learn, CSS-Exchange, the Exchange
    # Team Blog): the check asks GET /API/ for any answer below 500 — a stopped application pool answers 503 from
    # HTTP.sys — an lbsync decision, said so, not a Microsoft page.
    Service("api", "REST API (/API)", (_loc("API", "MSExchangeRestFrontEndAppPool"),),
            ("/api",), "/API/", ("Ntlm", "Negotiate"), 600, False, since=(2016, 3), health_expect="200-499"),
]}

SERVICE_ORDER = list(SERVICES)

# Routes that are not model keys. MRSProxy: `exchange.mrsproxy: true` adds it, always re-encrypted.
MRSPROXY = Service("mrsproxy", "Mailbox Replication Proxy (under EWS)", (),
                   ("/ews/mrsproxy.svc",), "/EWS/healthcheck.htm", ("Ntlm", "Negotiate"), 3600, True, parent="ews")
# /owa/Integrated: an application of its own in the owa app pool whose IIS authentication is Windows only on every
# captured server (facts.iis: anonymous/basic/windows = F/F/T), beside forms-based /owa; no Exchange cmdlet changes
# it. Its own route keeps it connection-bound while /owa keeps upstream keep-alive. No health page of its own: the
# proxy maps it onto the owa virtual directory, so /owa/healthcheck.htm answers for it (/work/research notes:
# decompiled HttpProxy code, not a Microsoft page). Follows owa's mode.
OWA_INTEGRATED = Service("owa-integrated", "Outlook on the web, Windows-integrated (/owa/Integrated)", (),
                         ("/owa/integrated",), "/owa/healthcheck.htm", ("Ntlm", "Negotiate"), 600, False,
                         parent="owa")
ROUTES: dict[str, Service] = {r.key: r for r in (MRSPROXY, OWA_INTEGRATED)}

# The names administrators (and Microsoft's pages) use for a service -> its model key; only for "did you mean".
# Compared lower-case with spaces, '-', '_' and '/' removed.
SERVICE_ALIASES = {
    "activesync": "eas", "microsoftserveractivesync": "eas", "exchangeactivesync": "eas",
    "outlookanywhere": "rpc", "rpchttp": "rpc", "rpcoverhttp": "rpc", "oa": "rpc",
    "mapihttp": "mapi", "mapioverhttp": "mapi",
    "webservices": "ews", "exchangewebservices": "ews",
    "outlookwebapp": "owa", "outlookwebaccess": "owa", "outlookontheweb": "owa",
    "eac": "ecp", "controlpanel": "ecp", "exchangeadmincenter": "ecp",
    "offlineaddressbook": "oab", "rest": "api", "restapi": "api", "autod": "autodiscover",
}


def service_alias(name: str) -> str | None:
    """The model key an administrator most likely meant by `name` (activesync -> eas), or None."""
    folded = "".join(ch for ch in name.lower() if ch not in " -_/")
    return SERVICE_ALIASES.get(folded)


def service(key: str) -> Service:
    """A model key's service, or a route the plan adds (mrsproxy, owa-integrated)."""
    return SERVICES[key] if key in SERVICES else ROUTES[key]

# Exchange PowerShell identities per virtual directory, as in -Identity "EX01\Rpc (Default Web Site)".
IDENTITY = {
    "rpc": "Rpc (Default Web Site)",
    "oab": "OAB (Default Web Site)",
    "ews": "EWS (Default Web Site)",
}

# Outlook Anywhere: Exchange's default is SSLOffloading $true (Rpc vdir sslFlags None).
OUTLOOK_ANYWHERE_DEFAULT_SSL_OFFLOADING = True
OAB_DEFAULT_REQUIRE_SSL = True

# Extended Protection is on by default from Exchange 2019 CU14 [EP]: "Extended Protection is enabled by default when
# installing Exchange Server 2019 CU14 (or later)"; the same page applies to Subscription Edition, whose RTM is
# code equivalent to 2019 CU15 (facts.versions [SE-CODE]): every SE server has it on unless told otherwise.
#  [EP] Microsoft Learn, "Configure Windows Extended Protection in Exchange Server" (2025-04-30, applies to 2016,
#       2019, Subscription Edition).
EP_DEFAULT_SINCE = (ExVersion.E2019, 14)


def extended_protection_default(version: int, cu: int | None) -> bool:
    """Whether a server of this version and CU has Extended Protection on unless told otherwise."""
    if version == SE:
        return True
    since_version, since_cu = EP_DEFAULT_SINCE
    return version == since_version and cu is not None and cu >= since_cu


# lbsync writes Exchange scripts for these; 2007/2010: manual steps. SE shares 2019's virtual directories, app
# pools and health pages: its RTM is 2019 CU15's code (facts.versions [SE-CODE]).
SCRIPTED_VERSIONS = (ExVersion.E2013, ExVersion.E2016, ExVersion.E2019, SE)
MANAGED_AVAILABILITY_SINCE = ExVersion.E2013  # healthcheck.htm per protocol [MA]

VERSION_SERVICES: dict[ExVersion, tuple[str, ...]] = {
    # ECP appeared in 2010; MAPI over HTTP in 2013 SP1, /API in 2016 CU3 (see `since` above).
    ExVersion.E2007: ("owa", "ews", "eas", "oab", "rpc", "autodiscover"),
    ExVersion.E2010: ("owa", "ecp", "ews", "eas", "oab", "rpc", "autodiscover"),
    ExVersion.E2013: tuple(s for s in SERVICE_ORDER if s != "api"), ExVersion.E2016: tuple(SERVICE_ORDER),
    ExVersion.E2019: tuple(SERVICE_ORDER), SE: tuple(SERVICE_ORDER),
}
