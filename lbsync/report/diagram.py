"""The deployment diagram: the Plan laid out as boxes, lines and labels in SVG coordinates.

Every figure reads left to right: the clients, one listener (VIP:port), its namespaces, each route with its mode,
each pool with its health check, the server groups with their servers. A figure holds at most MAX_ROWS routes; a
listener with more namespaces than that gets several figures (a namespace never splits), so each one prints on a
page. Mail (SMTP/IMAP/POP, layer 4) has figures of its own.

The layout is a grid of rows (one per route) and columns; a box spans the rows of what it carries (a namespace its
routes, a passthrough namespace's one pool all its routes), rows grow until every box's lines fit, columns are as
wide as their widest line, and a gap is as wide as the labels on its lines. Text widths are estimated for the
monospace font the page asks for (figures are drawn in it), generously, so labels never touch; the tests measure
the real bounding boxes in Chromium. Nothing here decides anything about the deployment: modes, who presents the
certificate, what is plain HTTP and which route is MRSProxy are the Plan's answers.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from ..facts.versions import release
from ..output.text import printable
from ..plan.types import Listener, MailRoute, NamespacePlan, Plan, ServicePlan

FONT = 12            # px, the diagram's font size (the page's CSS says the same)
CHAR = 0.615 * FONT  # estimated advance of one character (monospace fonts: 0.55-0.61 em; DejaVu Sans Mono 0.602)
LINE = 16            # baseline to baseline
PAD_X = 10           # inside a box, left and right
PAD_Y = 7            # inside a box, above the first and below the last line
ROW_GAP = 8          # between two rows
NS_GAP = 14          # more between two namespaces
SEPARATE_GAP = 12    # more around a separate route (MRSProxy)
COL_GAP = 30         # the least gap between two columns
MARGIN = 16
HEAD = 34            # the column headings' band at the top
TRUNK_STEP = 12      # between the vertical lines into two server groups
MAX_ROWS = 24        # routes per figure
WRAP = 40            # a pool's health check longer than this (and than the pool's name) goes on two lines

# What each mode is called in a route box and on the line toward the servers (the Plan decides the mode).
MODE_NAME = {"offload": "offload", "bridge": "re-encrypt", "passthrough": "passthrough"}
MODE_NOTE = {"offload": "TLS ends at the LB", "bridge": "TLS to the servers",
             "passthrough": "the client's TLS, untouched"}


def text_width(text: str) -> float:
    """Estimated width in px of `text` as the page shows it (output.text.printable: a control character is shown as
    its escape) in the diagram font: wide (East Asian) characters count double, combining marks nothing."""
    width = 0.0
    for ch in printable(text):
        if unicodedata.combining(ch):
            continue
        width += 2 * CHAR if unicodedata.east_asian_width(ch) in ("W", "F") else CHAR
    return width


@dataclass(frozen=True)
class Label:
    x: float
    y: float            # the baseline
    text: str
    cls: str = ""


@dataclass
class Box:
    kind: str           # clients | listener | namespace | route | pool | group | server
    name: str           # what it stands for: a host, a pool name, a server name (data-name)
    x: float
    y: float
    w: float
    h: float
    lines: list[Label]
    cls: str = ""
    mode: str = ""      # route, pool: the Plan's mode (data-mode)
    title: str = ""     # a tooltip


@dataclass(frozen=True)
class Edge:
    points: tuple[tuple[float, float], ...]
    cls: str            # client | inner | plain | reencrypt | passthrough | l4 | trunk
    label: Label | None = None
    arrow: bool = True

    @property
    def path(self) -> str:
        return " ".join(("M" if i == 0 else "L") + f" {x:g} {y:g}" for i, (x, y) in enumerate(self.points))


@dataclass
class Figure:
    key: str            # a unique fragment id: fig-1, fig-2 ...
    caption: str
    width: float
    height: float
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    headings: list[Label] = field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        return [b.name for b in self.boxes if b.kind == kind]


# ---- the grid --------------------------------------------------------------------------------------------------

@dataclass
class Cell:
    """A box to be placed: its column, the rows it spans, its lines (text, css class)."""
    kind: str
    name: str
    first: int
    last: int
    lines: list[tuple[str, str]]
    cls: str = ""
    mode: str = ""
    title: str = ""
    groups: tuple[str, ...] = ()       # pool cells: the server groups it sends to
    edge: tuple[str, str] = ("", "")   # pool cells: (css class, label) of its line toward the servers
    into: tuple[str, str] = ("", "")   # the line arriving at this cell from the previous column: (class, label)


@dataclass
class Group:
    """A server group box: its heading lines and servers (name, lines, css class)."""
    name: str
    heading: list[tuple[str, str]]
    servers: list[tuple[str, list[tuple[str, str]], str]]


def _lines_width(lines: list[tuple[str, str]]) -> float:
    return max((text_width(t) for t, _ in lines), default=0.0) + 2 * PAD_X


def _lines_height(n: int) -> float:
    return n * LINE + 2 * PAD_Y


def _labels(lines: list[tuple[str, str]], x: float, cy: float) -> list[Label]:
    top = cy - len(lines) * LINE / 2
    return [Label(x, top + i * LINE + 0.75 * LINE, text, cls) for i, (text, cls) in enumerate(lines)]


def _row_tops(heights: list[float], gaps: list[float]) -> list[float]:
    tops, y = [], MARGIN + HEAD
    for h, g in zip(heights, gaps):
        y += g
        tops.append(y)
        y += h + ROW_GAP
    return tops


def _row_heights(columns: list[list[Cell]], gaps: list[float]) -> list[float]:
    """Row heights grown until every cell's lines fit the rows it spans."""
    nrows = len(gaps)
    heights = [_lines_height(2)] * nrows
    for _ in range(nrows + 1):
        tops = _row_tops(heights, gaps)
        grown = False
        for col in columns:
            for c in col:
                have = tops[c.last] + heights[c.last] - tops[c.first]
                need = _lines_height(len(c.lines))
                if need > have + 0.01:
                    heights[c.last] += need - have
                    grown = True
        if not grown:
            break
    return heights


