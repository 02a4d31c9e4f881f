"""Real HAProxy / NGINX processes for the lab: render from a model with lbsync, run the binary in the foreground
on free loopback ports, wait until it serves, and always stop it (context managers; pytest fixtures add a
finalizer). Output goes to a log file in the work folder, shown when a start fails."""

from __future__ import annotations

import csv
import io
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from lbsync.model import load_model
from lbsync.output.check import free_port
from lbsync.output.writer import write_all
from lbsync.plan import build_plan
from lbsync.targets import RenderOptions
from lbsync.targets.nginx import nginx_wrapper, stream_module


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the test process dies, so no load balancer outlives the tests."""
    import ctypes
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def wait_port(host: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), 0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class _Process:
    binary = ""

    def __init__(self, model_path: Path, workdir: Path, *, allow: tuple[str, ...] = ()):
        self.model_path = Path(model_path)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.plan = build_plan(load_model(self.model_path), allow=allow)
        # a free port that is none of the model's: two free_port() calls may return the same number (the first one is
        # not held), and a load balancer told to listen twice on one port exits after listening on it once
        taken = set(self.ports) | {m.port for m in self.plan.mail}
        self.redirect_port = free_port()
        while self.redirect_port in taken:
            self.redirect_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / f"{self.binary}.log"

    @property
    def ports(self) -> list[int]:
        return sorted({ns.port for ns in self.plan.namespaces})

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """Where it listens once started: the HTTPS ports (and the redirect port) on 127.0.0.1, every mail port
        on its VIP."""
        out = [("127.0.0.1", p) for p in self.ports]
        if self.plan.redirects:
            out.append(("127.0.0.1", self.redirect_port))
        return out + [(m.vip or "127.0.0.1", m.port) for m in self.plan.mail]

    def start(self, timeout: float = 15, *, ready: bool = True) -> "_Process":
        if not shutil.which(self.binary):
            raise RuntimeError(f"{self.binary} is not installed (the lab needs it)")
        self._logfh = open(self.log, "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=self._logfh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        try:
            for host, port in self.endpoints:
                self._wait(host, port, timeout)
            if ready:
                self.ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, host: str, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.binary} exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                wait_port(host, port, 0.2)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.binary} did not listen on {port}: {self.log_text()[-2000:]}")

    def ready(self, timeout: float) -> None:
        """Extra readiness beyond listening (HAProxy: every server checked UP)."""

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_logfh", None):
            self._logfh.close()
            self._logfh = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Haproxy(_Process):
    binary = "haproxy"

    def __init__(self, model_path, workdir, **kw):
        super().__init__(model_path, workdir, **kw)
        from lbsync.targets import haproxy
        self.stats_socket = self.workdir / "admin.sock"
        self.files = haproxy.render(self.plan, RenderOptions(extra={"redirect_port": self.redirect_port,
                                                                    "stats_socket": str(self.stats_socket)}))
        write_all(self.workdir, self.files)
        self.config = self.workdir / haproxy.CONFIG

    def argv(self) -> list[str]:
        return ["haproxy", "-db", "-f", str(self.config)]

    def stats(self) -> list[dict]:
        """`show stat` rows (pxname, svname, status, check_status, ...)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.stats_socket))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        text = data.decode().lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    def server_status(self) -> dict[tuple[str, str], str]:
        return {(r["pxname"], r["svname"]): r["status"] for r in self.stats()
                if r["svname"] not in ("FRONTEND", "BACKEND") and r["pxname"] and not r["pxname"].startswith("l7_")}

    def wait_status(self, backend: str, server: str, want: str, timeout: float) -> float:
        """Wait until a server of a backend reports `want` (UP/DOWN); returns the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.server_status().get((backend, server), "").startswith(want):
                return time.monotonic() - start
            time.sleep(0.02)
        raise TimeoutError(f"{backend}/{server} not {want} after {timeout}s: {self.server_status()}")

    def ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                stats = self.stats()
            except (ConnectionRefusedError, FileNotFoundError):   # the stats socket not served yet
                time.sleep(0.05)
                continue
            rows = [r for r in stats if r["svname"] not in ("FRONTEND", "BACKEND")
                    and not r["pxname"].startswith("l7_")]
            if rows and all(r["status"] == "UP" and r["check_status"].startswith("L") for r in rows):
                return
            time.sleep(0.05)
        try:
            status = self.server_status()
        except OSError as e:              # the stats socket never answered
            status = f"no stats ({e}); log: {self.log_text()[-2000:]}"
        raise TimeoutError(f"haproxy servers not all UP after {timeout}s: {status}")


class Nginx(_Process):
    binary = "nginx"

    def __init__(self, model_path, workdir, **kw):
        super().__init__(model_path, workdir, **kw)
        from lbsync.targets import nginx
        # unix socket paths must stay short (108 bytes): a folder of their own under /tmp
        self.socket_dir = Path(tempfile.mkdtemp(prefix="lbn"))
        self.files = nginx.render(self.plan, RenderOptions(extra={"redirect_port": self.redirect_port,
                                                                  "socket_dir": str(self.socket_dir)}))
        write_all(self.workdir, self.files)
        stream = self.workdir / nginx.STREAM_CONF if nginx.STREAM_CONF in self.files else None
        module = stream_module("nginx") if stream else None
        self.config = nginx_wrapper(self.workdir, self.workdir / nginx.HTTP_CONF, stream, module,
                                    extra_main="daemon off;\nmaster_process on;\nworker_processes 2;\nuser root;")

    def argv(self) -> list[str]:
        return ["nginx", "-c", str(self.config), "-p", str(self.workdir), "-e", "stderr"]

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
