"""Exchange-script helpers: small models as YAML, planned and rendered."""

from __future__ import annotations

from lbsync.model import load_model_text
from lbsync.plan import build_plan
from lbsync.targets import RenderOptions
from lbsync.targets import exchange as exrender

FLAVOURS = ("appcmd", "webadministration")
RPC = "Default Web Site/Rpc"
SITE_ROOT = "Default Web Site"


def model_yaml(version: int, default: str, *, overrides: dict | None = None, mrsproxy: bool = False,
               servers: tuple[str, ...] = ("EX01", "EX02"), services: tuple[str, ...] | None = None) -> str:
    services = services or ("owa", "ecp", "ews", "eas", "oab", "mapi", "rpc")
    lines = ["version: 1", "exchange:", f"  version: {version}", f"  cu: {13 if version == 2019 else 23}",
             f"  mrsproxy: {'true' if mrsproxy else 'false'}", "  outlook_anywhere:",
             "    external_hostname: mail.contoso.com", "servers:"]
    for i, name in enumerate(servers):
        lines += [f"  - name: {name}", f"    address: 192.0.2.{11 + i}"]
    lines += ["namespaces:", "  - host: mail.contoso.com", f"    services: [{', '.join(services)}]",
              "  - host: autodiscover.contoso.com", "    services: [autodiscover]",
              "tls:", f"  default: {default}", "  server_ca: /etc/ssl/certs/ca-certificates.crt"]
    if overrides:
        lines.append("  services:")
        lines += [f"    {k}: {v}" for k, v in overrides.items()]
    modes = {default, *(overrides or {}).values()}
    if version != 2013 and "offload" in modes:
        lines.append("allow: [offload-unsupported]")
    return "\n".join(lines) + "\n"


def plan_for(tmp_path, text: str):
    path = tmp_path / "lbsync.yaml"
    path.write_text(text, encoding="utf-8")
    plan = build_plan(load_model_text(text, path))
    assert not plan.blocking(set()), [f.code for f in plan.blocking(set())]
    return plan


def rendered(plan, flavour: str) -> dict[str, str]:
    return {rel: out.content for rel, out in exrender.render(plan, RenderOptions(flavour=flavour)).items()}