def _column_xs(columns: list[list[Cell]], headings: list[str]) -> tuple[list[float], list[float]]:
    """Column widths from their lines and headings; the gap before a column as wide as the labels on the lines
    crossing it. (xs, widths)"""
    widths = [max([_lines_width(c.lines) for c in col] + [text_width(h) + 2 for h in headings[i:i + 1]])
              for i, col in enumerate(columns)]
    into = [max([text_width(c.into[1]) + 24 for c in col if c.into[1]] + [COL_GAP]) for col in columns]
    xs, x = [], MARGIN
    for i, w in enumerate(widths):
        if i:
            x += into[i] + 12
        xs.append(x)
        x += w
    return xs, widths


def _join_columns(fig: Figure, columns: list[list[Cell]], placed: list[list[Box]], xs: list[float],
                  widths: list[float]) -> None:
    """Lines between neighbouring columns: an elbow from each box to each box of the next column it shares a row
    with; a label sits on the last stretch, above the line (the gap is as wide as the labels)."""
    for i in range(1, len(columns)):
        left = xs[i - 1] + widths[i - 1]
        labelled = any(c.into[1] for c in columns[i])
        mid = left + 12 if labelled else (left + xs[i]) / 2
        for a, ca in zip(placed[i - 1], columns[i - 1]):
            for b, cb in zip(placed[i], columns[i]):
                if ca.last < cb.first or cb.last < ca.first:
                    continue
                ay, by = a.y + a.h / 2, b.y + b.h / 2
                cls, text = cb.into
                label = Label(mid + 8, by - 6, text, "edge-label") if text else None
                fig.edges.append(Edge(((a.x + a.w, ay), (mid, ay), (mid, by), (b.x, by)), cls or "inner", label))


