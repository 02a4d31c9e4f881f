"""`lbsync probe`: check the deployment on the wire, from the Plan.

Through the VIP, per namespace (connect to vip:port — the namespace's host name when it has no vip — with SNI and
Host = the namespace): the certificate served is the model's (SHA-256 fingerprint), and each service's health URL
answers 200 OK. On each server directly: offloaded services answer on HTTP (health 200, their locations do not
refuse plain HTTP), bridged/passthrough ones on HTTPS (health 200, the shared certificate) and still refuse plain
HTTP on their locations (IIS 403.4 SSL required). Redirects are followed only within the namespace (at most 3),
never off it. Every request to an endpoint (connect, TLS, redirects and answers together) is bounded by one total
time limit (certs.live.Deadline), and the checks run concurrently (at most WORKERS at a time), so a probe of many
unreachable endpoints takes about one time limit; the results keep the Plan's order.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from cryptography.hazmat.primitives import hashes

from ..certs.live import Deadline, client_context, fetch_certificate, is_ip
from ..certs.load import load_model_bundle
from ..errors import LbsyncError
from ..facts import catalog, sslflags
from ..model.types import Server
from ..output.text import printable
from ..plan.types import Plan, ServicePlan

MAX_REDIRECTS = 3
WORKERS = 64          # concurrent checks: a probe of a large estate still takes about one time limit


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


def _once(scheme: str, address: str, port: int, host: str, path: str, deadline: Deadline) -> tuple[int, str, str]:
    """One GET within the deadline: (status, reason, Location header). Raises OSError / ssl.SSLError /
    http.client.HTTPException / socket.timeout."""
    sock = deadline.connect(address, port)
    try:
        if scheme == "https":
            sock = client_context().wrap_socket(sock, server_hostname=None if is_ip(host) else host)
        conn = http.client.HTTPConnection(address, port, timeout=deadline.remaining())
        conn.sock = sock
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        conn.putheader("User-Agent", "lbsync-probe")
        conn.putheader("Connection", "close")
        conn.endheaders()
        resp = conn.getresponse()        # the status line and headers; the body is never read
        return resp.status, resp.reason or "", resp.getheader("Location") or ""
    finally:
        sock.close()


def http_get(scheme: str, address: str, port: int, host: str, path: str, *, timeout: float,
             follow: bool = False) -> tuple[int | None, str]:
    """(status or None, detail). Follows redirects only within `host` when asked; everything within `timeout`
    seconds in all. The detail holds no control character of the answer's."""
    deadline = Deadline(timeout)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                status, reason, location = _once(scheme, address, port, host, path, deadline)
            except socket.timeout:
                return None, f"no answer within {timeout:g}s"
            except ssl.SSLError as exc:
                if deadline.expired:
                    return None, f"no answer within {timeout:g}s"
                return None, f"TLS failed: {printable(exc.reason or str(exc))[:160]}"
            except http.client.HTTPException as exc:
                if deadline.expired:
                    return None, f"no answer within {timeout:g}s"
                return None, f"not an HTTP answer ({type(exc).__name__})"
            except OSError as exc:
                if deadline.expired:
                    return None, f"no answer within {timeout:g}s"
                return None, f"cannot connect: {printable(exc.strerror or str(exc))[:160]}"
            detail = printable(f"{status} {reason}".strip())
            if follow and status in (301, 302, 303, 307, 308) and location:
                try:
                    target = urlsplit(urljoin(f"{scheme}://{host}{path}", location))
                    target_host = (target.hostname or "").lower()
                except ValueError:
                    return status, printable(f"redirects to an unreadable Location {location!r}"[:200])
                if target_host != host.lower() or target.scheme != scheme:
                    return status, printable(f"redirects off the namespace to {location} (not followed)"[:300])
                path = target.path + (f"?{target.query}" if target.query else "")
                continue
            return status, detail
        return None, f"more than {MAX_REDIRECTS} redirects"
    finally:
        deadline.close()


def _fingerprint(cert) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _refused(status: int | None) -> bool:
    """IIS refuses plain HTTP on a location that requires SSL with 403 (substatus 4, 'SSL required')."""
    return status == 403


