#!/usr/bin/env python3
"""Regenerate docs/img/report.png: `lbsync report` of the bundled example, opened in headless Chromium, the top of
the page down to the end of the first diagram.

    .venv/bin/python tools/screenshot_report.py                      # profiles/exchange2013-offload.yaml
    .venv/bin/python tools/screenshot_report.py --model M.yaml -o shot.png

Needs Debian's `chromium` (or Chrome) on PATH; drives it with tests/support/browser.py (the DevTools protocol over
a pipe, standard library only). The page's time is SOURCE_DATE_EPOCH when set (default here: the model file's
last commit, so the image changes only when the model or the page does).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.browser import Browser  # noqa: E402

# the page's own scroll box must not clip the diagram: the viewport is as wide as the widest figure
WIDTH_JS = "+document.querySelector('svg.diagram').getAttribute('width')"
CLIP_JS = """(() => { const f = document.querySelector('figure.diagram').getBoundingClientRect();
                     return {x: 0, y: 0, width: document.documentElement.scrollWidth,
                             height: f.bottom + window.scrollY + 16}; })()"""


def _epoch(model: Path) -> str:
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return os.environ["SOURCE_DATE_EPOCH"]
    ran = subprocess.run(["git", "log", "-1", "--format=%ct", "--", str(model)], cwd=ROOT, capture_output=True,
                         text=True)
    return ran.stdout.strip() or "0"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="profiles/exchange2013-offload.yaml")
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "img" / "report.png"))
    args = ap.parse_args()
    model = Path(args.model)
    with tempfile.TemporaryDirectory() as work:
        page_file = Path(work) / "report.html"
        env = {**os.environ, "SOURCE_DATE_EPOCH": _epoch(ROOT / model if not model.is_absolute() else model)}
        subprocess.run([sys.executable, "-m", "lbsync", "report", str(model), "-o", str(page_file)], cwd=ROOT,
                       env=env, check=True, stdout=subprocess.DEVNULL)
        with Browser() as browser:
            page = browser.open(page_file, width=1400, height=900)
            width = int(page.evaluate(WIDTH_JS)) + 2 * 24 + 2
            page.close()
            page = browser.open(page_file, width=width, height=900, dark=False)
            if page.errors or page.other_requests:
                print(f"the page had errors or made requests: {page.errors} {page.other_requests}", file=sys.stderr)
                return 1
            page.screenshot(args.output, clip=page.evaluate(CLIP_JS))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
