"""Small models as dicts, planned: the helpers the plan and rule tests share."""

from __future__ import annotations

import yaml

from lbsync.model import load_model_text
from lbsync.plan import build_plan

ALL = ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc"]
SITE = "Default Web Site"
REQUIRE = "Ssl, Ssl128"


def model_dict(version=2013, mode="offload", services=ALL, **exchange) -> dict:
    return {
        "version": 1,
        "exchange": {"version": version, **exchange},
        "servers": [{"name": "EX01", "address": "192.0.2.11"}, {"name": "EX02", "address": "192.0.2.12"}],
        "namespaces": [{"host": "mail.contoso.com", "vip": "203.0.113.10", "services": list(services)},
                       {"host": "autodiscover.contoso.com", "vip": "203.0.113.10", "services": ["autodiscover"]}],
        "tls": {"default": mode},
        "targets": {"haproxy": {}},
    }


def plan_of(data: dict, allow=()):
    return build_plan(load_model_text(yaml.safe_dump(data, sort_keys=False), "/tmp/lbsync.yaml"), allow=allow)


def route(plan, service, host="mail.contoso.com"):
    (found,) = [s for s in plan.services if s.service == service and s.namespace == host]
    return found


def codes(plan, level=None):
    return {f.code for f in plan.findings if level is None or f.level == level}


PROFILE_GROUPS = {2007: ["owa", "ews", "oab", "eas", "rpc", "autodiscover"],
                  2010: ["owa", "ecp", "ews", "eas", "oab", "rpc", "autodiscover"]}


def with_group(version: int, mode: str, services=None) -> dict:
    data = model_dict(2013, "offload")
    data["groups"] = {"old": {"version": version, "tls": {"default": mode}}}
    data["servers"] += [{"name": "OLD1", "address": "192.0.2.21", "group": "old"},
                        {"name": "OLD2", "address": "192.0.2.22", "group": "old"}]
    data["namespaces"].append({"host": "legacy.contoso.com", "vip": "203.0.113.10", "group": "old",
                               "services": services or PROFILE_GROUPS[version]})
    data["allow"] = ["legacy-offload-undocumented", "legacy-offload-unsupported"]
    return data
