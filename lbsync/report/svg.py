"""A laid-out diagram (report.diagram.Figure) as the SVG element of report.html.

One f-string per element instead of a template expression per attribute: a 50-namespace model's page holds tens of
thousands of coordinates, and Jinja's per-value escaping cost most of the page's time. Every text and attribute
value goes through output.text.html (as every `{{ value }}` of the page does); coordinates are numbers rounded to
one decimal, written as Python writes them (12.0, 7.5).
"""

from __future__ import annotations

from markupsafe import Markup

from ..output.text import html
from .diagram import Figure


def _n(value: float) -> str:
    return str(round(value, 1))


def _t(value: object) -> str:
    return html(str(value))


def figure(fig: Figure) -> Markup:
    """The <svg> element of one figure (no newline after </svg>: the template's line ends it)."""
    w, h, key = _n(fig.width), _n(fig.height), _t(fig.key)
    out = [f'<svg class="diagram" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"'
           f' role="img" aria-labelledby="{key}-caption">\n']
    for lb in fig.headings:
        out.append(f'  <text class="heading" x="{_n(lb.x)}" y="{_n(lb.y)}">{_t(lb.text)}</text>\n')
    for e in fig.edges:
        arrow = ' marker-end="url(#arrow)"' if e.arrow else ""
        out.append(f'  <path class="edge {_t(e.cls)}" d="{_t(e.path)}"{arrow}/>\n')
    for b in fig.boxes:
        kind = _t(b.kind)
        mode = f' data-mode="{_t(b.mode)}"' if b.mode else ""
        out.append(f'  <g class="{kind} {_t(b.cls)}" data-kind="{kind}" data-name="{_t(b.name)}"{mode}>\n')
        if b.title:
            out.append(f"    <title>{_t(b.title)}</title>\n")
        if b.cls == "separate":
            out.append(f'    <rect class="separate-frame" x="{_n(b.x - 4)}" y="{_n(b.y - 4)}" width="{_n(b.w + 8)}"'
                       f' height="{_n(b.h + 8)}" rx="6"/>\n')
        x, y, bh = _n(b.x), _n(b.y), _n(b.h)
        out.append(f'    <rect class="box" x="{x}" y="{y}" width="{_n(b.w)}" height="{bh}" rx="4"/>\n')
        if b.mode:
            out.append(f'    <rect class="stripe {_t(b.mode)}" x="{x}" y="{y}" width="6" height="{bh}"/>\n')
        for lb in b.lines:
            out.append(f'    <text class="{_t(lb.cls)}" x="{_n(lb.x)}" y="{_n(lb.y)}">{_t(lb.text)}</text>\n')
        out.append("  </g>\n")
    for e in fig.edges:
        if e.label:
            lb = e.label
            out.append(f'  <text class="edge-label {_t(e.cls)}" x="{_n(lb.x)}" y="{_n(lb.y)}">{_t(lb.text)}</text>\n')
    out.append("</svg>")
    return Markup("".join(out))
