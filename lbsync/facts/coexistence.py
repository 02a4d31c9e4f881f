"""Coexistence facts: what Exchange 2007 and 2010 offer when their servers form a server group (groups: in the
model), and how 2013+ front ends send those mailboxes' clients to them. Sources are cited per fact below.
"""

from __future__ import annotations

from .catalog import SCRIPTED_VERSIONS, VERSION_SERVICES

# ---------------------------------------------------------------------------------------------------------------
# Coexistence: what each Exchange version offers when its servers form a server group (groups: in the model).
#
# Sources (titles as published; cited for every fact below):
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

# Health check of every pool of a 2007/2010 group: the OWA logon page, anonymous, 200 on a healthy server [F5].
# It is server-level, not per protocol: a failed EWS alone does not take the server out of the EWS pool.
LEGACY_HEALTH_PATH = "/owa/auth/logon.aspx"

# Default authentication of 2007/2010 virtual directories where it differs from catalog.SERVICES: Outlook
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
