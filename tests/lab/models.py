"""lbsync.yaml texts for the lab: servers from a running Lab, the namespaces on 127.0.0.1:PORT, real files."""

from __future__ import annotations

from pathlib import Path

ALL = ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc"]
# NGINX open source cannot carry NTLM at L7: its lab models use Basic on every vdir that would accept NTLM.
BASIC_AUTH = """  auth:
    ews: [Basic]
    oab: [Basic]
    mapi: [Basic]
    autodiscover: [Basic]
"""

SCENARIOS = ("offload", "bridge", "passthrough")


def model_text(lab, pki_files, *, scenario: str, port: int, target: str, version: int = 2013,
               interval: str = "500ms", fall: int = 2, rise: int = 2, mrsproxy: bool = True,
               basic_auth: bool | None = None, verify_server: bool = True, plus: bool = False,
               vip: str = "127.0.0.1", server_ca=None, extra_services: tuple[str, ...] = (),
               max_header_bytes: int | None = None) -> str:
    """offload / bridge: mail.contoso.com (owa..rpc) + autodiscover.contoso.com, every service in that mode,
    MRSProxy on. passthrough: rpc passed through on outlook.contoso.com, same VIP:port, the rest bridged."""
    basic = (target == "nginx" and not plus) if basic_auth is None else basic_auth
    oa_auth = "Basic" if basic else "Ntlm"
    if scenario == "passthrough":
        namespaces = (f"  - host: mail.contoso.com\n    vip: {vip}\n    port: {port}\n"
                      f"    services: [owa, ecp, ews, eas, oab, mapi]\n"
                      f"  - host: autodiscover.contoso.com\n    vip: {vip}\n    port: {port}\n"
                      f"    services: [autodiscover]\n"
                      f"  - host: outlook.contoso.com\n    vip: {vip}\n    port: {port}\n    services: [rpc]\n")
        tls = "  default: bridge\n  services:\n    rpc: passthrough\n"
        oa_host = "outlook.contoso.com"
    else:
        namespaces = (f"  - host: mail.contoso.com\n    vip: {vip}\n    port: {port}\n"
                      f"    services: [{', '.join(ALL + list(extra_services))}]\n"
                      f"  - host: autodiscover.contoso.com\n    vip: {vip}\n    port: {port}\n"
                      f"    services: [autodiscover]\n")
        tls = f"  default: {scenario}\n"
        oa_host = "mail.contoso.com"
    ca = server_ca or pki_files["ca"]   # the lab's load balancer runs here: its CA path is this machine's
    if target == "haproxy":
        targets = f"  haproxy: {{cert_path: {pki_files['combined']}, server_ca_path: {ca}}}\n"
    else:
        targets = (f"  nginx: {{plus: {str(plus).lower()}, cert_path: {pki_files['fullchain']}, "
                   f"key_path: {pki_files['key']}, server_ca_path: {ca}}}\n")
    return (
        "version: 1\n"
        "exchange:\n"
        f"  version: {version}\n"
        "  cu: 23\n"
        f"  mrsproxy: {str(mrsproxy).lower()}\n"
        "  outlook_anywhere:\n"
        f"    external_hostname: {oa_host}\n"
        f"    external_auth: {oa_auth}\n"
        f"    internal_auth: {oa_auth}\n"
        + (BASIC_AUTH if basic else "")
        + "servers:\n" + lab.servers_yaml()
        + "namespaces:\n" + namespaces
        + "tls:\n" + tls
        + f"  profile: intermediate\n  server_ca: {server_ca or pki_files['ca']}\n"
        + ("" if verify_server else "  verify_server: false\n")
        + f"health:\n  interval: {interval}\n  timeout: 1s\n  fall: {fall}\n  rise: {rise}\n"
        + (f"http:\n  max_header_bytes: {max_header_bytes}\n" if max_header_bytes is not None else "")
        + "targets:\n" + targets
        # NGINX open source with Basic everywhere still carries /owa/Integrated (Windows authentication only):
        # the finding nginx-ntlm names it; the lab accepts it (test_lab_nginx shows what breaks)
        + ("allow: [nginx-ntlm]\n" if basic and target == "nginx" else "")
    )


def write_model(folder: Path, text: str, name: str = "lbsync.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path
