"""Property: any string in any field a person types is either refused at load time (exit 2, located) or leaves the
structure of every generated file unchanged, as tree-sitter-powershell, and lbsync's HAProxy/NGINX readers read it
(the real haproxy -c and nginx -t are run on accepted values in test_hostile_inputs and the lab)."""

from __future__ import annotations

import copy
import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import structure
from support.quick import examples

from lbsync.errors import LbsyncError
from lbsync.model import load_model_text
from lbsync.plan import build_plan
from lbsync.targets import TARGETS, RenderOptions, render_targets

BASE = {"version": 1, "exchange": {"version": 2013, "cu": 23, "mrsproxy": True,
                                   "outlook_anywhere": {"external_hostname": "mail.contoso.com",
                                                        "external_auth": "Basic", "internal_auth": "Basic"},
                                   "auth": {"ews": ["Basic"], "oab": ["Basic"], "mapi": ["Basic"],
                                            "autodiscover": ["Basic"]}},
        "servers": [{"name": "EX01", "address": "192.0.2.11"}, {"name": "EX02", "address": "192.0.2.12"}],
        "namespaces": [{"host": "mail.contoso.com", "vip": "203.0.113.10",
                        "services": ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc"]}],
        "tls": {"default": "offload", "services": {"rpc": "bridge"}},
        "targets": {"haproxy": {"cert_path": "/etc/haproxy/certs/lbsync.pem"},
                    "nginx": {"cert_path": "/etc/nginx/certs/lbsync.crt", "key_path": "/etc/nginx/certs/lbsync.key"},
                    "f5": {"host": "bigip.example.net", "partition": "Exchange"}},
        "allow": ["nginx-ntlm"]}   # /owa/Integrated (Windows authentication only) through NGINX open source

# every field a person types, as a path into the model
FIELDS = [("namespaces", 0, "host"), ("namespaces", 0, "vip"), ("servers", 0, "name"), ("servers", 0, "address"),
          ("exchange", "outlook_anywhere", "external_hostname"), ("targets", "haproxy", "cert_path"),
          ("targets", "haproxy", "server_ca_path"), ("targets", "nginx", "cert_path"),
          ("targets", "nginx", "key_path"), ("targets", "nginx", "server_ca_path"), ("targets", "f5", "host"),
          ("targets", "f5", "partition"), ("targets", "f5", "username_env"), ("allow",)]
SEPARATORS = "\n\r\t ;#{}\"'`$()<>%[]\\\x1b\u2018\u2019\u201c\u201d\u202e"
# strings near the grammar: a valid-looking value with a separator somewhere
near = st.builds(lambda a, sep, b: a + sep + b, st.from_regex(r"[a-z0-9./:-]{0,12}", fullmatch=True),
                 st.sampled_from(list(SEPARATORS)), st.from_regex(r"[a-z0-9./:-]{0,12}", fullmatch=True))
values = st.one_of(st.text(max_size=40), near, st.from_regex(r"/[a-z0-9._/-]{1,20}", fullmatch=True))


def _set(model: dict, path: tuple, value: str) -> dict:
    model = copy.deepcopy(model)
    if path == ("allow",):
        model["allow"] = [value]
        return model
    node = model
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return model


def _shapes(model: dict) -> list | None:
    try:
        plan = build_plan(load_model_text(yaml.safe_dump(model, sort_keys=False), "/tmp/lbsync.yaml"))
    except LbsyncError:
        return None
    if plan.blocking():
        return None
    files = render_targets(plan, list(TARGETS), RenderOptions())
    out = {}
    for rel, o in files.items():
        text = o.content
        if rel.endswith(".ps1"):
            out[rel] = structure.powershell(text)
        elif rel.endswith("haproxy.cfg"):
            out[rel] = structure.haproxy(text)
        elif rel.startswith("nginx/"):
            out[rel] = structure.nginx_conf(text)
        elif rel.endswith(".json"):
            json.loads(text)                                  # always one valid JSON document
        elif rel.endswith(".tmsh"):
            code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
            out[rel] = sum(line.count("{") - line.count("}") for line in code)   # blocks stay balanced
    return [out[rel] for rel in sorted(out)]      # by position: a server's name is in its scripts' file names


BASELINE = _shapes(BASE)


def test_unusual_but_valid_values_are_accepted_and_change_no_structure():
    """The accepted side of the property, exercised on purpose: every grammar's edge characters."""
    assert BASELINE is not None
    for field, value in [(("namespaces", 0, "host"), "a-b.x1.example.org"), (("servers", 0, "address"), "2001:db8::1"),
                         (("servers", 0, "address"), "exch01.corp.local"), (("servers", 0, "name"), "EX-01"),
                         (("targets", "haproxy", "cert_path"), "/opt/p@th+v=1,2:~x.pem"),
                         (("targets", "nginx", "key_path"), "/etc/nginx/ssl/mail_2026-12.key"),
                         (("targets", "f5", "partition"), "P_1.x-y"), (("targets", "f5", "username_env"), "_F5_U1")]:
        assert _shapes(_set(BASE, field, value)) == BASELINE, (field, value)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=values)
def test_any_value_in_any_field_is_refused_or_changes_no_structure(field, value):
    shapes = _shapes(_set(BASE, field, value))
    if shapes is None:
        return                                                 # refused: a located error, exit 2
    assert not any(not ch.isprintable() for ch in value), (field, value)
    assert shapes == BASELINE, (field, value)
