"""A real headless Chromium driven over the Chrome DevTools Protocol (CDP), with the standard library only.

Chromium is started with `--remote-debugging-pipe`: it reads CDP commands from file descriptor 3 and writes answers
and events to file descriptor 4, each message one JSON document ended by a NUL byte. No port is opened, no
websocket is needed. One `Browser` per test module (starting Chromium costs about a second); each `open()` makes a
fresh tab, loads a page and records what the page did: console messages, uncaught exceptions, log entries
(Content-Security-Policy violations included) and every network request.

Debian's package is `chromium` (/usr/bin/chromium). Run as root, Chromium needs --no-sandbox; nothing it loads
here comes from outside the test (a file:// page lbsync wrote), and the page itself forbids scripts and every
fetch by its Content-Security-Policy.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         "--disable-background-networking", "--disable-sync", "--disable-component-update",
         "--disable-default-apps", "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
         "--disable-features=Translate,MediaRouter,OptimizationHints", "--force-color-profile=srgb",
         "--remote-debugging-pipe"]


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """One loaded tab: what it did while loading, and ways to ask it things."""
    browser: Browser
    session: str
    target: str
    url: str
    console: list[dict] = field(default_factory=list)      # Runtime.consoleAPICalled params
    exceptions: list[dict] = field(default_factory=list)   # Runtime.exceptionThrown params
    log: list[dict] = field(default_factory=list)          # Log.entryAdded entries
    requests: list[str] = field(default_factory=list)      # every URL a request was made for (the page included)

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error-level log entries, as text."""
        out = [" ".join(str(a.get("value", a.get("description", ""))) for a in c.get("args", []))
               for c in self.console if c.get("type") in ("error", "assert")]
        out += [e.get("exceptionDetails", {}).get("text", "exception") for e in self.exceptions]
        out += [f"{e.get('source')}: {e.get('text')}" for e in self.log if e.get("level") == "error"]
        return out

    @property
    def other_requests(self) -> list[str]:
        """Requests for anything but the page itself."""
        return [u for u in self.requests if u != self.url]

    def call(self, method: str, params: dict | None = None) -> dict:
        return self.browser.call(method, params, session=self.session)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (DevTools' own evaluation: the page's CSP, which
        forbids scripts, does not apply to it), returned by value (JSON)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluate failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def emulate(self, *, media: str = "", dark: bool | None = None) -> None:
        features = [] if dark is None else [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]
        self.call("Emulation.setEmulatedMedia", {"media": media, "features": features})

    def screenshot(self, path: str | Path | None = None, *, clip: dict | None = None, full: bool = True) -> bytes:
        """A PNG of the page (the whole page by default, or `clip` {x, y, width, height} in CSS pixels)."""
        params: dict = {"format": "png", "captureBeyondViewport": full or clip is not None}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        elif full:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", params)["data"])
        if path is not None:
            Path(path).write_bytes(data)
        return data

    def pdf(self, **params) -> bytes:
        return base64.b64decode(self.call("Page.printToPDF", params)["data"])

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})


def _high(fd: int) -> int:
    """The same pipe end on a descriptor number of at least 10 (the original is closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Browser:
    """A headless Chromium on a CDP pipe. Use as a context manager; `close()` ends it (and only it)."""

    def __init__(self, executable: str | None = None, *, timeout: float = 30.0):
        exe = executable or find_chromium()
        if exe is None:
            raise BrowserError("Chromium is not installed (Debian: apt-get install chromium)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="lbsync-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the child's ends above 9, so that putting them on 3 and 4 can never close one of them
        to_browser_r, from_browser_w = (_high(to_browser_r), _high(from_browser_w))
        args = [*FLAGS, f"--user-data-dir={self.profile}", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(0, "--no-sandbox")        # Chromium refuses to run as root with its sandbox
        # the pipe ends become fds 3 and 4 of Chromium: a small Python puts them there and execs it (no preexec_fn,
        # which is unsafe in a process with threads; dash cannot redirect descriptors above 9)
        place = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
                 "os.execv(sys.argv[3], sys.argv[3:])")
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-c", place, str(to_browser_r), str(from_browser_w), exe,
                                      *args], pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []
        try:
            self.version = self.call("Browser.getVersion")
        except BaseException:
            self.close()
            raise

    # -- the pipe ---------------------------------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self._to_browser, data)
            data = data[written:]

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium went away: {self._stderr_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-2000:]

    def call(self, method: str, params: dict | None = None, *, session: str | None = None) -> dict:
        """Send one command and wait for its answer; events that arrive meanwhile are kept in self.events."""
        self._next += 1
        message: dict = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method: str, session: str, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._receive(deadline))

    # -- pages ------------------------------------------------------------------------------------------------

    def open(self, path: str | Path, *, width: int = 1440, height: int = 900, dark: bool | None = None,
             settle: float = 0.2) -> Page:
        """A new tab showing the file at `path`, loaded (the load event and `settle` seconds more for late
        requests or errors), with everything it did recorded."""
        url = Path(path).resolve().as_uri()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target, url)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        if dark is not None:
            page.emulate(dark=dark)
        self.events = [e for e in self.events if e.get("sessionId") != session]
        page.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired", session)
        end = time.monotonic() + settle
        while time.monotonic() < end:
            try:
                self.events.append(self._receive(end))
            except BrowserError:
                break
        self._collect(page)
        return page

    def _collect(self, page: Page) -> None:
        keep = []
        for event in self.events:
            if event.get("sessionId") != page.session:
                keep.append(event)
                continue
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                page.console.append(params)
            elif method == "Runtime.exceptionThrown":
                page.exceptions.append(params)
            elif method == "Log.entryAdded":
                page.log.append(params["entry"])
            elif method == "Network.requestWillBeSent":
                page.requests.append(params["request"]["url"])
        self.events = keep

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send({"id": 0, "method": "Browser.close", "params": {}})
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
