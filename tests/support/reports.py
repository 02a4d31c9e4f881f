"""Models for the report tests (a large estate, mail, a group no route reaches), what a report must draw for a
plan, and the JavaScript that measures a loaded report in Chromium."""

from __future__ import annotations

from pathlib import Path

import yaml

from lbsync.model import load_model
from lbsync.plan import build_plan

from .paths import ROOT

PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))
ALL = ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc", "autodiscover"]


def big_model(servers: int = 12, namespaces: int = 20) -> dict:
    """20 namespaces x 12 servers: every service on the even ones, a few on the odd ones, mail on two; four VIPs;
    bridged with OWA offloaded, MRSProxy on."""
    ns = []
    for i in range(namespaces):
        mail = i in (1, 3)
        ns.append({"host": f"ns{i:02d}.region{i % 3}.contoso.com",
                   "vip": f"203.0.113.{50 + i}" if mail else f"203.0.113.{10 + i % 4}",
                   "services": ALL if i % 2 == 0 else ["owa", "ews"] + (["smtp", "imap"] if mail else [])})
    return {"version": 1, "exchange": {"version": 2019, "cu": 14, "mrsproxy": True},
            "servers": [{"name": f"EXCH{i:02d}", "address": f"192.0.2.{10 + i}"} for i in range(servers)],
            "namespaces": ns, "tls": {"default": "bridge", "services": {"owa": "offload"}}}


MAIL_MODEL = {"version": 1, "exchange": {"version": 2019, "cu": 14},
              "servers": [{"name": "EX01", "address": "192.0.2.11"}, {"name": "EX02", "address": "192.0.2.12"}],
              "namespaces": [{"host": "mail.contoso.com", "vip": "203.0.113.10",
                              "services": ["owa", "ews", "smtp", "imap", "pop"]},
                             {"host": "smtp.contoso.com", "vip": "203.0.113.20", "services": ["smtp"]}],
              "tls": {"default": "bridge"}, "mail": {"smtp": {"ports": [25, 587]}, "imap": {"ports": [993]}}}

# a 2010 group whose servers no namespace routes to: they are still drawn
UNREACHED_MODEL = {"version": 1, "exchange": {"version": 2013, "cu": 23}, "groups": {"old": {"version": 2010}},
                   "servers": [{"name": "EX01", "address": "192.0.2.11"},
                               {"name": "OLD1", "address": "192.0.2.21", "group": "old"}],
                   "namespaces": [{"host": "mail.contoso.com", "vip": "203.0.113.10", "services": ["owa"]}],
                   "tls": {"default": "offload"}}


