"""Audit helpers: models, applied applicationHost.config files, verify evidence, CU resets."""

from __future__ import annotations

from pathlib import Path

import iisinterp

from lbsync.audit import drift as driftmod
from lbsync.audit import evidence as evmod
from lbsync.audit.apphost import Document
from lbsync.model import load_model_text
from lbsync.plan import build_plan
from lbsync.plan import expected as plan_expected
from lbsync.targets import RenderOptions
from lbsync.targets import exchange as exrender

from .paths import FIXTURES

AUDIT = FIXTURES / "audit"
SITE = "Default Web Site"
OFFLOADED_2013 = [f"{SITE}/{p}" for p in ("owa", "owa/Integrated", "owa/oma", "ecp", "EWS",
                                          "Microsoft-Server-ActiveSync", "OAB", "mapi", "Autodiscover")]


# ---- helpers shared by the audit test modules ------------------------------------------------------------------

def model_text(version: int, default: str, *, mrsproxy: bool = True, servers=("EX01", "EX02"),
               overrides: dict | None = None, services=("owa", "ecp", "ews", "eas", "oab", "mapi", "rpc")) -> str:
    lines = ["version: 1", "exchange:", f"  version: {version}", "  cu: 23", f"  mrsproxy: {str(mrsproxy).lower()}",
             "  outlook_anywhere:", "    external_hostname: mail.contoso.com", "servers:"]
    for i, name in enumerate(servers):
        lines += [f"  - name: {name}", f"    address: 192.0.2.{11 + i}"]
    lines += ["namespaces:", "  - host: mail.contoso.com", f"    services: [{', '.join(services)}]",
              "  - host: autodiscover.contoso.com", "    services: [autodiscover]",
              "tls:", f"  default: {default}", "  server_ca: /etc/ssl/certs/ca-certificates.crt"]
    if overrides:
        lines.append("  services:")
        lines += [f"    {k}: {v}" for k, v in overrides.items()]
    if version != 2013 and "offload" in {default, *(overrides or {}).values()}:
        lines.append("allow: [offload-unsupported]")
    return "\n".join(lines) + "\n"


def plan_for(tmp_path: Path, text: str):
    path = tmp_path / "lbsync.yaml"
    path.write_text(text, encoding="utf-8")
    plan = build_plan(load_model_text(text, path))
    assert not plan.blocking(set()), [f.code for f in plan.blocking(set())]
    return plan


def applied(plan, server: str, text: str | None = None, state=None, flavour: str = "appcmd"):
    """(applicationHost.config text, Exchange state) after the generated apply-SERVER.ps1 ran on `text`."""
    base = text if text is not None else iisinterp.load_fixture(plan.exchange.version)
    files = exrender.render(plan, RenderOptions(flavour=flavour))
    run = iisinterp.run(base, files[f"exchange/apply-{server}.ps1"].content, server=server, exchange=state)
    return run.apphost, run.exchange


def default_state(text: str):
    return iisinterp.initial_exchange_state(text)


def verify_doc(plan, server: str, apphost_text: str, state) -> dict:
    """The evidence verify-SERVER.ps1 would write for this applicationHost.config and Exchange state."""
    doc = Document(apphost_text)
    locations = {loc: doc.effective(loc) for loc in plan.exchange.locations}
    return {
        "lbsync_verify": 1, "server": server, "computer_name": server, "collected_at": "2026-11-20T09:00:00Z",
        "generator": {"lbsync_version": "0.1.0", "model": "lbsync.yaml", "flavour": "appcmd",
                      "exchange_version": plan.exchange.version},
        "locations": locations,
        "site_root": {"location": SITE, "sslFlags": doc.effective(SITE)},
        "back_end": {"site": "Exchange Back End", "port": 444, "sslFlags": doc.effective("Exchange Back End")},
        "outlook_anywhere": {"SSLOffloading": state.ssl_offloading,
                             "ExternalClientsRequireSsl": state.external_clients_require_ssl,
                             "InternalClientsRequireSsl": state.internal_clients_require_ssl,
                             "ExternalHostname": "mail.contoso.com", "InternalHostname": None},
        "oab": {"RequireSSL": state.oab_require_ssl},
        "ews": {"MRSProxyEnabled": state.mrsproxy_enabled},
        "expected": plan_expected.exchange_state(plan.exchange), "differences": [], "in_sync": True,
    }


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(path)


def audit(plan, **kw):
    return driftmod.compare(plan, evmod.collect(plan, **kw))


def drift_set(report) -> set[tuple[str, str | None, str]]:
    return {(d.server, d.location, d.code) for d in report.drift}


def per_server(servers, items) -> set:
    return {(s, loc, code) for s in servers for loc, code in items}


def cu_reset(text: str, reset: dict[str, str | None]) -> str:
    """What a Cumulative Update does to some locations: back to setup's value (None: inherit again)."""
    for loc, flags in reset.items():
        text = iisinterp.clear_access(text, loc) if flags is None else iisinterp.set_access(text, loc, flags)
    return text


CU_RESET = {f"{SITE}/owa": None, f"{SITE}/ecp": None, f"{SITE}/OAB": "Ssl, Ssl128", f"{SITE}/mapi": "Ssl, Ssl128"}