def _place_groups(fig: Figure, columns: list[list[Cell]], placed: list[list[Box]], xs: list[float],
                  widths: list[float], headings: list[str], groups: list[Group]) -> float:
    """The server groups at the right: a vertical line (trunk) per group gathers the lines of the pools that send
    to it; each group sits as near the middle of its pools as the group above allows. Returns the bottom edge."""
    pools = [(b, c) for b, c in zip(placed[-1], columns[-1]) if c.groups] if columns else []
    right = xs[-1] + widths[-1] if columns else MARGIN - COL_GAP
    label_w = max([text_width(c.edge[1]) for _, c in pools if c.edge[1]] + [0])
    trunk0 = right + max(COL_GAP, label_w + 28)
    trunk_x = {g.name: trunk0 + k * TRUNK_STEP for k, g in enumerate(groups)}
    gx = trunk0 + max(len(groups) - 1, 0) * TRUNK_STEP + COL_GAP if columns else MARGIN
    gw = max([_lines_width(g.heading) for g in groups]
             + [_lines_width(lines) + 2 * PAD_X for g in groups for _, lines, _ in g.servers]
             + [text_width(headings[-1]) + 2 if len(headings) > len(columns) else 0])
    if len(headings) > len(columns):
        fig.headings.append(Label(gx, MARGIN + 16, headings[len(columns)], "heading"))
    prev_bottom = MARGIN + HEAD
    for g in groups:
        feeding = [b.y + b.h / 2 for b, c in pools if g.name in c.groups]
        h = _lines_height(len(g.heading)) + sum(_lines_height(len(lines)) - 2 * PAD_Y + 8 + 6
                                                 for _, lines, _ in g.servers)
        want = (sum(feeding) / len(feeding) - h / 2) if feeding else prev_bottom
        y = max(want, prev_bottom)
        box = Box("group", g.name, gx, y, gw, h, [], "group")
        head_h = len(g.heading) * LINE
        box.lines = _labels(g.heading, gx + PAD_X, y + PAD_Y + head_h / 2)
        fig.boxes.append(box)
        sy = y + PAD_Y + head_h + 6
        for name, lines, cls in g.servers:
            sh = len(lines) * LINE + 8
            fig.boxes.append(Box("server", name, gx + PAD_X, sy, gw - 2 * PAD_X, sh,
                                 _labels(lines, gx + 2 * PAD_X, sy + sh / 2), cls))
            sy += sh + 6
        prev_bottom = y + h + 16
        gy = y + h / 2
        if feeding:
            tx = trunk_x[g.name]
            lo, hi = min(feeding + [gy]), max(feeding + [gy])
            fig.edges.append(Edge(((tx, lo), (tx, hi)), "trunk", arrow=False))
            fig.edges.append(Edge(((tx, gy), (gx, gy)), "trunk"))
    for b, c in pools:
        cy = b.y + b.h / 2
        for k, name in enumerate(c.groups):
            label = Label(right + 10, cy - 6, c.edge[1], "edge-label") if k == 0 and c.edge[1] else None
            fig.edges.append(Edge(((right, cy), (trunk_x[name], cy)), c.edge[0], label, arrow=False))
    fig.width = gx + gw + MARGIN
    return prev_bottom - 16


def layout(key: str, caption: str, headings: list[str], columns: list[list[Cell]], gaps: list[float],
           groups: list[Group]) -> Figure:
    """Place the cells (columns left to right; rows top to bottom with `gaps` before each) and the server groups
    at the right, joined by lines; see the module docstring."""
    heights = _row_heights(columns, gaps)
    tops = _row_tops(heights, gaps)
    bottom = tops[-1] + heights[-1] if gaps else MARGIN + HEAD
    xs, widths = _column_xs(columns, headings)
    fig = Figure(key, caption, 0, 0)
    placed: list[list[Box]] = []
    for i, col in enumerate(columns):
        boxes = []
        for c in col:
            y0 = tops[c.first]
            y1 = tops[c.last] + heights[c.last]
            boxes.append(Box(c.kind, c.name, xs[i], y0, widths[i], y1 - y0,
                             _labels(c.lines, xs[i] + PAD_X, (y0 + y1) / 2), c.cls, c.mode, c.title))
        placed.append(boxes)
        fig.boxes += boxes
    for i, name in enumerate(headings[:len(columns)]):
        fig.headings.append(Label(xs[i], MARGIN + 16, name, "heading"))
    _join_columns(fig, columns, placed, xs, widths)
    groups_bottom = _place_groups(fig, columns, placed, xs, widths, headings, groups)
    fig.height = max(bottom, groups_bottom) + MARGIN
    return fig


# ---- what goes in the boxes ---------------------------------------------------------------------------------------

def _bind(vip: str | None, port: int) -> str:
    return f"VIP {vip}:{port}" if vip else f"every address, port {port}"


def _group_label(plan: Plan, name: str) -> str:
    group = plan.model.group(name)
    text = f"Exchange {release(group.version, group.cu)}"
    return f"group {name} · {text}" if plan.model.groups else f"servers · {text}"


def _route_lines(svc: ServicePlan) -> list[tuple[str, str]]:
    lines = [(f"{svc.service}  {' '.join(svc.paths)}", "strong"),
             (f"{MODE_NAME[svc.mode]} · {MODE_NOTE[svc.mode]}", f"mode {svc.mode}")]
    if svc.mrsproxy:
        lines.append(("separate route (MRSProxy)", "separate"))
    return lines


def _toward_servers(svc: ServicePlan) -> tuple[str, str]:
    """The css class and label of a pool's line toward the servers (from the Plan's answers)."""
    if svc.plain_http:
        return "plain", f"plain HTTP :{svc.port}"
    if svc.reencrypt:
        return "reencrypt", f"HTTPS :{svc.port}"
    return "passthrough", f"client's TLS :{svc.port}"


