"""What the load balancer does per Exchange version and protocol, as data: the TLS modes, persistence, the TLS
floor toward the servers, connection-bound authentication, header and body sizes, balancing. Sources per fact.
"""

from __future__ import annotations

from enum import StrEnum

from .catalog import MANAGED_AVAILABILITY_SINCE
from .versions import SE


class Mode(StrEnum):
    """How the load balancer handles a service's TLS."""
    OFFLOAD = "offload"          # terminate; plain HTTP to the servers' port 80
    BRIDGE = "bridge"            # terminate and re-encrypt to the servers' port 443, verifying their certificate
    PASSTHROUGH = "passthrough"  # TCP, routed by SNI, not terminated


class Persistence(StrEnum):
    """How a client is kept on one server: none (2013+), its source address, or an LB-inserted cookie."""
    NONE = "none"
    SOURCE_IP = "source-ip"
    COOKIE = "cookie"


class Balance(StrEnum):
    LEASTCONN = "leastconn"
    ROUNDROBIN = "roundrobin"


# ---------------------------------------------------------------------------------------------------------------
# Load-balancer decisions per Exchange version (read by the Plan; every target reads the Plan).
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

# Persistence per protocol for 2007/2010 (cookie: browsers only, owa/ecp).
LEGACY_PERSISTENCE: dict[str, Persistence] = {               # [LB10]; 2007 read as 2010 (see above)
    "owa": Persistence.COOKIE, "ecp": Persistence.COOKIE,
    "ews": Persistence.SOURCE_IP, "rpc": Persistence.SOURCE_IP, "eas": Persistence.SOURCE_IP,
    "mrsproxy": Persistence.SOURCE_IP,
    "oab": Persistence.NONE, "autodiscover": Persistence.NONE,
}
LEGACY_AFFINITY_TIMEOUT_S = 2700                             # [LB10]: 45 minutes (raised to the pool's timeout)


def persistence(version: int, service: str) -> Persistence:
    """How a client is kept on one server: none for 2013+ [LB13], per protocol for 2007/2010 [LB10]."""
    if version >= MANAGED_AVAILABILITY_SINCE:
        return Persistence.NONE
    return LEGACY_PERSISTENCE.get(service, Persistence.NONE)


# Lowest TLS version the load balancer offers the servers when re-encrypting (and for HTTPS health checks).
#  [TLS1] Exchange Team Blog, "Exchange Server TLS guidance, part 1: Getting Ready for TLS 1.2" (2017-05): TLS 1.2
#         on the Exchange side needs 2010 SP3 RU19+ / 2013 CU19+ / 2016 CU8+, and Windows Server 2008 R2 ships with
#         TLS 1.1/1.2 *disabled* in SCHANNEL (registry keys to enable); Windows Server 2012 and later enable it.
#  [TLS2] Exchange Team Blog, part 2 "Enabling TLS 1.2 and Identifying Clients Not Using It": the registry steps.
#  Exchange 2007 runs on Windows Server 2003/2008, whose SCHANNEL has no TLS 1.2 (2008 SP2 only with KB4019276).
# 2013+ are taken as TLS 1.2 capable (Windows Server 2012+; Exchange 2013 on 2008 R2 must have it enabled [TLS2]).
# 2010 defaults to TLS 1.0 because it mostly runs on 2008 R2 (off by default); finding legacy-server-tls says so.
SERVER_TLS_MIN: dict[int, str] = {2007: "TLSv1.0", 2010: "TLSv1.0", 2013: "TLSv1.2", 2016: "TLSv1.2",
                                  2019: "TLSv1.2", SE: "TLSv1.2"}
TLS_VERSIONS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")  # oldest first; the Plan's spelling

# Connection-bound authentication: IIS ties NTLM (and, by default, Kerberos: authPersistNonNTLM) to the TCP
# connection, so a load balancer must never hand that server connection to another client. /owa/Integrated (Windows
# authentication only, beside forms-based /owa) has a route of its own for this reason (catalog.OWA_INTEGRATED).
CONNECTION_AUTH = ("Ntlm", "Negotiate")

# Request heads (request line and headers). The servers' limit is HTTP.sys's MaxRequestBytes (facts.httpsys: 16384
# by default; the model's http.max_header_bytes raises it on every server and on the load balancers together). A
# load balancer adds headers before the request reaches HTTP.sys (X-Forwarded-For, X-Forwarded-Proto, a persistence
# cookie), so it accepts from a client what is left after room for those: LB_ADDED_HEADER_BYTES, HAProxy's default
# tune.maxrewrite. Sources (the load balancers' own manuals):
#  [HA26] HAProxy 2.6 Configuration Manual (docs.haproxy.org/2.6/configuration.html): tune.bufsize "The default
#         value is 16384 ... If an HTTP request is larger than (tune.bufsize - tune.maxrewrite), HAProxy will return
#         HTTP 400 (Bad Request) error ... values larger than default size will increase memory usage ... At least
#         the global maxconn parameter should be decreased by the same factor as this one is increased ...
#         rounded up to the next multiple of ... 16 on 64-bit machines"; tune.maxrewrite "The reserved space is used
#         for header rewriting or appending ... It is generally wise to set it to about 1024". Measured on 2.6.12
#         (/work/research/headers.md section 6): the largest head that passes is bufsize - maxrewrite - (64 + 4 per
#         header field) bytes (HTX bookkeeping), one more byte gets HAProxy's own "400 Bad request", never a reset.
#  [NGX]  nginx.org, ngx_http_core_module, large_client_header_buffers (default "4 8k"): "A request line cannot
#         exceed the size of one buffer, or the 414 (Request-URI Too Large) error is returned ... A request header
#         field cannot exceed the size of one buffer as well, or the 400 (Bad Request) error is returned ...
#         Buffers are allocated only on demand." Measured on 1.22.1: a line counts with its CRLF; the total is at
#         most number x size (a line that does not fit a buffer's rest moves whole to the next one).
#  [F5HP] F5 BIG-IP HTTP profile, enforcement max-header-size (AS3 HTTP_Profile maxHeaderSize, default 32768):
#         "the maximum size in bytes the system allows for all HTTP request headers combined, including the request
#         line" (F5's Ansible collection, bigip_device_info); a larger request is answered by a TCP reset (F5
#         DevCentral "What is HTTP Part VI - HTTP Profile Enforcement Settings").
LB_ADDED_HEADER_BYTES = 1024
# One header line through NGINX: at most what HTTP.sys takes in one field (65534) with its CRLF.
LB_MAX_LINE_BYTES = 65536

# Balancing: one rule for every target. Long-lived (streaming) and passthrough pools spread by open connections
# (a server that just came back would otherwise get a share of hour-long connections it never sheds); the
# short-request pools round-robin. Never by URI (NTLM: the client's connection must stay private).
BALANCE_STREAMING = Balance.LEASTCONN
BALANCE_DEFAULT = Balance.ROUNDROBIN

# Largest request body the LB must accept: RPC_IN_DATA/RPC_OUT_DATA announce 1 GB bodies that never complete.
MAX_BODY = "2G"
