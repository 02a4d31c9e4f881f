"""What Exchange writes in applicationHost.config, location by location, as real servers have it.

Every value below was read from applicationHost.config files captured on real Exchange servers and published by
Microsoft's CSS team as test data in microsoft/CSS-Exchange (their facts, with each file's path, are kept in
tests/fixtures/captures/facts.json; tests check this table against them):
 [E15nc]     Shared/Tests/ExtendedProtection/Data/E15_NotConfigured_Both_ApplicationHost.config — Exchange 2013 CU23,
             Client Access + Mailbox, Extended Protection not configured
 [E15ep]     Shared/Tests/ExtendedProtection/Data/E15_Configured_Both_ApplicationHost.config — the same server after
             an early version of Microsoft's Extended Protection script (tokenChecking only; sslFlags unchanged)
 [E16cu22]   Diagnostics/HealthChecker/Tests/DataCollection/E16/Exchange/IIS/applicationHost.config — 2016 CU22
 [E19cu11]   Shared/Tests/Data/E19_applicationHost_Default.config (commit 39b0e129) — 2019 CU11
 [E19cu12ep] Diagnostics/HealthChecker/Tests/DataCollection/E19/Exchange/IIS/applicationHost1.config (commit
             16759db6) — 2019 CU12 with Extended Protection configured by a current version of Microsoft's script
 [MS-EP]     Microsoft Learn, "Configure Windows Extended Protection in Exchange Server" (2025-04-30): the
             recommended sslFlags per virtual directory with Extended Protection ("Ssl,Ssl128" for the back end's
             RPC, RPCWithCert, MAPI/emsmdb, MAPI/nspi, the front end's RPC); CSS-Exchange
             Shared/Get-ExtendedProtectionConfiguration.ps1 sets the missing flags.
SE: no capture of an SE server was found; SE RTM is 2019 CU15's code (facts.versions [SE-CODE]), so it is given
2019's values — an inference, said so.

Notes from the captures: the back end does NOT have "Ssl, Ssl128" everywhere — /Rpc and /RpcWithCert are None and
/mapi/emsmdb, /mapi/nspi are Ssl (no Ssl128) until Extended Protection is configured; /owa/Calendar is None on both
sites; PowerShell is SslNegotiateCert on the front end and "Ssl, SslNegotiateCert, Ssl128" on the back end. The
front end has no /RpcWithCert. ActiveSync carries an explicit "Ssl, Ssl128" on 2016 and 2019 (E16cu22, E19cu11) and
inherits the same value on 2013 (E15nc; also E19cu12ep, whose history is not known: the effective value is the same).
"""

from __future__ import annotations

from dataclasses import dataclass

from .sslflags import NONE, REQUIRE_SSL
from .versions import ExVersion

SITE = "Default Web Site"
BACK_END_SITE = "Exchange Back End"
NEGOTIATE_CERT = "SslNegotiateCert"
BACK_END_POWERSHELL = "Ssl, SslNegotiateCert, Ssl128"
SSL_ONLY = "Ssl"


@dataclass(frozen=True)
class IisLocation:
    site: str
    path: str                       # relative to the site; "" is the site itself
    flags: str | None               # the sslFlags a default install writes on this location; None: inherits
    app_pool: str
    auth: tuple[bool, bool, bool]   # effective anonymous, basic, windows authentication
    ep_flags: str | None = None     # what Microsoft's current Extended Protection script writes, where it differs
    since: ExVersion | None = None  # first version with it (None: all 2013+)
    until: ExVersion | None = None  # last version with it (None: every version since)
    inherits_on: tuple[ExVersion, ...] = ()   # versions whose default install writes no sslFlags here (the
    #                                           same effective value, inherited from the site)

    @property
    def full(self) -> str:
        return f"{self.site}/{self.path}" if self.path else self.site

    def exists_on(self, version: int) -> bool:
        return (self.since is None or version >= self.since) and (self.until is None or version <= self.until)

    def explicit_on(self, version: int) -> str | None:
        """The sslFlags a default install of this version writes on the location itself (None: inherits)."""
        return None if version in self.inherits_on else self.flags


def _fe(path, flags, pool, auth, **kw) -> IisLocation:
    return IisLocation(SITE, path, flags, pool, auth, **kw)


def _be(path, flags, pool, auth, **kw) -> IisLocation:
    return IisLocation(BACK_END_SITE, path, flags, pool, auth, **kw)