def _pool_lines(svc: ServicePlan) -> list[tuple[str, str]]:
    h = svc.health
    path = h.path + ("" if h.expect == "200" else f" → {h.expect}")
    head = f"check: {h.scheme}" + ("" if h.per_protocol else " (per server)")
    if len(head) + 1 + len(path) <= max(len(svc.pool), WRAP):
        return [(svc.pool, "strong"), (f"{head} {path}", "")]
    return [(svc.pool, "strong"), (head, ""), (f"  {path}", "")]


def _server_groups(plan: Plan, names: list[str], status: dict[str, list[tuple[str, str]]],
                   presents: dict[str, set[str]]) -> list[Group]:
    out = []
    for name in names:
        heading = [(_group_label(plan, name), "strong")]
        how = presents.get(name, set())
        if "reencrypt" in how:
            heading.append(("present a certificate to the LB", "cert"))
        if "passthrough" in how:
            heading.append(("present the certificate to clients", "cert"))
        servers = []
        for s in plan.model.group_servers(name):
            lines = [(f"{s.name}  {s.address}", "strong")]
            notes = status.get(s.name, [])
            if notes:
                lines.append((" · ".join(text for _, text in notes), ""))
            worst = next((cls for cls in ("bad", "unknown", "good") if any(c == cls for c, _ in notes)), "")
            servers.append((s.name, lines, worst))
        out.append(Group(name, heading, servers))
    return out


def _ordered(ns: NamespacePlan) -> list[ServicePlan]:
    """A namespace's routes in model order, those sharing a pool side by side."""
    order: dict[str, list[ServicePlan]] = {}
    for s in ns.services:
        order.setdefault(s.pool, []).append(s)
    return [s for pool in order.values() for s in pool]


def _member_groups(plan: Plan, members) -> tuple[str, ...]:
    group_of = {s.name: s.group for s in plan.model.servers}
    return tuple(dict.fromkeys(group_of[m.server] for m in members if m.server in group_of))


HEADINGS = ["clients", "listener", "namespace", "route · mode", "pool · health check", "servers"]


def listener_figure(plan: Plan, lst: Listener, namespaces: list[NamespacePlan], key: str, caption: str,
                    status: dict[str, list[tuple[str, str]]]) -> Figure:
    rows: list[tuple[NamespacePlan, ServicePlan]] = [(ns, s) for ns in namespaces for s in _ordered(ns)]
    gaps = []
    for i, (ns, s) in enumerate(rows):
        gap = 0.0
        if i and rows[i - 1][0] is not ns:
            gap += NS_GAP
        if i and (s.mrsproxy or rows[i - 1][1].mrsproxy):
            gap += SEPARATE_GAP
        gaps.append(gap)
    last = len(rows) - 1
    terminated = bool(lst.l7)
    clients = [Cell("clients", "clients", 0, last, [("clients", "strong"), ("Outlook,", ""), ("browsers,", ""),
                                                    ("phones", "")])]
    lines = [(_bind(lst.vip, lst.port), "strong")]
    if terminated:
        lines.append(("presents the certificate", "cert"))
    if lst.l4:
        lines.append(("SNI passes some through" if terminated else "TCP, routed by SNI", ""))
    redirected = [ns for ns in plan.redirects.get(lst.vip, []) if ns in namespaces]
    if redirected:
        lines.append(("port 80: to HTTPS", ""))
    into = ("client", f"TLS :{lst.port}")
    listener = [Cell("listener", f"{lst.vip or '*'}:{lst.port}", 0, last, lines, into=into)]
    ns_cells, route_cells, pool_cells = [], [], []
    presents: dict[str, set[str]] = {}
    for ns in namespaces:
        idx = [i for i, (n, _) in enumerate(rows) if n is ns]
        lines = [(ns.host, "strong")]
        if ns.passthrough:
            lines.append(("passthrough: TLS ends on the servers", "mode passthrough"))
        if plan.model.groups:
            lines.append((f"group {ns.group}", ""))
        ns_cells.append(Cell("namespace", ns.host, idx[0], idx[-1], lines, into=("inner", "")))
        seen: dict[str, list[int]] = {}
        for i in idx:
            s = rows[i][1]
            route_cells.append(Cell("route", f"{ns.host} {s.service}", i, i, _route_lines(s),
                                    cls="separate" if s.mrsproxy else "", mode=s.mode,
                                    title=f"{s.service} on {ns.host}: {MODE_NAME[s.mode]}", into=("inner", "")))
            seen.setdefault(s.pool, []).append(i)
        for pool, rows_of in seen.items():
            s = rows[rows_of[0]][1]
            groups = _member_groups(plan, s.members)
            edge = _toward_servers(s)
            for g in groups:
                presents.setdefault(g, set()).update({edge[0]} if "servers" in s.certificate_presented_by else set())
            pool_cells.append(Cell("pool", pool, rows_of[0], rows_of[-1], _pool_lines(s), mode=s.mode,
                                   groups=groups, edge=edge, into=("inner", "")))
    names = list(dict.fromkeys(g for c in pool_cells for g in c.groups))
    return layout(key, caption, HEADINGS, [clients, listener, ns_cells, route_cells, pool_cells], gaps,
                  _server_groups(plan, names, status, presents))


