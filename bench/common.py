"""Shared helpers for the benchmarks: machine facts, child processes that are always stopped, loopback ports,
medians, and the output every script prints (a table, then one JSON document on the last line of stdout).

Every process a benchmark starts is registered with `Children` and stopped on exit, on an exception and on
Ctrl-C / SIGTERM. Traffic only ever goes to 127.0.0.0/8 addresses of those processes.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the test PKI (tests/pki.py), the F5 emulator (tests/f5emu) and the lab models live under tests/
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))


# -- machine -------------------------------------------------------------------------------------------------------

def _first_line(argv: list[str]) -> str:
    if not shutil.which(argv[0]):
        return "not installed"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def source_state() -> dict:
    """Which lbsync was measured: the commit, and the files of lbsync/ or templates/ that differ from it."""
    def git(*args):
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout if out.returncode == 0 else ""
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "lbsync", "templates").splitlines() if line]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown", "uncommitted": dirty}


def machine() -> dict:
    """What the figures were measured on (reported with every result)."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "haproxy": _first_line(["haproxy", "-v"]),
        "nginx": _first_line(["nginx", "-v"]),
        "wrk": _first_line(["wrk", "-v"]),
        "loadavg_at_start": [round(x, 2) for x in load],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "lbsync": source_state(),
    }


def loadavg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


# -- numbers -------------------------------------------------------------------------------------------------------

def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def rnd(x: float, n: int = 3) -> float:
    return round(x, n) if x == x else x  # keep NaN as NaN


# -- output --------------------------------------------------------------------------------------------------------

def table(title: str, headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    out = [title, line]
    for i, row in enumerate(cells):
        out.append("  ".join(c.rjust(w) if i and _numeric(c) else c.ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            out.append(line)
    return "\n".join(out)


def _fmt(c) -> str:
    if isinstance(c, float):
        if c != c:
            return "n/a"
        return f"{c:,.3f}" if abs(c) < 10 else f"{c:,.1f}" if abs(c) < 1000 else f"{c:,.0f}"
    return str(c)


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "+-.") and text not in ("-", "+")


def emit(doc: dict, tables: list[str], json_file: str | None = None) -> None:
    """Print the tables, then the JSON document as the last line of stdout (and into json_file if given)."""
    for t in tables:
        print(t)
        print()
    text = json.dumps(doc, sort_keys=False)
    print(text)
    if json_file:
        Path(json_file).write_text(json.dumps(doc, indent=2) + "\n")


def note(text: str) -> None:
    """Progress on stderr (stdout carries only the tables and the JSON)."""
    print(text, file=sys.stderr, flush=True)


def run_main(main, interrupted: str = "interrupted") -> None:
    """The scripts' entry point: exit with main()'s code; on Ctrl-C say what was cleaned up and exit 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        note(interrupted)
        sys.exit(130)


# -- ports and processes -------------------------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float = 10.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]} exited with {proc.returncode} before listening on "
                               f"{host}:{port}")
        try:
            with socket.create_connection((host, port), 0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class Children:
    """Start child processes; every one is stopped (SIGTERM, then SIGKILL) on exit, error or Ctrl-C."""

    def __init__(self):
        self.procs: list[tuple[subprocess.Popen, object]] = []
        self._old: dict[int, object] = {}

    def start(self, argv: list[str], log: Path, **kw) -> subprocess.Popen:
        fh = open(log, "wb")
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, **kw)
        self.procs.append((proc, fh))
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        for i, (p, fh) in enumerate(self.procs):
            if p is proc:
                _terminate(p)
                fh.close()
                del self.procs[i]
                return

    def stop_all(self) -> None:
        while self.procs:
            p, fh = self.procs.pop()
            _terminate(p)
            fh.close()

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, _interrupt)
        return self

    def __exit__(self, *exc):
        self.stop_all()
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _terminate(p: subprocess.Popen) -> None:
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
    except ProcessLookupError:
        pass