@dataclass
class _Reference:
    """The fingerprint certificates are compared with; `step` is the index of the check that served it when the
    model has no certificate (that check is reported as the reference, not as checked)."""
    fingerprint: str | None
    step: int | None = None


@dataclass
class _Step:
    """One check to run: `run` does the network part (concurrently), `finish` turns its result into a Check once
    every certificate is known (the reference may be the first one served)."""
    run: Callable[[], object]
    finish: Callable[[object, _Reference, int], Check]
    cert_of: str | None = None   # a VIP certificate step: its namespace (a candidate reference)


def _cert_step(scope: str, target: str, address: str, port: int, sni: str, timeout: float) -> _Step:
    where = f"{_host_port(address, port)} SNI {sni}"

    def run():
        try:
            return _fingerprint(fetch_certificate(address, port, sni, timeout))
        except LbsyncError as exc:
            return exc

    def finish(fp, ref: _Reference, index: int) -> Check:
        if isinstance(fp, LbsyncError):
            return Check(scope, target, "certificate", where, False, printable(fp.message))
        if ref.fingerprint is None or ref.step == index:
            return Check(scope, target, "certificate", where, True,
                         f"SHA-256 {fp[:16]}… NOT checked: the model has no certificate: section, so this one is "
                         "only the reference the other endpoints are compared with")
        if fp == ref.fingerprint:
            return Check(scope, target, "certificate", where, True, f"SHA-256 {fp[:16]}…")
        return Check(scope, target, "certificate", where, False,
                     f"a different certificate: SHA-256 {fp[:16]}…, expected {ref.fingerprint[:16]}…")
    return _Step(run, finish, target if scope == "vip" else None)


def expected_status(expect: str, status: int | None) -> bool:
    """A health answer against the plan's expectation: "200", or a range such as "200-499"."""
    if status is None:
        return False
    low, _, high = expect.partition("-")
    return int(low) <= status <= int(high or low)


def _health_step(scope: str, target: str, subject: str, scheme: str, address: str, port: int, host: str,
                 path: str, timeout: float, expect: str = "200") -> _Step:
    def run():
        return http_get(scheme, address, port, host, path, timeout=timeout, follow=True)

    def finish(result, ref: _Reference, index: int) -> Check:
        status, detail = result
        return Check(scope, target, "health", subject, expected_status(expect, status), detail)
    return _Step(run, finish)


def mail_greeting(address: str, port: int, tls: bool, host: str, timeout: float) -> tuple[str | None, str]:
    """(the first line a mail port sends, or None; detail) within `timeout` in all; TLS first on 993/995 (the
    certificate is not judged here: the certificate check does that). Control characters are escaped."""
    deadline = Deadline(timeout)
    try:
        sock = deadline.connect(address, port)
        if tls:
            sock = client_context().wrap_socket(sock, server_hostname=None if is_ip(host) else host)
        data = b""
        while b"\n" not in data and len(data) < 1024:
            sock.settimeout(deadline.remaining())
            chunk = sock.recv(1024)
            if not chunk:
                break
            data += chunk
        sock.close()
    except (OSError, ssl.SSLError) as exc:
        return None, printable(f"{type(exc).__name__}: {exc}" if not deadline.expired
                               else f"no answer within {timeout:g}s")
    finally:
        deadline.close()
    line = data.split(b"\n", 1)[0].decode("latin-1").strip()
    return line, printable(line[:120] or "closed without a greeting")


def _mail_step(scope: str, target: str, subject: str, address: str, port: int, tls: bool, host: str,
               expect: str, timeout: float) -> _Step:
    def run():
        return mail_greeting(address, port, tls, host, timeout)

    def finish(result, ref: _Reference, index: int) -> Check:
        line, detail = result
        return Check(scope, target, "greeting", subject, line is not None and line.startswith(expect), detail)
    return _Step(run, finish)


def _location_step(server: Server, key: str, svc: ServicePlan, loc: str, flags: str, timeout: float) -> _Step:
    host = svc.namespace
    path = f"/{loc[len(catalog.SITE) + 1:]}/"
    want_refused = sslflags.requires_ssl(flags)

    def run():
        return http_get("http", server.address, server.http_port, host, path, timeout=timeout)

    def finish(result, ref: _Reference, index: int) -> Check:
        status, detail = result
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
        return Check("server", server.name, "http-refused" if want_refused else "http-accepted",
                     f"{key} http://{host}{path}", ok, text)
    return _Step(run, finish)


