"""NGINX >= 1.22 open source (NGINX Plus directives behind targets.nginx.plus): nginx/lbsync.conf for the `http`
context and, when a namespace is passed through, nginx/lbsync-stream.conf for the `stream` context.

When a passthrough namespace shares a VIP:port with terminated ones, the stream side reads the SNI (ssl_preread)
and hands every connection, with a PROXY protocol header carrying the client address, to a local unix socket:
either the http side's TLS server (for the terminated names) or a small stream relay per passthrough namespace
that strips the header and forwards the untouched TLS bytes to the Exchange servers.
Options (RenderOptions.extra): `redirect_port` (default 80) and `socket_dir` (default /run: where those sockets go).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .. import __version__
from ..certs.export import export_command, exported_path
from ..errors import LbsyncError
from ..facts.lb import LB_MAX_LINE_BYTES
from ..facts.tls import GUIDELINE, profile
from ..output import check as checks
from ..output import text
from ..output.env import environment, render_template
from ..output.writer import Output
from ..plan.types import Listener, MailRoute, NamespacePlan, Plan, ServicePlan
from . import common
from .protocol import RenderOptions

NAME = "nginx"
LB_KIND = "nginx"
HTTP_CONF = "nginx/lbsync.conf"
STREAM_CONF = "nginx/lbsync-stream.conf"


def upstream_name(svc: ServicePlan) -> str:
    return "lbsync_" + common.ident(svc.pool)


def server_lines(svc: ServicePlan) -> str:
    """The upstream's `server` lines (one f-string each: a large model has tens of thousands)."""
    h = svc.health
    tail = f" max_fails={h.fall} fail_timeout={common.duration(h.passive_down_ms)};"
    return "\n".join(f"    server {common.hostport(m.address, m.port)}{tail}  # {m.server}" for m in svc.members)


def nginx_tls(name: str) -> str:
    """The Plan's TLS spelling (TLSv1.0) -> NGINX's (TLSv1)."""
    return "TLSv1" if name == "TLSv1.0" else name


def server_protocols(svc: ServicePlan) -> str:
    """proxy_ssl_protocols: the versions the Plan offers the servers."""
    return " ".join(nginx_tls(v) for v in svc.server_tls_versions)


def header_buffer_size(plan: Plan) -> int:
    """One large_client_header_buffers buffer: the longest request or header line (CRLF included) a client may
    send, Plan.lb_header_bytes up to what HTTP.sys takes in one field (facts.lb [NGX], LB_MAX_LINE_BYTES)."""
    return min(plan.lb_header_bytes, LB_MAX_LINE_BYTES)


