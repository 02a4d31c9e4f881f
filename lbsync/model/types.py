"""The validated model: what the user wrote, with defaults filled in, nothing derived."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..facts.catalog import SERVICE_ORDER
from ..facts.httpsys import DEFAULT_REQUEST_BYTES
from ..facts.lb import Mode
from ..facts.mail import MAIL_KEYS
from ..facts.versions import ExVersion
from .loader import Marks


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    http_port: int = 80
    https_port: int = 443
    index: int = 0
    group: str = "main"


@dataclass(frozen=True)
class Namespace:
    host: str
    services: tuple[str, ...]
    vip: str | None = None
    port: int = 443
    index: int = 0
    group: str = "main"


@dataclass(frozen=True)
class OutlookAnywhere:
    external_hostname: str | None = None
    internal_hostname: str | None = None
    external_auth: str = "Negotiate"
    internal_auth: str = "Ntlm"
    given: frozenset[str] = frozenset()   # the keys the model states (the others are defaults)


@dataclass(frozen=True)
class Exchange:
    version: ExVersion
    cu: int | None = None
    extended_protection: bool = False
    extended_protection_given: bool = False
    mrsproxy: bool = False
    outlook_anywhere: OutlookAnywhere = field(default_factory=OutlookAnywhere)
    auth: dict[str, tuple[str, ...]] = field(default_factory=dict)  # only what the model states


@dataclass(frozen=True)
class Group:
    """A server group (coexistence). The main group is the one of exchange.version; the others come from
    groups:. `tls_default` None and no `tls_services` entry: the top-level tls: mode applies."""
    name: str
    version: ExVersion
    main: bool = False
    cu: int | None = None
    extended_protection: bool = False
    extended_protection_given: bool = False
    tls_default: Mode | None = None
    tls_services: dict[str, Mode] = field(default_factory=dict)


@dataclass(frozen=True)
class Tls:
    default: Mode = Mode.BRIDGE
    services: dict[str, Mode] = field(default_factory=dict)
    profile: str = "intermediate"
    server_ca: Path | None = None
    verify_server: bool = True


@dataclass(frozen=True)
class Certificate:
    pfx: Path | None = None
    password_env: str | None = None
    cert: Path | None = None
    key: Path | None = None
    chain: Path | None = None
    warn_days: int = 30


@dataclass(frozen=True)
class HealthSettings:
    interval_ms: int = 5000
    timeout_ms: int = 3000
    fall: int = 3
    rise: int = 2


@dataclass(frozen=True)
class HaproxyTarget:
    cert_path: str = "/etc/haproxy/certs/lbsync.pem"
    server_ca_path: str | None = None   # where tls.server_ca is on the HAProxy host (None: the Plan decides)
    given: bool = False


@dataclass(frozen=True)
class NginxTarget:
    plus: bool = False
    cert_path: str = "/etc/nginx/certs/lbsync.crt"
    key_path: str = "/etc/nginx/certs/lbsync.key"
    server_ca_path: str | None = None   # where tls.server_ca is on the NGINX host (None: the Plan decides)
    upstream_keepalive: int = 128       # idle server connections per worker and sharing pool (NGINX `keepalive`)
    given: bool = False


@dataclass(frozen=True)
class F5Target:
    host: str | None = None
    port: int = 443
    partition: str = "Common"
    username_env: str = "F5_USER"
    password_env: str = "F5_PASSWORD"
    verify_tls: bool = True
    ca_bundle: Path | None = None
    given: bool = False


@dataclass(frozen=True)
class Targets:
    haproxy: HaproxyTarget = field(default_factory=HaproxyTarget)
    nginx: NginxTarget = field(default_factory=NginxTarget)
    f5: F5Target = field(default_factory=F5Target)


@dataclass(frozen=True)
class Http:
    """http: the largest request head (request line + headers) the servers accept, HTTP.sys's MaxRequestBytes."""
    max_header_bytes: int = DEFAULT_REQUEST_BYTES
    given: bool = False    # the model states it


@dataclass(frozen=True)
class Mail:
    """mail: the ports published per protocol (facts.mail defaults) and how the servers see a client."""
    ports: dict[str, tuple[int, ...]] = field(default_factory=dict)   # smtp/imap/pop -> ports
    source_address: str = "lb"


@dataclass(frozen=True)
class Model:
    path: Path
    exchange: Exchange
    servers: tuple[Server, ...]
    namespaces: tuple[Namespace, ...]
    tls: Tls
    certificate: Certificate | None
    health: HealthSettings
    health_services: dict[str, HealthSettings]
    targets: Targets
    allow: tuple[str, ...]
    marks: Marks = field(compare=False, repr=False, default=None)
    groups: dict[str, Group] = field(default_factory=dict)  # the other groups (groups:), not the main one
    mail: Mail = field(default_factory=Mail)
    http: Http = field(default_factory=Http)

    @property
    def main_group(self) -> Group:
        ex = self.exchange
        return Group(name="main", version=ex.version, main=True, cu=ex.cu,
                     extended_protection=ex.extended_protection,
                     extended_protection_given=ex.extended_protection_given)

    def group(self, name: str) -> Group:
        return self.main_group if name == "main" else self.groups[name]

    def group_servers(self, name: str) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if s.group == name)

    def group_namespaces(self, name: str) -> tuple[Namespace, ...]:
        return tuple(n for n in self.namespaces if n.group == name)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def services(self) -> list[str]:
        """Every HTTP service key carried by some namespace, in catalog order (the mail keys: mail_services)."""
        used = {s for ns in self.namespaces for s in ns.services}
        return [s for s in SERVICE_ORDER if s in used]

    @property
    def mail_services(self) -> list[str]:
        """Every mail key (smtp, imap, pop) carried by some namespace."""
        used = {s for ns in self.namespaces for s in ns.services}
        return [s for s in MAIL_KEYS if s in used]