def write_model(folder: Path, name: str, data: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def plan_at(path: Path):
    return build_plan(load_model(path))


def expected_names(plan) -> dict[str, set[str]]:
    """What the diagram must draw for a plan, by data-kind: every namespace of the model (mail-only ones too),
    every route (namespace + service; mail: namespace + service + port), every pool, every server."""
    return {
        "namespace": {ns.host for ns in plan.model.namespaces},
        "route": {f"{s.namespace} {s.service}" for s in plan.services}
        | {f"{m.namespace} {m.service} {m.port}" for m in plan.mail},
        "pool": {s.pool for s in plan.services} | {m.pool for m in plan.mail},
        "server": {s.name for s in plan.model.servers},
    }


# Every text of every diagram with its bounding box in the browser; pairs that overlap; texts outside their box
# or outside the drawing. getBBox is the rendered glyph box in the SVG's user units (the fonts Chromium really used).
MEASURE_JS = r"""(() => {
  const round = v => Math.round(v * 10) / 10;
  const out = {figures: [], overlaps: [], outside: []};
  for (const svg of document.querySelectorAll('svg.diagram')) {
    const texts = [...svg.querySelectorAll('text')].map(t => {
      const b = t.getBBox();
      return {text: t.textContent, x: b.x, y: b.y, w: b.width, h: b.height};
    });
    const W = +svg.getAttribute('width'), H = +svg.getAttribute('height');
    out.figures.push({id: svg.closest('figure').id, texts: texts.length, width: W, height: H});
    for (let i = 0; i < texts.length; i++) {
      const a = texts[i];
      if (a.w <= 0 || a.h <= 0) out.outside.push(['empty', a.text]);
      if (a.x < 0 || a.y < 0 || a.x + a.w > W || a.y + a.h > H) out.outside.push(['drawing', a.text]);
      for (let j = i + 1; j < texts.length; j++) {
        const c = texts[j];
        if (a.x < c.x + c.w && c.x < a.x + a.w && a.y < c.y + c.h && c.y < a.y + a.h)
          out.overlaps.push([a.text, [round(a.x), round(a.y), round(a.w), round(a.h)],
                             c.text, [round(c.x), round(c.y), round(c.w), round(c.h)]]);
      }
    }
    for (const g of svg.querySelectorAll('g[data-kind]')) {
      const r = g.querySelector(':scope > rect.box').getBBox();
      for (const t of g.querySelectorAll(':scope > text')) {
        const b = t.getBBox();
        if (b.x < r.x || b.y < r.y || b.x + b.width > r.x + r.width || b.y + b.height > r.y + r.height)
          out.outside.push(['box', t.textContent, g.dataset.name]);
      }
    }
  }
  return out;
})()"""

# Every drawn box: kind, name, mode, css classes, its texts.
BOXES_JS = r"""[...document.querySelectorAll('svg.diagram g[data-kind]')].map(g => ({
  kind: g.dataset.kind, name: g.dataset.name, mode: g.dataset.mode || '', cls: g.getAttribute('class'),
  texts: [...g.querySelectorAll(':scope > text')].map(t => t.textContent)}))"""


# ---- values that would change the page's meaning if they were not escaped -----------------------------------------

HOSTILE_HOST = 'mail"><script>alert(1)</script><img src=x onerror=alert(2)>&amp;\u202e.contoso.com'
HOSTILE_SERVER = "EX01</text><foreignObject><iframe src='http://192.0.2.99/'></iframe></foreignObject><text>"
HOSTILE_POOL = "pool' onmouseover='alert(3)"
HOSTILE_MESSAGE = "</td></tr></table><style>*{display:none}</style><a href=//192.0.2.99/>x</a>"


def hostile_plan(plan, *, host: str = HOSTILE_HOST, server: str = HOSTILE_SERVER, pool: str = HOSTILE_POOL,
                 message: str = HOSTILE_MESSAGE):
    """The plan with its first namespace, first server and first pool renamed to hostile strings, and a finding
    whose message is markup (benign values give the baseline to compare with). A model cannot carry these (host
    and server names are validated at load time): this proves the page escapes what it is given, whatever reaches
    it."""
    import dataclasses

    from lbsync.plan.types import Finding, Member
    old_host, old_server = plan.namespaces[0].host, plan.model.servers[0].name
    plan.namespaces[0].host = host
    for svc in plan.services:
        if svc.namespace == old_host:
            svc.namespace = host
        svc.members = tuple(Member(server if m.server == old_server else m.server, m.address, m.port)
                            for m in svc.members)
    first = plan.services[0]
    for svc in plan.services:
        if svc.pool == first.pool and svc is not first:
            svc.pool = pool
    first.pool = pool
    servers = tuple(dataclasses.replace(s, name=server) if s.name == old_server else s for s in plan.model.servers)
    object.__setattr__(plan.model, "servers", servers)
    for ex in plan.exchanges:
        ex.servers = tuple(dataclasses.replace(s, name=server) if s.name == old_server else s for s in ex.servers)
    plan.findings.append(Finding("warning", "mrsproxy-bridged", message))
    return plan


def benign_plan(plan):
    """hostile_plan's baseline: the same renames with plain values."""
    return hostile_plan(plan, host="renamed.contoso.com", server="EX09", pool="renamed_pool", message="plain words")
