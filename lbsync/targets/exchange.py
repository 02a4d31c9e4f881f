"""The Exchange side: per server apply / undo / verify PowerShell scripts and the README section.

Everything the scripts do comes from `plan.exchange`; this module only puts the plan's decisions in the order the
scripts run them (steps), and the templates under templates/exchange/ write them out, one literal command per
IIS location, in the chosen flavour (appcmd or WebAdministration).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from .. import __version__
from ..errors import LbsyncError
from ..facts import catalog, httpsys, vdirauth
from ..facts.catalog import Svc
from ..facts.lb import Mode
from ..facts.versions import SE
from ..output import text
from ..output.env import environment, render_template
from ..output.writer import Output
from ..plan import expected
from ..plan.lookup import slug
from ..plan.types import OutlookAnywherePlan, Plan
from .protocol import RenderOptions

NAME = "exchange"
LB_KIND = None           # no load balancer's findings block the Exchange side
check = None             # nothing the real programs could check here (no PowerShell in lbsync)
FLAVOURS = ("appcmd", "webadministration")
MRSPROXY_MARKER = "mrsproxy-enabled-by-lbsync"
# in the per-server state folder: the Outlook Anywhere settings apply manages, as they were before lbsync (for undo)
OA_RECORD = "outlook-anywhere-before-lbsync.json"
# beside it: the HTTP.sys registry values apply sets (facts.httpsys), as they were before lbsync (for undo)
HTTP_SYS_RECORD = "http-sys-before-lbsync.json"
BACK_END_HTTPS_PORT = 444   # how verify finds the back-end site without naming it


@dataclass(frozen=True)
class IisStep:
    action: str            # "set": write sslFlags on the location | "clear": remove its own <access> (inherit)
    location: str          # "Default Web Site/owa"
    value: str             # the effective sslFlags after the step
    app_pool: str
    service: str
    note: str              # one comment line for the administrator


def _mode_note(plan: Plan, service: str, location: str, value: str) -> str:
    title = catalog.SERVICES[service].title
    if location in plan.exchange.fixed_locations:
        return f"{title}: {location} keeps Exchange's default {value} in every mode"
    mode = plan.exchange.modes[service]
    reason = {Mode.OFFLOAD: "the load balancer sends plain HTTP to port 80, so SSL must not be required",
              Mode.BRIDGE: "the load balancer re-encrypts to port 443, so SSL stays required",
              Mode.PASSTHROUGH: "clients' TLS passes through to port 443, so SSL stays required"}[mode]
    return f"{title} ({mode}): {reason}"


def _writable(location: str) -> str:
    """The scripts change only locations under Default Web Site: never the site root, never the back-end site."""
    prefix = catalog.SITE + "/"
    if (not location.startswith(prefix) or not location[len(prefix):].strip("/")
            or catalog.BACK_END_SITE.lower() in location.lower()):
        raise LbsyncError(f"refusing to write a script that changes '{location}': only locations under "
                          f"'{prefix}' (not the site root) may be changed")
    return location


def apply_steps(plan: Plan) -> list[IisStep]:
    """One step per location set by appcmd/Set-WebConfigurationProperty, in the plan's order (Rpc excluded)."""
    ex = plan.exchange
    steps = []
    for loc in map(_writable, ex.appcmd_locations):
        svc = ex.location_service[loc]
        steps.append(IisStep("set", loc, ex.locations[loc], ex.location_pool[loc], svc,
                             _mode_note(plan, svc, loc, ex.locations[loc])))
    return steps


def undo_steps(plan: Plan) -> list[IisStep]:
    """Back to Exchange's defaults: explicit defaults are written back, inherited ones are cleared so the
    location inherits the site root again (exactly what a fresh installation has)."""
    ex = plan.exchange
    steps = []
    for loc in map(_writable, ex.appcmd_locations):
        svc = ex.location_service[loc]
        default = ex.defaults[loc]
        if ex.default_explicit[loc]:
            steps.append(IisStep("set", loc, default, ex.location_pool[loc], svc,
                                 f"{catalog.SERVICES[svc].title}: Exchange's default for {loc} is {default}"))
        else:
            steps.append(IisStep("clear", loc, default, ex.location_pool[loc], svc,
                                 f"{catalog.SERVICES[svc].title}: by default {loc} has no sslFlags of its own "
                                 f"and inherits the site root's ({default})"))
    return steps


def _server_label(name: str) -> str:
    return slug(name)


def _identity(server: str, key: str) -> str:
    return f"{server}\\{catalog.IDENTITY[key]}"


def _appcmd_flags(value: str) -> str:
    """appcmd's /sslFlags argument: /sslFlags:None, or "/sslFlags:Ssl,Ssl128" quoted whole (a bare comma is
    PowerShell's array operator; quoted, PowerShell passes it to appcmd as one argument)."""
    compact = value.replace(" ", "")
    return f"/sslFlags:{compact}" if "," not in compact else f'"/sslFlags:{compact}"'


def _ps_bool(value: bool) -> str:
    return "$true" if value else "$false"


def _ps_value(value: bool | str) -> str:
    """A literal PowerShell argument: $true/$false, or the text single-quoted."""
    return _ps_bool(value) if isinstance(value, bool) else text.ps_single(value)


def vdir_auth_checks(plan: Plan, server: str) -> list[dict]:
    """One read per managed virtual directory for verify: its Get- cmdlet, -Identity, shape and expected methods."""
    out = []
    for svc, methods in expected.vdir_auth(plan.exchange).items():
        cmdlet, name, shape = vdirauth.VDIRS[svc]
        out.append({"service": svc, "cmdlet": cmdlet, "identity": f"{server}\\{name}", "shape": shape,
                    "item": vdirauth.item(svc), "methods": methods})
    return out


