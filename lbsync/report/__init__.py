"""report.html: one self-contained page showing the Plan (a deployment diagram drawn from it, the Exchange side per
server, findings) and what was checked against it (certificate, evidence, deployed configurations, probe).

`gather` collects the inputs (each part present or saying why not), `diagram` lays the Plan out as SVG geometry,
`page` turns both into rows for templates/report/report.html.j2. See docs/report.md.
"""

from .gather import ReportInputs, for_render
from .page import build_report

__all__ = ["ReportInputs", "build_report", "for_render"]
