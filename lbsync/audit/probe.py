"""`lbsync probe`: check the deployment on the wire, from the Plan.

Through the VIP, per namespace (connect to vip:port — the namespace's host name when it has no vip — with SNI and
Host = the namespace): the certificate served is the model's (SHA-256 fingerprint), and each service's health URL
answers 200 OK. On each server directly: offloaded services answer on HTTP (health 200, their locations do not
refuse plain HTTP), bridged/passthrough ones on HTTPS (health 200, the shared certificate) and still refuse plain
HTTP on their locations (IIS 403.4 SSL required). Every request has a bounded timeout; redirects are followed only
within the namespace (at most 3), never off it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from cryptography.hazmat.primitives import hashes
from requests.adapters import HTTPAdapter

from ..certs.live import fetch_certificate
from ..certs.load import load_model_bundle
from ..errors import LbsyncError
from ..facts import catalog, sslflags
from ..model.types import Server
from ..plan.types import Plan, ServicePlan

MAX_REDIRECTS = 3


@dataclass
class Check:
    scope: str          # "vip" | "server"
    target: str         # namespace (vip) or server name
    check: str          # certificate | health | http-accepted | http-refused
    subject: str        # what was checked: a service, a location, an endpoint
    ok: bool
    detail: str

    def as_json(self) -> dict:
        return {"scope": self.scope, "target": self.target, "check": self.check, "subject": self.subject,
                "status": "ok" if self.ok else "fail", "detail": self.detail}


@dataclass
class ProbeReport:
    checks: list[Check]
    reference: str | None          # the SHA-256 fingerprint certificates are compared with
    reference_source: str

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_json(self) -> dict:
        return {"ok": self.ok, "certificate": {"fingerprint_sha256": self.reference, "source": self.reference_source},
                "checks": [c.as_json() for c in self.checks]}


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class _Http:
    """requests sessions per (scheme, address, port, SNI): the URL names the address, Host and SNI the namespace."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.sessions: dict = {}

    def session(self, scheme: str, sni: str | None):

        class SniAdapter(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                if sni:
                    kwargs["server_hostname"] = sni
                super().init_poolmanager(*args, **kwargs)

        key = (scheme, sni)
        if key not in self.sessions:
            s = requests.Session()
            s.trust_env = False                      # no proxies from the environment: straight to the address
            s.mount("https://", SniAdapter(max_retries=0))
            s.mount("http://", HTTPAdapter(max_retries=0))
            self.sessions[key] = s
        return self.sessions[key]

    def get(self, scheme: str, address: str, port: int, host: str, path: str, *,
            follow: bool = False) -> tuple[int | None, str]:
        """(status or None, detail). Follows redirects only within `host` when asked."""

        session = self.session(scheme, host if scheme == "https" else None)
        url = f"{scheme}://{_host_port(address, port)}{path}"
        for _ in range(MAX_REDIRECTS + 1):
            try:
                with warnings.catch_warnings():
                    # unverified TLS on purpose: certificates are compared by fingerprint
                    warnings.simplefilter("ignore")
                    resp = session.get(url, headers={"Host": host, "User-Agent": "lbsync-probe"},
                                       timeout=(self.timeout, self.timeout), allow_redirects=False, verify=False,
                                       stream=True)
                    resp.close()    # the status is the answer: the body is never read (nor waited for)
            except requests.exceptions.Timeout:
                return None, f"no answer within {self.timeout:g}s"
            except requests.exceptions.SSLError as exc:
                return None, f"TLS failed: {_short(exc)}"
            except requests.exceptions.ConnectionError as exc:
                return None, f"cannot connect: {_short(exc)}"
            except requests.exceptions.RequestException as exc:
                return None, f"request failed: {_short(exc)}"
            if follow and resp.is_redirect:
                location = resp.headers.get("Location", "")
                target = urlsplit(urljoin(f"{scheme}://{host}{path}", location))
                if (target.hostname or "").lower() != host.lower() or target.scheme != scheme:
                    return resp.status_code, f"redirects off the namespace to {location} (not followed)"
                path = target.path + (f"?{target.query}" if target.query else "")
                url = f"{scheme}://{_host_port(address, port)}{path}"
                continue
            return resp.status_code, f"{resp.status_code} {resp.reason or ''}".strip()
        return None, f"more than {MAX_REDIRECTS} redirects"

    def close(self) -> None:
        for s in self.sessions.values():
            s.close()


def _short(exc: Exception) -> str:
    text = str(exc.args[0] if exc.args else exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "No route to host",
                   "Connection reset", "certificate", "EOF"):
        if marker.lower() in text.lower():
            return marker
    return text[:160]


def _fingerprint(cert) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _cert_check(scope: str, target: str, address: str, port: int, sni: str, reference: str | None,
                timeout: float) -> tuple[Check, str | None]:
    where = f"{_host_port(address, port)} SNI {sni}"
    try:
        cert = fetch_certificate(address, port, sni, timeout)
    except LbsyncError as exc:
        return Check(scope, target, "certificate", where, False, exc.message), None
    fp = _fingerprint(cert)
    if reference is None:
        return Check(scope, target, "certificate", where, True,
                     f"SHA-256 {fp[:16]}… NOT checked: the model has no certificate: section, so this one is only "
                     "the reference the other endpoints are compared with"), fp
    if fp == reference:
        return Check(scope, target, "certificate", where, True, f"SHA-256 {fp[:16]}…"), fp
    return Check(scope, target, "certificate", where, False,
                 f"a different certificate: SHA-256 {fp[:16]}…, expected {reference[:16]}…"), fp


def _refused(status: int | None) -> bool:
    """IIS refuses plain HTTP on a location that requires SSL with 403 (substatus 4, 'SSL required')."""
    return status == 403


def run_probe(plan: Plan, *, timeout: float = 5.0, reference: str | None = None,
              reference_source: str = "the model's certificate") -> ProbeReport:
    http = _Http(timeout)
    checks: list[Check] = []
    try:
        reference, reference_source = _probe_vips(plan, http, checks, reference, reference_source, timeout)
        # each server directly: the services it is a member of (with groups:, its group's), once per service key
        for server in plan.model.servers:
            _probe_server(plan, server, http, checks, reference, timeout)
    finally:
        http.close()
    return ProbeReport(checks, reference, reference_source)


def _probe_vips(plan: Plan, http: _Http, checks: list[Check], reference: str | None, reference_source: str,
                timeout: float) -> tuple[str | None, str]:
    """Through the VIP, per namespace: the certificate and each health URL. Returns (reference, its source): the
    first certificate served becomes the reference when the model has none."""
    for ns in plan.namespaces:
        address = ns.vip if ns.vip and ns.vip not in ("0.0.0.0", "::", "*") else ns.host
        check, fp = _cert_check("vip", ns.host, address, ns.port, ns.host, reference, timeout)
        if reference is None and fp:
            reference, reference_source = fp, f"the certificate served for {ns.host} (the model has none)"
        checks.append(check)
        seen: set[str] = set()
        for svc in ns.services:
            if svc.health.path.lower() in seen:
                continue
            seen.add(svc.health.path.lower())
            status, detail = http.get("https", address, ns.port, ns.host, svc.health.path, follow=True)
            checks.append(Check("vip", ns.host, "health", f"{svc.service} https://{ns.host}{svc.health.path}",
                                status == 200, detail))
    return reference, reference_source


def _probe_server(plan: Plan, server: Server, http: _Http, checks: list[Check], reference: str | None,
                  timeout: float) -> None:
    """One server directly: its certificate (when a service it serves is not offloaded), each service's health
    and whether its locations accept or refuse plain HTTP."""
    first: dict[str, ServicePlan] = {}
    for svc in plan.services:
        if any(m.server == server.name for m in svc.members):
            first.setdefault(svc.service, svc)
    if not first:
        return
    tls_host = next((s.namespace for s in first.values() if not s.plain_http), None)
    if tls_host:
        check, _ = _cert_check("server", server.name, server.address, server.https_port, tls_host,
                               reference, timeout)
        checks.append(check)
    for key, svc in first.items():
        host = svc.namespace
        if svc.plain_http:
            scheme, port = "http", server.http_port
        else:
            scheme, port = "https", server.https_port
        status, detail = http.get(scheme, server.address, port, host, svc.health.path, follow=True)
        checks.append(Check("server", server.name, "health", f"{key} {scheme}://{host}{svc.health.path}",
                            status == 200, detail))
        _probe_locations(server, key, svc, http, checks)


def _probe_locations(server: Server, key: str, svc: ServicePlan, http: _Http, checks: list[Check]) -> None:
    """Plain HTTP to each location of a service on one server: refused (403.4) where SSL is required, else
    accepted (offloaded services only)."""
    host = svc.namespace
    for loc, flags in svc.locations.items():
        rel = loc[len(catalog.SITE) + 1:]
        path = f"/{rel}/"
        want_refused = sslflags.requires_ssl(flags)
        if not want_refused and not svc.plain_http:
            continue          # e.g. owa/Calendar while owa is bridged: the LB never sends HTTP there
        status, detail = http.get("http", server.address, server.http_port, host, path)
        if status is None:
            ok, text = False, detail
        elif want_refused:
            ok = _refused(status)
            text = (f"refused: {detail} (SSL required)" if ok else
                    f"answered {detail}: SSL is not required on {loc}, but the plan expects {flags}")
        else:
            ok = not _refused(status)
            text = (f"accepted: {detail}" if ok else
                    f"refused: {detail} — SSL still required on {loc}, offloaded by the load balancer")
        checks.append(Check("server", server.name, "http-refused" if want_refused else "http-accepted",
                            f"{key} http://{host}{path}", ok, text))


def model_fingerprint(plan: Plan) -> tuple[str | None, str]:
    """The model's certificate (certificate: section), as a SHA-256 fingerprint, or None when it has none."""
    if plan.model.certificate is None:
        return None, "none in the model"
    bundle = load_model_bundle(plan.model)
    return bundle.fingerprint_sha256, f"the model's certificate ({bundle.source})"