def mail_figure(plan: Plan, routes: list[MailRoute], key: str, caption: str,
                status: dict[str, list[tuple[str, str]]]) -> Figure:
    last = len(routes) - 1
    gaps = [NS_GAP if i and routes[i - 1].namespace != m.namespace else 0.0 for i, m in enumerate(routes)]
    clients = [Cell("clients", "clients", 0, last, [("mail clients", "strong"), ("and servers", "")])]
    listeners, ns_cells, route_cells, pool_cells = [], [], [], []
    for i, m in enumerate(routes):
        c = m.check
        listeners.append(Cell("listener", m.bind, i, i, [(_bind(m.vip, m.port), "strong"), ("layer 4: TCP", "")],
                              into=("l4", f"{m.service.upper()} :{m.port}")))
        ns_cells.append(Cell("namespace", m.namespace, i, i, [(m.namespace, "strong")], into=("inner", "")))
        route_cells.append(Cell("route", f"{m.namespace} {m.service} {m.port}", i, i,
                                [(f"{m.service}  :{m.port}", "strong"), ("passthrough: layer 4", "mode passthrough")],
                                mode="passthrough", into=("inner", "")))
        check = "check: EHLO → 2xx" if c.kind == "smtp" else f"check: greeting '{c.expect}'"
        check += " over TLS" if c.tls else ""
        edge = ("l4", f"TLS :{m.port} (Exchange's)" if c.tls else f"TCP :{m.port}")
        pool_cells.append(Cell("pool", m.pool, i, i, [(m.pool, "strong"), (check, "")], mode="passthrough",
                               groups=_member_groups(plan, m.members), edge=edge, into=("inner", "")))
    names = list(dict.fromkeys(g for c in pool_cells for g in c.groups))
    return layout(key, caption, HEADINGS, [clients, listeners, ns_cells, route_cells, pool_cells], gaps,
                  _server_groups(plan, names, status, {}))


def servers_figure(plan: Plan, names: list[str], key: str, status: dict[str, list[tuple[str, str]]]) -> Figure:
    """Server groups no route reaches (so that every server of the model is drawn)."""
    return layout(key, "Servers no route of this model reaches", ["servers"], [], [], _server_groups(
        plan, names, status, {}))


def _chunks(items: list, size_of, limit: int) -> list[list]:
    out: list[list] = [[]]
    count = 0
    for item in items:
        n = size_of(item)
        if out[-1] and count + n > limit:
            out.append([])
            count = 0
        out[-1].append(item)
        count += n
    return [c for c in out if c]


def figures(plan: Plan, status: dict[str, list[tuple[str, str]]] | None = None) -> list[Figure]:
    """Every figure of the report: one per listener (more when it carries more than MAX_ROWS routes), mail, and
    the server groups no route reaches. `status`: server name -> notes (css class good|bad|unknown, text) shown
    under the server (evidence and probe results)."""
    status = status or {}
    out: list[Figure] = []
    for lst in plan.listeners:
        parts = _chunks(lst.namespaces, lambda ns: len(ns.services), MAX_ROWS)
        for i, part in enumerate(parts):
            where = _bind(lst.vip, lst.port)
            caption = f"{where}: {', '.join(ns.host for ns in part)}"
            if len(parts) > 1:
                caption = f"{where}, part {i + 1} of {len(parts)}: {', '.join(ns.host for ns in part)}"
            out.append(listener_figure(plan, lst, part, f"fig-{len(out) + 1}", caption, status))
    if plan.mail:
        parts = _chunks(plan.mail, lambda m: 1, MAX_ROWS)
        for i, part in enumerate(parts):
            caption = "Mail (SMTP, IMAP, POP): layer 4, Exchange keeps its own TLS"
            if len(parts) > 1:
                caption += f", part {i + 1} of {len(parts)}"
            out.append(mail_figure(plan, part, f"fig-{len(out) + 1}", caption, status))
    drawn = {b.name for f in out for b in f.boxes if b.kind == "server"}
    missing = list(dict.fromkeys(s.group for s in plan.model.servers if s.name not in drawn))
    if missing:
        out.append(servers_figure(plan, missing, f"fig-{len(out) + 1}", status))
    return out
