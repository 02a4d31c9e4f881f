"""What a report shows beside the Plan, gathered by the library that owns it: the model file's digest, the
certificate check (certs), Exchange evidence and deployed load-balancer configurations against the Plan (audit),
the live probe (audit.probe). Each part is either there or says why it is not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from ..audit.drift import Report as DriftReport
from ..audit.drift import compare
from ..audit.evidence import ServerEvidence, collect
from ..audit.lbdiff import LbDrift, config_drift
from ..audit.probe import ProbeReport, run_probe
from ..certs.check import Report as CertReport
from ..certs.check import check_model_certificate
from ..certs.load import PasswordSource
from ..errors import LbsyncError
from ..plan.types import Plan
from ..reading import read_bytes

RENDER_NOTE = "render writes what the plan says; 'lbsync report' adds"


@dataclass
class CertificateStatus:
    report: CertReport | None
    reason: str = ""            # why there is no report


@dataclass
class ExchangeEvidence:
    report: DriftReport
    servers: dict[str, ServerEvidence]


@dataclass
class ReportInputs:
    """Everything one report shows."""
    plan: Plan
    model_sha256: str
    generated: dt.datetime | None     # None: not recorded (render: its files are reproducible from the model)
    command: str                      # what produced it: "lbsync report", "lbsync render"
    certificate: CertificateStatus
    evidence: ExchangeEvidence | None = None
    evidence_note: str = ""           # why there is none
    lb_configs: list[LbDrift] = field(default_factory=list)
    lb_note: str = ""
    probe: ProbeReport | None = None
    probe_note: str = ""
    model_file: str | None = None     # how the page names the model (None: as given on the command line)


def model_digest(plan: Plan) -> str:
    """SHA-256 of the model file's bytes."""
    return hashlib.sha256(read_bytes(plan.model.path, "model")).hexdigest()


def certificate_status(plan: Plan, *, password_env: str | None = None, interactive: bool | None = None,
                       ca_bundle: str | None = None) -> CertificateStatus:
    """The certificate check of `lbsync cert check` for the model's certificate: section, or why it was not run
    (no certificate: section; the password is not available; the files cannot be read)."""
    cert = plan.model.certificate
    if cert is None:
        return CertificateStatus(None, "the model has no certificate: section (lbsync cert check --pfx FILE checks "
                                       "one outside the model)")
    password = PasswordSource(password_env or cert.password_env, explicit=bool(password_env), interactive=interactive)
    try:
        return CertificateStatus(check_model_certificate(plan, password=password, ca_bundle=ca_bundle))
    except LbsyncError as exc:
        where = f"{exc.file}: " if exc.file else ""
        return CertificateStatus(None, f"could not be checked: {where}{exc.message}")


def exchange_evidence(plan: Plan, *, apphost: list[str] = (), outlook_anywhere: list[str] = (),
                      evidence_dir: str | None = None) -> ExchangeEvidence:
    """The evidence as `lbsync audit` reads it, compared with the Plan (bad evidence: LbsyncError)."""
    servers = collect(plan, apphost=list(apphost), outlook_anywhere=list(outlook_anywhere),
                      evidence_dir=evidence_dir)
    return ExchangeEvidence(compare(plan, servers), servers)


def lb_configs(plan: Plan, *, haproxy: str | None = None, nginx: list[str] = (),
               templates: str | None = None) -> list[LbDrift]:
    out = [config_drift(plan, "haproxy", haproxy, templates=templates)] if haproxy else []
    return out + [config_drift(plan, "nginx", f, templates=templates) for f in nginx]


def probe(plan: Plan, certificate: CertificateStatus, *, timeout: float) -> ProbeReport:
    """`lbsync probe`: certificates compared with the model's (when the certificate check could read it), else
    with the first one a VIP served."""
    if certificate.report is not None:
        return run_probe(plan, timeout=timeout, reference=certificate.report.fingerprint_sha256,
                         reference_source=f"the model's certificate ({certificate.report.source})")
    return run_probe(plan, timeout=timeout)


def for_render(plan: Plan) -> ReportInputs:
    """The report `render` writes beside its files: the plan only, no time, so that it is reproducible (render
    --diff shows no difference for an unchanged model)."""
    return ReportInputs(
        plan=plan, model_sha256=model_digest(plan), generated=None, command="lbsync render",
        certificate=CertificateStatus(None, f"{RENDER_NOTE} the certificate check ('lbsync report', or 'lbsync cert "
                                            "check')"),
        evidence_note=f"{RENDER_NOTE} Exchange evidence (--apphost, --outlook-anywhere, --evidence)",
        lb_note=f"{RENDER_NOTE} deployed configurations (--haproxy, --nginx)",
        probe_note=f"{RENDER_NOTE} the live probe (--probe)",
        model_file=plan.model.path.name)   # however the path was spelt, the same model gives the same page
