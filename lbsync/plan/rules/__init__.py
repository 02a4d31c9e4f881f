"""The rules, evaluated on a built Plan: each returns findings with a stable code (facts.codes).

core    Exchange: offloading support, Extended Protection, MRSProxy, MAPI, /API, Outlook Anywhere host name
lb      load balancers: passthrough, listeners, re-encryption trust, client TLS, NGINX and NTLM, mail (L4)
groups  coexistence (groups:)
The order below is the order findings are reported in.
"""

from __future__ import annotations

from collections.abc import Callable

from ...facts.codes import CODES
from ...model.types import Model
from ..types import Finding, Plan
from . import core, groups, lb

Rule = Callable[[Model, Plan], list[Finding]]
RULES: tuple[Rule, ...] = (
    core.offload_support, core.extended_protection, core.mrsproxy, core.mapi, core.api,
    lb.passthrough_mixed, lb.passthrough_l4, lb.f5_passthrough_shared, lb.server_trust, lb.client_tls,
    core.outlook_anywhere_hostname, core.header_limit, lb.nginx_ntlm, lb.mail, groups.coexistence_rules,
)


def evaluate(model: Model, plan: Plan, allow: tuple[str, ...] = ()) -> list[Finding]:
    """Every rule's findings; an allowable error whose code is in `allow` becomes a warning marked allowed."""
    out = [f for rule in RULES for f in rule(model, plan)]
    for f in out:
        assert f.code in CODES, f.code
    allowed = set(allow)
    for f in out:
        if f.level == "error" and f.code in allowed and CODES[f.code].allowable:
            f.level, f.allowed = "warning", True
            f.message += " (allowed)"
    return out