def _vip_steps(plan: Plan, timeout: float) -> list[_Step]:
    """Through the VIP, per namespace: the certificate and each health URL (once per page)."""
    steps = []
    for ns in plan.namespaces:
        address = ns.vip if ns.vip and ns.vip not in ("0.0.0.0", "::", "*") else ns.host
        steps.append(_cert_step("vip", ns.host, address, ns.port, ns.host, timeout))
        seen: set[str] = set()
        for svc in ns.services:
            if svc.health.path.lower() in seen:
                continue
            seen.add(svc.health.path.lower())
            steps.append(_health_step("vip", ns.host, f"{svc.service} https://{ns.host}{svc.health.path}", "https",
                                      address, ns.port, ns.host, svc.health.path, timeout, svc.health.expect))
    for m in plan.mail:
        address = m.vip if m.vip else m.namespace
        steps.append(_mail_step("vip", m.namespace, f"{m.service} {m.bind}", address, m.port, m.check.tls,
                                m.namespace, m.check.expect, timeout))
    return steps


def _server_steps(plan: Plan, server: Server, timeout: float) -> list[_Step]:
    """One server directly: its certificate (when a service it serves is not offloaded), each service's health
    (the services it is a member of, once per service key) and whether its locations accept or refuse plain HTTP
    (locations the load balancer never sends HTTP to are skipped)."""
    first: dict[str, ServicePlan] = {}
    for svc in plan.services:
        if any(m.server == server.name for m in svc.members):
            first.setdefault(svc.service, svc)
    steps = []
    tls_host = next((s.namespace for s in first.values() if not s.plain_http), None)
    if tls_host:
        steps.append(_cert_step("server", server.name, server.address, server.https_port, tls_host, timeout))
    for key, svc in first.items():
        scheme, port = ("http", server.http_port) if svc.plain_http else ("https", server.https_port)
        steps.append(_health_step("server", server.name, f"{key} {scheme}://{svc.namespace}{svc.health.path}",
                                  scheme, server.address, port, svc.namespace, svc.health.path, timeout,
                                  svc.health.expect))
        steps += [_location_step(server, key, svc, loc, flags, timeout) for loc, flags in svc.locations.items()
                  if sslflags.requires_ssl(flags) or svc.plain_http]
    for m in plan.mail:
        if any(x.server == server.name for x in m.members):
            steps.append(_mail_step("server", server.name, f"{m.service} {server.address}:{m.port}", server.address,
                                    m.port, m.check.tls, m.namespace, m.check.expect, timeout))
    return steps


def run_probe(plan: Plan, *, timeout: float = 5.0, reference: str | None = None,
              reference_source: str = "the model's certificate", workers: int = WORKERS,
              progress: Callable[[int, int], None] = lambda done, total: None) -> ProbeReport:
    """Every check of the plan, `workers` at a time; `progress(done, total)` after each."""
    steps = _vip_steps(plan, timeout)
    for server in plan.model.servers:
        steps += _server_steps(plan, server, timeout)
    results: list[object] = [None] * len(steps)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(steps) or 1))) as pool:
        futures = {pool.submit(step.run): i for i, step in enumerate(steps)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            progress(done, len(steps))
    ref = _Reference(reference)
    if reference is None:      # the model has no certificate: the first one a VIP served is the reference
        first = next((i for i, (step, r) in enumerate(zip(steps, results)) if step.cert_of and isinstance(r, str)),
                     None)
        if first is not None:
            ref = _Reference(results[first], first)
            reference_source = f"the certificate served for {steps[first].cert_of} (the model has none)"
    checks = [step.finish(r, ref, i) for i, (step, r) in enumerate(zip(steps, results))]
    return ProbeReport(checks, ref.fingerprint, reference_source)


def model_fingerprint(plan: Plan) -> tuple[str | None, str]:
    """The model's certificate (certificate: section), as a SHA-256 fingerprint, or None when it has none."""
    if plan.model.certificate is None:
        return None, "none in the model"
    bundle = load_model_bundle(plan.model)
    return bundle.fingerprint_sha256, f"the model's certificate ({bundle.source})"