def _context(plan: Plan, options: RenderOptions, server) -> dict:
    ex = plan.exchange
    flavour = options.flavour or "appcmd"
    if flavour not in FLAVOURS:
        raise LbsyncError(f"unknown Exchange script flavour '{flavour}' (expected one of: {', '.join(FLAVOURS)})")
    return {
        "version": __version__, "model_file": text.printable(plan.model.path.name), "flavour": flavour,
        "server": server.name, "server_short": server.name.split(".")[0],
        "exchange_version": ex.version, "cu": ex.cu, "exchange_release": ex.release,
        # as the verify JSON's generator.exchange_version: the number, or 'SE'
        "exchange_version_ps": (text.ps_single(ex.version.label) if ex.version == SE else str(int(ex.version))),
        "apply_steps": apply_steps(plan), "undo_steps": undo_steps(plan),
        "oa_offloading": ex.outlook_anywhere.ssl_offloading,
        # apply's one Set-OutlookAnywhere: parameter -> literal value, as the plan decided (empty: left alone)
        "oa_apply": dict(ex.outlook_anywhere.apply),
        "oa_undo": ex.undo_outlook_anywhere_ssl_offloading,
        "vdir_auth": vdir_auth_checks(plan, server.name),
        "oa_identity": _identity(server.name, Svc.RPC),
        "oab_require_ssl": ex.oab_require_ssl, "oab_identity": _identity(server.name, Svc.OAB),
        "oab_pool": ex.location_pool.get(f"{catalog.SITE}/OAB", ""),
        "mrsproxy": ex.mrsproxy_enabled, "ews_identity": _identity(server.name, Svc.EWS),
        "mrsproxy_marker": MRSPROXY_MARKER,
        "oa_record": OA_RECORD,
        # what undo's one Set-OutlookAnywhere sets back from the record: every setting apply may have recorded
        "oa_restore": list(OutlookAnywherePlan.SETTINGS),
        "oa_default": catalog.OUTLOOK_ANYWHERE_DEFAULT_SSL_OFFLOADING,
        "oab_default": catalog.OAB_DEFAULT_REQUIRE_SSL,
        "expected": expected.exchange_state(ex),
        "expected_json": json.dumps(expected.exchange_state(ex), indent=4),
        "back_end_port": BACK_END_HTTPS_PORT,
        "site": catalog.SITE,
        # HTTP.sys registry values apply sets, undo sets back and verify compares (empty: not managed)
        "http_sys": [{"name": k, "value": v, "text": f"{k} {v}"} for k, v in ex.http_sys.items()],
        "http_sys_key": httpsys.KEY, "http_sys_key_display": httpsys.KEY_DISPLAY,
        "http_sys_record": HTTP_SYS_RECORD, "http_sys_note": httpsys.RESTART_NOTE,
        "max_header_bytes": plan.max_header_bytes, "lb_header_bytes": plan.lb_header_bytes,
    }


def _filters(env) -> None:
    env.filters["ps"] = text.ps_single
    env.filters["ps_dq"] = text.ps_double_inner
    env.filters["ps_comment"] = text.ps_comment
    env.filters["appcmd_flags"] = _appcmd_flags
    env.filters["ps_bool"] = _ps_bool
    env.filters["ps_value"] = _ps_value


def _group_views(plan: Plan) -> list[Plan]:
    """One plan per group lbsync scripts (2013+): the main group's is `plan` itself; another group's is the same
    plan with that group's ExchangePlan (its servers, services and modes) as `exchange`."""
    return [plan, *(replace(plan, exchange=ex) for ex in plan.group_exchanges)]


def render(plan: Plan, options: RenderOptions) -> dict[str, Output]:
    env = environment(options.templates)
    _filters(env)
    files: dict[str, Output] = {}
    for view in _group_views(plan):
        for server in view.exchange.servers:
            ctx = _context(view, options, server)
            label = _server_label(server.name)
            for kind in ("apply", "undo", "verify"):
                text = render_template(env, f"exchange/{kind}.ps1.j2", kind=kind, **ctx)
                files[f"exchange/{kind}-{label}.ps1"] = Output(_crlf(text))
    return files


def _crlf(text: str) -> str:
    """Windows line endings (the scripts are run and read on Windows), UTF-8 with a BOM so that Windows
    PowerShell 5.1 reads any non-ASCII character correctly."""
    return "\ufeff" + text.replace("\r\n", "\n").replace("\n", "\r\n")


def readme(plan: Plan, options: RenderOptions) -> str:
    env = environment(options.templates)
    _filters(env)
    ex = plan.exchange
    ctx = _context(plan, options, ex.servers[0])
    text = render_template(env, "exchange/README.txt.j2", servers=[s.name for s in ex.servers],
                           labels=[_server_label(s.name) for s in ex.servers], plan=plan,
                           offload=[s for s, m in ex.modes.items() if m == Mode.OFFLOAD],
                           **{k: v for k, v in ctx.items() if k not in ("server",)})
    if ex.http_sys:
        text += "\n" + render_template(env, "exchange/httpsys.txt.j2", **{k: v for k, v in ctx.items()
                                                                        if k not in ("server",)})
    if plan.coexistence:
        scripted = {v.exchange.group: v.exchange for v in _group_views(plan)[1:]}
        text += "\n" + render_template(env, "exchange/README-groups.txt.j2", groups=plan.coexistence,
                                       scripted=scripted, label=_server_label, main_version=ex.version)
    return text