def header_buffers(plan: Plan) -> str:
    """large_client_header_buffers NUMBER SIZE: a line (a Kerberos Authorization header) fits one buffer, and NUMBER
    buffers hold Plan.lb_header_bytes (nginx allocates them only for requests that do not fit 1k)."""
    size = header_buffer_size(plan)
    number = -(-plan.lb_header_bytes // size)
    return f"{number} {size // 1024}k" if size % 1024 == 0 else f"{number} {size}"


def persistence_cookie(svc: ServicePlan) -> str:
    return "lbsync_" + common.ident(svc.group).lower()


def needs_stream(plan: Plan) -> bool:
    """The stream include: passthrough namespaces (SNI) and mail ports."""
    return any(ns.passthrough for ns in plan.namespaces) or bool(plan.mail)


def mail_upstream(route: MailRoute) -> str:
    return "lbsync_" + common.ident(route.pool)


# NGINX Plus `match ... expect ~ "regex"`: each mail protocol's greeting (facts.mail), as a regex
MAIL_GREETINGS = {"smtp": "^220", "imap": "^\\* OK", "pop": "^\\+OK"}


class Sockets:
    """Unix sockets between the stream splitter and the relays / the http side (shared VIP:port only)."""

    def __init__(self, socket_dir: str):
        self.dir = socket_dir.rstrip("/") or "/"

    def l7(self, listener: Listener) -> str:
        return f"unix:{self.dir}/lbsync-nginx-{listener.key}.sock"

    def relay(self, ns: NamespacePlan) -> str:
        return f"unix:{self.dir}/lbsync-nginx-relay-{common.ident(ns.host)}.sock"

    def refuse(self) -> str:
        return f"unix:{self.dir}/lbsync-nginx-refuse.sock"


def context(plan: Plan, options: RenderOptions) -> dict:
    extra = options.extra or {}
    return {
        "plan": plan, "version": __version__, "model_name": text.conf_comment(plan.model.path.name),
        "tls": profile(plan.tls_profile), "guideline": GUIDELINE,
        "target": plan.model.targets.nginx, "plus": plan.model.targets.nginx.plus,
        "export_command": export_command(plan.model, "nginx"),
        "exported": [exported_path(plan.model, "nginx/lbsync.crt"), exported_path(plan.model, "nginx/lbsync.key")],
        "server_ca_path": plan.lb_server_ca[LB_KIND], "server_ca_local": plan.model.tls.server_ca,
        "listeners": plan.listeners, "stream_listeners": [lst for lst in plan.listeners if lst.l4],
        "redirects": plan.redirects,
        "redirect_port": int(extra.get("redirect_port", 80)),
        "sockets": Sockets(str(extra.get("socket_dir", "/run"))),
        "upstreams": [svc for ns in plan.namespaces if not ns.passthrough for svc in ns.pools],
        "any_answer": any(s.health.expect != "200" for s in plan.services),
        "mail": plan.mail, "mail_upstream": mail_upstream,
        "mail_greetings": {k: v for k, v in MAIL_GREETINGS.items() if any(m.service == k for m in plan.mail)},
        "tcp_upstreams": [svc for ns in plan.namespaces if ns.passthrough for svc in ns.pools],
        "lb": common, "upstream_name": upstream_name,
        "header_buffers": header_buffers(plan), "header_buffer_size": header_buffer_size(plan),
        "server_protocols": server_protocols, "server_lines": server_lines,
        "legacy_ciphers": "DEFAULT:@SECLEVEL=0", "persistence_cookie": persistence_cookie,
    }


def render(plan: Plan, options: RenderOptions) -> dict[str, Output]:
    env = environment(options.templates)
    ctx = context(plan, options)
    files = {HTTP_CONF: Output(render_template(env, "nginx/lbsync.conf.j2", **ctx))}
    if needs_stream(plan):
        files[STREAM_CONF] = Output(render_template(env, "nginx/lbsync-stream.conf.j2", **ctx))
    return files


def readme(plan: Plan, options: RenderOptions) -> str:
    env = environment(options.templates)
    return render_template(env, "nginx/README.txt.j2", needs_stream=needs_stream(plan), **context(plan, options),
                           drain=common.server_pools(plan))


def stream_module(binary: str) -> str | None:
    """What the stream context needs: None when the module is built in, the path of ngx_stream_module.so when it
    is dynamic, "" when this nginx has no stream module at all."""
    rc, out = checks.run([binary, "-V"], Path.cwd())
    if "--with-stream=dynamic" not in out:
        return None if "--with-stream" in out else ""
    m = re.search(r"--modules-path=(\S+)", out)
    candidates = [Path(m.group(1))] if m else []
    candidates += [Path("/usr/lib/nginx/modules"), Path("/usr/lib64/nginx/modules"), Path("/usr/share/nginx/modules")]
    for folder in candidates:
        so = folder / "ngx_stream_module.so"
        if so.exists():
            return str(so)
    return ""


def nginx_wrapper(folder: Path, http_conf: Path, stream_conf: Path | None, module: str | None,
                  *, extra_main: str = "") -> Path:
    """A complete nginx.conf that includes the generated files; temp paths and pid stay in folder."""
    lines = []
    if module:
        lines.append(f"load_module {module};")
    lines += [f"pid {folder}/nginx.pid;", "error_log stderr notice;", extra_main,
              "events { worker_connections 4096; }", "http {",
              "    access_log off;", f"    client_body_temp_path {folder}/body;",
              f"    proxy_temp_path {folder}/proxy;", f"    fastcgi_temp_path {folder}/fastcgi;",
              f"    uwsgi_temp_path {folder}/uwsgi;", f"    scgi_temp_path {folder}/scgi;",
              f"    include {http_conf};", "}"]
    if stream_conf:
        lines += ["stream {", f"    include {stream_conf};", "}"]
    wrapper = folder / "nginx.conf"
    wrapper.write_text("\n".join(ln for ln in lines if ln) + "\n")
    return wrapper


def check(plan: Plan, files: dict[str, Output], work: Path) -> str:
    """`nginx -t` on exactly the rendered files, included by a wrapper nginx.conf (which loads the stream module
    when it is dynamic and keeps nginx's own pid and temporary files in `work`). nginx -t binds the listeners, so it
    runs in a private network namespace with the VIPs on its loopback; the certificate, key and CA it names are
    provided at their paths when they are not on this machine, and the socket folder is a private copy
    (output.check.isolated)."""
    if plan.model.targets.nginx.plus:
        return ("nginx -t: NOT checked — targets.nginx.plus is true and NGINX Plus directives (ntlm, "
                "health_check, match, zone) cannot be checked with open-source nginx; run nginx -t on the Plus host")
    binary = shutil.which("nginx")
    if not binary:
        return "nginx is not installed here: nginx/lbsync.conf was NOT checked"
    written: dict[str, Path] = {}
    for rel in (HTTP_CONF, STREAM_CONF):
        if rel in files:
            written[rel] = work / Path(rel).name
            written[rel].write_bytes(files[rel].content.encode("utf-8"))
    module = stream_module(binary) if STREAM_CONF in written else None
    if module == "":
        raise LbsyncError("nginx has no stream module here (Debian: apt install libnginx-mod-stream); "
                          "nginx/lbsync-stream.conf cannot be checked")
    wrapper = nginx_wrapper(work, written[HTTP_CONF], written.get(STREAM_CONF), module, extra_main="user root;")
    pem = checks.placeholder_pem(work)
    target = plan.model.targets.nginx
    needed = {target.cert_path: pem["cert"].read_bytes(), target.key_path: pem["key"].read_bytes(),
              plan.lb_server_ca[LB_KIND]: pem["cert"].read_bytes()}
    sockets = sorted({str(Path(m.group(1)).parent) for text in (o.content for o in files.values())
                      for m in re.finditer(r"\bunix:(/\S+?\.sock)", text)})
    vips = plan.listen_addresses
    try:
        rc, out, notes = checks.isolated([binary, "-t", "-q", "-c", str(wrapper), "-p", str(work), "-e", "stderr"],
                                         work, files=needed, private_dirs=sockets, addresses=vips, network=True)
    except checks.NoNamespace as exc:
        return ("nginx -t: NOT checked — it binds the listeners and needs the files the configuration names, and no "
                f"private namespace could be made here ({exc})")
    if rc != 0:
        raise checks.reject("nginx -t", out, written)
    return checks.verdict("nginx -t", checks.warnings(out, written), notes)


# ---- drift: a deployed lbsync.conf / lbsync-stream.conf against a fresh render (lbsync audit --nginx) -------

def _tokens(text: str) -> list[str]:
    """Statements and braces: 'directive args;', '{' and '}' (comments removed, quotes kept)."""
    body = "\n".join(common.strip_comment(line) for line in text.replace("\r\n", "\n").split("\n"))
    tokens, cur, quote = [], [], None
    for ch in body:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch in ";{}":
            stmt = common.squash("".join(cur))
            if ch == ";":
                tokens.append(stmt + ";")
            elif ch == "{":
                tokens.append(stmt + " {")
            else:
                if stmt:
                    tokens.append(stmt + ";")   # a last statement without ';' (invalid, but shown)
                tokens.append("}")
            cur = []
        else:
            cur.append(ch)
    rest = common.squash("".join(cur))
    if rest:
        tokens.append(rest)
    return tokens


def normalise(text: str) -> str:
    tokens = _tokens(text)
    out: list[str] = []

    def block(i: int, depth: int, header: str | None) -> int:
        lines: list[list[str]] = []     # each item: the lines of one statement or nested block
        while i < len(tokens):
            tok = tokens[i]
            if tok == "}":
                i += 1
                break
            if tok.endswith("{"):
                start = len(out)
                out.append("    " * depth + tok)
                i = block(i + 1, depth + 1, tok)
                out.append("    " * depth + "}")
                lines.append(out[start:])
                del out[start:]
            else:
                lines.append(["    " * depth + tok])
                i += 1
        if header is not None and header.startswith("upstream "):
            servers = sorted((x for x in lines if x[0].strip().startswith("server ")), key=lambda x: x[0])
            lines = [x for x in lines if not x[0].strip().startswith("server ")] + servers
        for item in lines:
            out.extend(item)
        return i

    i = 0
    while i < len(tokens):
        i = block(i, 0, None)
    return "\n".join(out) + "\n"


def rendered_name(deployed: str, files: dict[str, Output]) -> str:
    """Which rendered NGINX file a deployed one is compared with: lbsync-stream.conf for a stream file, else
    lbsync.conf."""
    name = Path(deployed).name.lower()
    if "stream" in name and STREAM_CONF in files:
        return STREAM_CONF
    return HTTP_CONF
