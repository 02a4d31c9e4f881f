"""Exchange facts as data: virtual directories, IIS locations, app pools, paths, health URLs, defaults.

Sources: Microsoft Learn "Configuring SSL offloading in Exchange 2013" (the appcmd/Set-OutlookAnywhere steps),
"Load balancing in Exchange Server" (per-protocol Managed Availability health pages, no affinity needed since
2013), "Exchange Server TLS guidance / Extended Protection" (EP default from Exchange 2019 CU14), and the
applicationHost.config a default Exchange 2013/2016/2019 installation writes (sslFlags below).
The same facts hold for 2013, 2016 and 2019 except where `since` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

SITE = "Default Web Site"
BACK_END_SITE = "Exchange Back End"  # ports 81/444: never touched, no generated line names it
REQUIRE_SSL = "Ssl, Ssl128"
NONE = "None"

# Exchange's defaults in applicationHost.config (what `undo` restores and `audit` expects where lbsync changes
# nothing). "inherit" means the location has no <access> of its own and takes the site root's value.
SITE_ROOT_FLAGS = REQUIRE_SSL
DEFAULT_FLAGS: dict[str, str] = {
    "owa": "inherit", "ecp": "inherit", "EWS": "inherit", "Autodiscover": "inherit",
    "Microsoft-Server-ActiveSync": REQUIRE_SSL, "OAB": REQUIRE_SSL, "mapi": REQUIRE_SSL,
    "owa/Integrated": REQUIRE_SSL, "owa/oma": REQUIRE_SSL, "owa/Calendar": NONE,
    "Rpc": NONE, "PowerShell": "SslNegotiateCert",
}
# The Exchange Back End site's defaults (audit checks they are kept).
BACK_END_DEFAULT_FLAGS: dict[str, str] = {"": REQUIRE_SSL}


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
    health_path: str                   # anonymous, answers 200 OK on a healthy server (Managed Availability)
    default_auth: tuple[str, ...]
    idle_timeout_s: int                # how long an idle/long-poll request may last at the LB
    streaming: bool                    # never buffer request/response bodies
    managed_by_exchange: bool = False  # IIS flags set through an Exchange cmdlet, never by appcmd
    since: tuple[int, int] | None = None  # (version, cu) it first appeared in, when not in 2013 RTM


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
]}

SERVICE_ORDER = list(SERVICES)

# MRSProxy is not a service key: `exchange.mrsproxy: true` adds this route, always re-encrypted.
MRSPROXY = Service("mrsproxy", "Mailbox Replication Proxy (under EWS)", (),
                   ("/ews/mrsproxy.svc",), "/EWS/healthcheck.htm", ("Ntlm", "Negotiate"), 3600, True)

# Exchange PowerShell identities per virtual directory, as in -Identity "EX01\Rpc (Default Web Site)".
IDENTITY = {
    "rpc": "Rpc (Default Web Site)",
    "oab": "OAB (Default Web Site)",
    "ews": "EWS (Default Web Site)",
}

# Outlook Anywhere: Exchange's default is SSLOffloading $true (Rpc vdir sslFlags None).
OUTLOOK_ANYWHERE_DEFAULT_SSL_OFFLOADING = True
OAB_DEFAULT_REQUIRE_SSL = True
MRSPROXY_DEFAULT_ENABLED = False

# Largest request body the LB must accept: RPC_IN_DATA/RPC_OUT_DATA announce 1 GB bodies that never complete.
MAX_BODY = "2G"

# Extended Protection is on by default from Exchange 2019 CU14.
EP_DEFAULT_SINCE = (2019, 14)


# ---------------------------------------------------------------------------------------------------------------
# Coexistence: what each Exchange version offers when its servers form a server group (groups: in the model).
#
# Sources (titles as published; cited for every fact below):
#  [MA]   Microsoft Learn KB 3002351 "Load balancer marks Client Access server as down in an Exchange Server 2013
#         Cumulative Update 6 environment" (monitor https://CAS/<protocol>/healthcheck.htm) — the per-protocol
#         healthcheck.htm pages are Exchange 2013's Managed Availability; Exchange 2007/2010 have none.
#  [F5]   F5 DevCentral, "Health monitor synthetic transaction for Exchange 2010" (F5's Exchange 2010 deployment
#         guide author): the OWA forms-based monitor does not log on, it checks the logon page
#         /owa/auth/logon.aspx answers (200) — the only anonymous page 2007 and 2010 offer.
#  [O07]  TechNet, "How to Configure SSL Offloading for Outlook Web Access" (Applies to: Exchange Server 2007 SP1,
#         SP2, SP3): OWA offloading is supported (turn off Require SSL on the owa virtual directory and set the
#         registry value that page names); "Microsoft Exchange ActiveSync does not support SSL offloading."
#  [OA07] TechNet, "Set-OutlookAnywhere" (Exchange 2007 SP1-SP3, bb123545(v=exchg.80)): -SSLOffloading.
#  [O10]  TechNet Wiki 1267, "How to Configure SSL Offloading in Exchange 2010": OWA (the SSLOffloaded registry
#         value under HKLM\SYSTEM\CurrentControlSet\Services\MSExchange OWA), ECP, Outlook Anywhere
#         (-SSLOffloading $true), OAB, EAS, EWS and Autodiscover can all be offloaded (Require SSL off).
#  [CC]   Exchange Team Blog, "Client Connectivity in an Exchange 2013 Coexistence Environment" (2014-03-12), and
#         M. Van Horenbeeck, "Exchange 2013 interoperability with legacy Exchange versions" (2012-10, corrected
#         by Greg Taylor, Microsoft): 2013 proxies everything to 2010 except OWA/ECP when the 2010 ExternalUrl
#         is set (then it redirects); for 2007 it redirects OWA to the 2007 ExternalUrl (the legacy namespace),
#         EWS is reached through the URL Autodiscover hands out (the 2007 one), ActiveSync, Outlook Anywhere and
#         Autodiscover are proxied.
# Not found (said so rather than invented): whether 2007 EWS, OAB and Autodiscover support SSL offloading (no
# Microsoft page found either way: lbsync warns, see OFFLOAD_SUPPORT); where 2013+ sends 2007 OAB downloads (taken
# as the OAB URL Autodiscover hands out, like EWS — [CC] lists only EWS explicitly).
# ---------------------------------------------------------------------------------------------------------------

SCRIPTED_VERSIONS = (2013, 2016, 2019)      # lbsync writes Exchange scripts for these; 2007/2010: manual steps
MANAGED_AVAILABILITY_SINCE = 2013           # healthcheck.htm per protocol [MA]

VERSION_SERVICES: dict[int, tuple[str, ...]] = {
    # ECP appeared in 2010; MAPI over HTTP in 2013 SP1 (see the mapi `since` above).
    2007: ("owa", "ews", "eas", "oab", "rpc", "autodiscover"),
    2010: ("owa", "ecp", "ews", "eas", "oab", "rpc", "autodiscover"),
    2013: tuple(SERVICE_ORDER), 2016: tuple(SERVICE_ORDER), 2019: tuple(SERVICE_ORDER),
}

# Health check of every pool of a 2007/2010 group: the OWA logon page, anonymous, 200 on a healthy server [F5].
# It is server-level, not per protocol: a failed EWS alone does not take the server out of the EWS pool.
LEGACY_HEALTH_PATH = "/owa/auth/logon.aspx"

# Default authentication of 2007/2010 virtual directories where it differs from the table above: Outlook
# Anywhere's IIS methods are Basic and NTLM ([OA07]: -ClientAuthenticationMethod Basic | Ntlm).
LEGACY_DEFAULT_AUTH: dict[str, tuple[str, ...]] = {"rpc": ("Basic", "Ntlm")}

# SSL offloading per (version, service): supported | unsupported | undocumented.
OFFLOAD_SUPPORT: dict[tuple[int, str], str] = {
    **{(2010, s): "supported" for s in VERSION_SERVICES[2010]},                        # [O10]
    **{(2007, s): "undocumented" for s in VERSION_SERVICES[2007]},
    (2007, "owa"): "supported", (2007, "rpc"): "supported",                           # [O07] [OA07]
    (2007, "eas"): "unsupported",                                                     # [O07]
}

# What the administrator does by hand on each 2007/2010 server, per mode (README.txt) [O07] [OA07] [O10].
_REQUIRE_SSL_OFF = "IIS Manager > Default Web Site > {vdir} > SSL Settings: clear 'Require SSL'"
_VDIR = {"owa": "owa", "ecp": "ecp", "ews": "EWS", "eas": "Microsoft-Server-ActiveSync", "oab": "OAB",
         "autodiscover": "Autodiscover", "rpc": "Rpc"}
LEGACY_OFFLOAD_STEPS: dict[str, str] = {
    "owa": (_REQUIRE_SSL_OFF.format(vdir="owa") + "; then set the OWA SSL offloading registry value "
            "(2010: DWORD SSLOffloaded = 1 under HKLM\\SYSTEM\\CurrentControlSet\\Services\\MSExchange OWA; "
            "2007: the value named in 'How to Configure SSL Offloading for Outlook Web Access') and run "
            "iisreset /noforce"),
    "rpc": "Set-OutlookAnywhere -Identity \"<SERVER>\\Rpc (Default Web Site)\" -SSLOffloading $true",
    **{s: _REQUIRE_SSL_OFF.format(vdir=_VDIR[s]) for s in ("ecp", "ews", "eas", "oab", "autodiscover")},
}
LEGACY_KEEP_SSL_STEP = "keep 'Require SSL' on {vdir} (Exchange's default): the load balancer connects over HTTPS"
LEGACY_VDIR = _VDIR

# How 2013+ front ends serve a mailbox of this version [CC]:
#   proxy      - the client stays on the main namespace; 2013+ proxies to this group's servers directly
#   redirect   - 2013+ redirects the browser to this group's ExternalUrl (the legacy namespace)
#   redirect-if-external-url - proxy, unless the group's ExternalUrl is set: then redirect to it
#   autodiscover - 2013+ does not proxy it; Autodiscover hands out this group's URL (the legacy namespace)
CLIENT_PATH: dict[tuple[int, str], str] = {
    (2007, "owa"): "redirect", (2007, "ews"): "autodiscover", (2007, "oab"): "autodiscover",
    (2007, "eas"): "proxy", (2007, "rpc"): "proxy", (2007, "autodiscover"): "proxy",
    **{(2010, s): "proxy" for s in VERSION_SERVICES[2010]},
    (2010, "owa"): "redirect-if-external-url", (2010, "ecp"): "redirect-if-external-url",
}


def client_path(version: int, main_version: int, service: str) -> str:
    """How a client of a mailbox on `version` reaches `service` when it lands on the main (2013+) namespace.
    Between 2013+ versions a newer front end proxies to an older one; an older one is not assumed to proxy up
    ('direct': the group's own namespace is the way in) — not looked up, a conservative reading."""
    if version in SCRIPTED_VERSIONS:
        return "proxy" if version <= main_version else "direct"
    return CLIENT_PATH[(version, service)]


# ExternalUrl of a 2007/2010 virtual directory: (cmdlet, vdir identity, URL path). For a service 2013+ redirects
# or hands out by Autodiscover, the group's ExternalUrl must name its legacy namespace; for 2007 ActiveSync,
# ExternalUrl $null makes 2013+ proxy instead of redirecting (some devices mishandle the redirect) [CC]; TechNet
# Wiki 39798 "How does Microsoft Exchange Server protocols work (Coexistence between 2013 + 2007)".
EXTERNAL_URL: dict[str, tuple[str, str, str]] = {
    "owa": ("Set-OwaVirtualDirectory", "owa", "/owa"),
    "ecp": ("Set-EcpVirtualDirectory", "ecp", "/ecp"),
    "ews": ("Set-WebServicesVirtualDirectory", "EWS", "/EWS/Exchange.asmx"),
    "oab": ("Set-OabVirtualDirectory", "OAB", "/OAB"),
    "eas": ("Set-ActiveSyncVirtualDirectory", "Microsoft-Server-ActiveSync", "/Microsoft-Server-ActiveSync"),
}


# ---------------------------------------------------------------------------------------------------------------
# Load-balancer decisions per Exchange version (read by plan.py; every renderer reads the Plan).
#
# Sources:
#  [LB10] TechNet ff625248, "Load Balancing Requirements of Exchange Protocols" (Exchange 2010 SP2/SP3): Outlook
#         Web App and ECP *require* affinity with forms-based authentication (the default) — "they share the same
#         authentication cookie and this cookie can only be decrypted by one specific Client Access server";
#         Exchange Web Services require it for subscriptions, with "an affinity timeout value of 45 minutes";
#         Outlook Anywhere "split[s] a single RPC data connection into two HTTP connections" (RPC_IN_DATA /
#         RPC_OUT_DATA) and works without affinity only with "performance significantly reduced". Not read in
#         the excerpts found (said so): that page's lines on ActiveSync, Autodiscover and the OAB — ActiveSync is
#         given source-ip like Outlook Anywhere (long-lived requests per device), Autodiscover and OAB none
#         (stateless requests).
#  [LB13] Microsoft Learn, "Load balancing in Exchange Server" (2013+): session affinity is no longer required —
#         all session state lives on the Mailbox server behind the front end.
#  No Microsoft page for 2007 was found: 2007 forms-based OWA uses the same per-server cookie encryption as 2010,
#  so 2007 groups get 2010's persistence (a conservative reading, said so rather than presented as documented).
# ---------------------------------------------------------------------------------------------------------------

# Persistence: none | source-ip (client address kept on one server for `timeout`) | cookie (the LB inserts a
# cookie naming the server; browsers only: owa/ecp).
PERSISTENCE_NONE = "none"
LEGACY_PERSISTENCE: dict[str, str] = {                       # [LB10]; 2007 read as 2010 (see above)
    "owa": "cookie", "ecp": "cookie",
    "ews": "source-ip", "rpc": "source-ip", "eas": "source-ip", "mrsproxy": "source-ip",
    "oab": PERSISTENCE_NONE, "autodiscover": PERSISTENCE_NONE,
}
LEGACY_AFFINITY_TIMEOUT_S = 2700                             # [LB10]: 45 minutes (raised to the pool's timeout)


def persistence(version: int, service: str) -> str:
    """How a client is kept on one server: none for 2013+ [LB13], per protocol for 2007/2010 [LB10]."""
    if version >= MANAGED_AVAILABILITY_SINCE:
        return PERSISTENCE_NONE
    return LEGACY_PERSISTENCE.get(service, PERSISTENCE_NONE)


# Lowest TLS version the load balancer offers the servers when re-encrypting (and for HTTPS health checks).
#  [TLS1] Exchange Team Blog, "Exchange Server TLS guidance, part 1: Getting Ready for TLS 1.2" (2017-05): TLS 1.2
#         on the Exchange side needs 2010 SP3 RU19+ / 2013 CU19+ / 2016 CU8+, and Windows Server 2008 R2 ships with
#         TLS 1.1/1.2 *disabled* in SCHANNEL (registry keys to enable); Windows Server 2012 and later enable it.
#  [TLS2] Exchange Team Blog, part 2 "Enabling TLS 1.2 and Identifying Clients Not Using It": the registry steps.
#  Exchange 2007 runs on Windows Server 2003/2008, whose SCHANNEL has no TLS 1.2 (2008 SP2 only with KB4019276).
# 2013+ are taken as TLS 1.2 capable (Windows Server 2012+; Exchange 2013 on 2008 R2 must have it enabled [TLS2]).
# 2010 defaults to TLS 1.0 because it mostly runs on 2008 R2 (off by default); finding legacy-server-tls says so.
SERVER_TLS_MIN: dict[int, str] = {2007: "TLSv1.0", 2010: "TLSv1.0", 2013: "TLSv1.2", 2016: "TLSv1.2",
                                  2019: "TLSv1.2"}
TLS_VERSIONS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")  # oldest first; the Plan's spelling

# Connection-bound authentication: IIS ties NTLM (and, by default, Kerberos: authPersistNonNTLM) to the TCP
# connection, so a load balancer must never hand that server connection to another client. Besides the auth the
# model lists for a service, these sub-locations accept Windows Integrated auth by default and ride the service's
# pool: owa/Integrated (Windows authentication on by default next to forms-based OWA).
CONNECTION_AUTH = ("Ntlm", "Negotiate")
INTEGRATED_SUBLOCATIONS: dict[str, tuple[str, ...]] = {"owa": ("owa/Integrated",)}

# Largest request header block the LB accepts: a Kerberos (Negotiate) Authorization header of a user in many
# groups reaches ~64 KB — Microsoft KB 2020943 "HTTP 400 - Bad Request (Request Header too long)" (MaxTokenSize
# 48000 by default since Windows Server 2012; base64 grows it by 4/3) — and IIS/http.sys accept it once
# MaxFieldLength/MaxRequestBytes are raised as that KB says.
MAX_HEADER_BYTES = 65536

# Balancing: one rule for every target. Long-lived (streaming) and passthrough pools spread by open connections
# (a server that just came back would otherwise get a share of hour-long connections it never sheds); the
# short-request pools round-robin. Never by URI (NTLM: the client's connection must stay private).
BALANCE_STREAMING = "leastconn"
BALANCE_DEFAULT = "roundrobin"