T, F = True, False
# Default Web Site (the front end, ports 80/443) [E15nc] [E16cu22] [E19cu11] [E19cu12ep]
FRONT_END: tuple[IisLocation, ...] = (
    _fe("", REQUIRE_SSL, "MSExchangeOWAAppPool", (T, F, F)),
    _fe("owa", None, "MSExchangeOWAAppPool", (F, T, F)),
    _fe("owa/Integrated", REQUIRE_SSL, "MSExchangeOWAAppPool", (F, F, T)),
    _fe("owa/oma", REQUIRE_SSL, "MSExchangeOWAAppPool", (F, T, F)),
    _fe("owa/Calendar", NONE, "MSExchangeOWACalendarAppPool", (T, F, F)),
    _fe("ecp", None, "MSExchangeECPAppPool", (T, T, F)),
    _fe("EWS", None, "MSExchangeServicesAppPool", (T, F, T)),
    _fe("Microsoft-Server-ActiveSync", REQUIRE_SSL, "MSExchangeSyncAppPool", (F, T, F),
        inherits_on=(ExVersion.E2013,)),
    _fe("OAB", REQUIRE_SSL, "MSExchangeOABAppPool", (F, F, T)),
    _fe("mapi", REQUIRE_SSL, "MSExchangeMapiFrontEndAppPool", (F, F, T)),
    _fe("Rpc", NONE, "MSExchangeRpcProxyFrontEndAppPool", (F, T, T), ep_flags=REQUIRE_SSL),
    _fe("Autodiscover", None, "MSExchangeAutodiscoverAppPool", (T, T, T)),
    _fe("PowerShell", NEGOTIATE_CERT, "MSExchangePowerShellFrontEndAppPool", (F, F, F)),
    _fe("API", REQUIRE_SSL, "MSExchangeRestFrontEndAppPool", (T, F, T), since=ExVersion.E2016),
)

# Exchange Back End (ports 81/444): lbsync never changes it; audit and verify check it is as Exchange wrote it.
BACK_END: tuple[IisLocation, ...] = (
    _be("", REQUIRE_SSL, "DefaultAppPool", (T, F, F)),
    _be("owa", None, "MSExchangeOWAAppPool", (T, F, T)),
    _be("owa/Calendar", NONE, "MSExchangeOWACalendarAppPool", (T, F, F)),
    _be("ecp", None, "MSExchangeECPAppPool", (T, F, T)),
    _be("EWS", None, "MSExchangeServicesAppPool", (T, F, T)),
    _be("Microsoft-Server-ActiveSync", REQUIRE_SSL, "MSExchangeSyncAppPool", (F, T, F),
        inherits_on=(ExVersion.E2013,)),
    _be("OAB", REQUIRE_SSL, "MSExchangeOABAppPool", (F, F, T)),
    _be("mapi", None, "DefaultAppPool", (T, F, F)),
    _be("mapi/emsmdb", SSL_ONLY, "MSExchangeMapiMailboxAppPool", (F, F, T), ep_flags=REQUIRE_SSL),
    _be("mapi/nspi", SSL_ONLY, "MSExchangeMapiAddressBookAppPool", (F, F, T), ep_flags=REQUIRE_SSL),
    _be("Rpc", NONE, "MSExchangeRpcProxyAppPool", (F, F, T), ep_flags=REQUIRE_SSL),
    _be("RpcWithCert", NONE, "MSExchangeRpcProxyAppPool", (F, F, T), ep_flags=REQUIRE_SSL),
    _be("Autodiscover", None, "MSExchangeAutodiscoverAppPool", (T, F, T)),
    _be("PowerShell", BACK_END_POWERSHELL, "MSExchangePowerShellAppPool", (F, F, T)),
    _be("PushNotifications", REQUIRE_SSL, "MSExchangePushNotificationsAppPool", (T, F, T)),
    _be("API", REQUIRE_SSL, "MSExchangeRestAppPool", (T, F, T), since=ExVersion.E2016),
)

BY_FULL: dict[str, IisLocation] = {loc.full.lower(): loc for loc in FRONT_END + BACK_END}


def site_root(site: str) -> IisLocation:
    return BY_FULL[site.lower()]


def effective(loc: IisLocation, extended_protection: bool = False) -> str:
    """The effective sslFlags of a location on a server Exchange set up (inherited values resolved)."""
    if extended_protection and loc.ep_flags is not None:
        return loc.ep_flags
    if loc.flags is not None:
        return loc.flags
    return site_root(loc.site).flags or NONE


def back_end_accepted(path: str, extended_protection: bool) -> tuple[str, ...]:
    """The effective sslFlags a back-end path may have as Exchange leaves it. With Extended Protection, both the
    value Microsoft's current script writes and the earlier one (its first versions left sslFlags alone [E15ep])."""
    loc = BY_FULL.get(path.lower()) or site_root(BACK_END_SITE)
    if loc.site != BACK_END_SITE:
        raise ValueError(f"not a back-end location: {path}")
    default = effective(loc, False)
    if extended_protection and loc.ep_flags is not None and loc.ep_flags != default:
        return (loc.ep_flags, default)
    return (default,)
