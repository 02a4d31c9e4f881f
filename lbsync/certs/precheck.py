"""The certificate gate before render and f5 apply.

With Extended Protection on, bridging works only if the load balancer presents the same certificate as Exchange.
When the model has a `certificate:`, render (load-balancer targets) and `f5 apply` run the certificate checks
first and refuse with exit 2 if one fails. Render writes configurations that name the key file without carrying the
key, so it does not read a PEM key (no password asked; `cert check`, `cert export` and `f5 apply` check the key).
"""

from __future__ import annotations

from ..errors import LbsyncError
from ..plan.types import Plan
from .check import check_model_certificate


def needs_precheck(plan: Plan) -> bool:
    return plan.certificate_gate


def precheck_or_refuse(plan: Plan, *, with_key: bool = True) -> None:
    if not needs_precheck(plan):
        return
    report = check_model_certificate(plan, with_key=with_key)
    failed = [c for c in report.checks if c.status == "fail"]
    if failed:
        first = "; ".join(f"{c.id}: {c.message}" for c in failed)
        raise LbsyncError(f"Extended Protection is on and the certificate check failed ({first}); "
                          "fix the certificate or run 'lbsync cert check' for details",
                          file=plan.model.marks.file, line=plan.model.marks.at(("certificate",))[0],
                          col=plan.model.marks.at(("certificate",))[1], key="certificate")
