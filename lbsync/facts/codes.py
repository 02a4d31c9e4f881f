"""The finding codes: every rule result lbsync can report, with a stable code, a level and a message.

The registry below is the list of every code lbsync can report. `allowable` codes can be turned from error into
warning by listing them under `allow:` in the model or with `--allow CODE`; the others describe something that
cannot be rendered at all.
"""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("error", "warning", "info")


@dataclass(frozen=True)
class Code:
    code: str
    allowable: bool
    summary: str


CODES: dict[str, Code] = {c.code: c for c in [
    Code("offload-unsupported", True,
         "Exchange 2016/2019: Microsoft supports TLS termination with re-encryption, not offloading to HTTP"),
    Code("ep-offload", True,
         "Extended Protection is on: offloading breaks channel binding (NTLM/Negotiate fail)"),
    Code("ep-same-certificate", True,
         "Extended Protection with bridging works only if the LB presents the same certificate as Exchange"),
    Code("mrsproxy-bridged", True, "the MRSProxy route is always re-encrypted, whatever mode EWS has"),
    Code("mrsproxy-without-ews", True, "MRSProxy is enabled but no namespace carries ews"),
    Code("nginx-ntlm", True, "NGINX open source cannot keep NTLM connection affinity at layer 7"),
    Code("nginx-negotiate", True, "Negotiate may fall back to NTLM, which NGINX open source cannot carry at L7"),
    Code("passthrough-mixed", False, "a passthrough service shares a namespace+port with L7 services"),
    Code("passthrough-l4", True, "a passthrough namespace: no path routing, no X-Forwarded-For, one pool"),
    Code("tls-modern-clients", True, "tls.profile modern is TLS 1.3 only: many Outlook/ActiveSync clients "
         "cannot connect"),
    Code("server-verify-disabled", True, "re-encryption does not verify the servers' certificate"),
    Code("server-ca-system", True, "no tls.server_ca: re-encryption trusts the system CA store"),
    Code("mapi-unsupported", True, "MAPI/HTTP needs Exchange 2013 SP1 (CU4) or later"),
    Code("api-offload", False, "/API is never offloaded (Extended Protection 'Required'; no Microsoft procedure)"),
    Code("api-unsupported", True, "/API needs Exchange 2016 CU3 or later"),
    Code("api-health-undocumented", True, "no documented health page for /API: any answer below 500 counts"),
    Code("mail-snat", True, "mail through SNAT: the servers see the load balancer's address (receive connectors, "
         "per-source limits, logs)"),
    Code("mail-transparent", True, "mail with the client's address: the servers' route back must be the load balancer"),
    Code("mail-nginx-passive", True, "NGINX open source checks mail pools passively only"),
    Code("mail-f5-tls-check", True, "F5: 993/995 are checked by the greeting on 143/110 (a tcp monitor cannot "
         "speak TLS)"),
    Code("oa-hostname-not-namespace", True, "the Outlook Anywhere hostname is not a namespace carrying rpc"),
    Code("ep-unknown-cu", True, "Exchange 2019 without cu: Extended Protection assumed off"),
    Code("header-limit-raised", True,
         "http.max_header_bytes is above HTTP.sys's default: apply sets MaxFieldLength/MaxRequestBytes on every "
         "server, which take effect after a restart; the load balancers' buffers grow with it"),
    Code("f5-passthrough-shared", False,
         "F5: a passthrough namespace shares its VIP:port with other namespaces (no L4 SNI routing for F5)"),
    # coexistence (groups:)
    Code("legacy-namespace-missing", True,
         "an Exchange 2007 group without a legacy namespace: 2013+ redirects OWA (and Autodiscover hands out EWS/OAB) "
         "to one"),
    Code("legacy-redirect-unrouted", True,
         "a service 2013+ redirects (or hands out by Autodiscover) to a legacy group is on none of its namespaces"),
    Code("legacy-offload-unsupported", True, "offloading a service that this Exchange version does not support "
         "offloaded (Exchange 2007 ActiveSync)"),
    Code("legacy-offload-undocumented", True,
         "offloading a service for which no Microsoft documentation of SSL offloading on this version was found"),
    Code("legacy-health-logon-page", True,
         "Exchange 2007/2010 have no healthcheck.htm: their pools are checked on the OWA logon page"),
    Code("legacy-manual-steps", True,
         "lbsync writes no scripts for Exchange 2007/2010: README.txt lists the manual steps for that group"),
    Code("group-not-routed", True, "a server group no namespace serves: its servers are in no pool"),
    Code("legacy-server-tls", True,
         "re-encryption (or an HTTPS health check) toward Exchange 2007/2010 servers accepts TLS older than 1.2"),
    Code("legacy-persistence", True,
         "Exchange 2007/2010 pools keep a client on one server (source address or an LB cookie)"),
]}
