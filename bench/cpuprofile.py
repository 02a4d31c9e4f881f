"""Where a configuration's CPU per request goes, against another's: `perf record` on the load balancers' CPUs over
the rounds in which every configuration ran at once (bench/dataplane.py --profile DIR), then, per configuration,
perf's samples per 1,000 requests by shared object and by function, and the difference from the configuration
compared with. Samples are taken at a fixed rate of CPU time, so samples per request is CPU per request: a
function's difference is its share of the gap. Statistical: at ~4,000 samples/s over a few seconds, a total
holds to about 1 %, a single function with tens of samples to far less — read the large differences.

Needs `perf` (Debian: linux-perf) and a kernel that lets this user sample the CPUs (root, or
kernel.perf_event_paranoid <= 0). The load balancers' own functions have names where the binary exports them
(HAProxy does: it is linked with its symbols dynamic); a stripped function is shown by its address.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

FREQUENCY = 3997      # samples per second of CPU (odd: not in step with the kernel's timer)
SYMBOL = re.compile(r"\[.\] (.+)")   # "[k] tcp_ack", "[.] pattern_exec_match" (k kernel, . user, u, g ...)


# What a configuration asks for, by the functions that do it (HAProxy 2.6's and libc's names; a reading aid: a
# function not named here counts under its object). First match wins; "*" matches any object.
GROUPS = [
    ("routing: ACLs and their samples", "haproxy", ("pattern_exec_match", "acl_exec_cond", "sample_process",
                                                   "pat_match_", "smp_", "lru64_", "http_get_stline",
                                                   "http_parse_path", "sample_conv_")),
    # the case-insensitive tests (-i); other callers of these are counted here too
    ("routing: ACLs and their samples", "libc.so.6", ("__strncasecmp", "__strcasecmp")),
    ("added headers (X-Forwarded-For, -Proto)", "haproxy", ("http_add_header", "http_remove_header",
                                                           "sess_build_logline")),
    ("added headers (X-Forwarded-For, -Proto)", "libc.so.6", ("__vfprintf_internal", "_IO_default_xsputn",
                                                             "__strchrnul", "_itoa_word")),
    ("memory: pools and malloc", "haproxy", ("__pool_", "pool_")),
    ("memory: pools and malloc", "libc.so.6", ("malloc", "calloc", "realloc", "_int_", "unlink_chunk", "cfree",
                                              "free")),
    ("TLS (libssl, libcrypto)", "libssl.so.3", ("",)),
    ("TLS (libssl, libcrypto)", "libcrypto.so.3", ("",)),
]


def group_of(obj: str, function: str) -> str:
    for name, where, prefixes in GROUPS:
        if (where == obj or where == "*") and function.startswith(prefixes):
            return name
    if obj.startswith("[kernel"):
        return "kernel (system calls, TCP, scheduling)"
    return f"the rest of {obj}"


def available() -> str | None:
    """None when `perf record` can sample every CPU here, else why not."""
    if not shutil.which("perf"):
        return "perf is not installed (Debian: apt-get install linux-perf)"
    probe = subprocess.run(["perf", "record", "-a", "-o", "/dev/null", "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "perf cannot sample the CPUs: " + (probe.stderr.strip().splitlines() or ["?"])[-1]
    return None


class Recorder:
    """`perf record` of the given CPUs into `out` from start() to stop()."""

    def __init__(self, out: Path, cpus: set[int] | None):
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        where = ["-C", ",".join(str(c) for c in sorted(cpus))] if cpus else ["-a"]
        self.argv = ["perf", "record", "-F", str(FREQUENCY), *where, "-o", str(out), "--quiet"]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> None:
        """Start recording; returns once perf has written its file's header (it records from then on)."""
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while not (self.out.exists() and self.out.stat().st_size > 0):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"perf record did not start: {' '.join(self.argv)}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        if self.proc.returncode not in (0, -signal.SIGINT) or not self.out.exists():
            raise RuntimeError(f"perf record failed ({self.proc.returncode}): {err.strip()[-500:]}")


def samples(data: Path) -> dict[int, Counter]:
    """pid -> Counter((shared object, function) -> samples), from `perf report`."""
    report = subprocess.run(["perf", "report", "-i", str(data), "--sort", "pid,dso,sym", "--stdio", "-n",
                             "--field-separator", "\t"], capture_output=True, text=True, check=True).stdout
    return parse(report)


def parse(report: str) -> dict[int, Counter]:
    """`perf report --sort pid,dso,sym -n --field-separator TAB`: per line the overhead, the samples,
    "PID:command" (PID is a thread's id; a command name may hold spaces), the object and "[k] function"."""
    out: dict[int, Counter] = {}
    for line in report.splitlines():
        if line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) != 5:
            continue
        _, n, who, obj, sym = fields
        pid = who.partition(":")[0]
        m = SYMBOL.fullmatch(sym)
        if n.isdigit() and pid.isdigit() and m:
            out.setdefault(int(pid), Counter())[(obj, m[1])] += int(n)
    return out


def per_kilo_request(by_pid: dict[int, Counter], pids: dict[str, set[int]], requests: dict[str, int]
                     ) -> dict[str, Counter]:
    """label -> (object, function) -> samples per 1,000 requests of that configuration. `pids`: every thread id of
    each configuration's processes. A configuration without requests or without a sample cannot be attributed:
    ValueError, not a figure."""
    out = {}
    for label, own in pids.items():
        total: Counter = Counter()
        for pid in own:
            total.update(by_pid.get(pid, Counter()))
        if requests.get(label, 0) <= 0:
            raise ValueError(f"{label}: no requests counted, so no CPU per request")
        if not total:
            raise ValueError(f"{label}: no perf sample of its threads {sorted(own)}")
        out[label] = Counter({k: v * 1000 / requests[label] for k, v in total.items()})
    return out


def attribution(per_kreq: dict[str, Counter], base: str, top: int = 12) -> dict:
    """Per configuration other than `base`: its samples per 1,000 requests and base's, the difference by object
    (the kernel's included), and the `top` user-space functions that differ most (each as a share of base's total:
    +0.6 means 0.6 % more CPU per request than base spends in all). The kernel's time is one line: it is spread
    over hundreds of functions, each within the sampling noise, and the configuration does not choose them."""
    b = per_kreq[base]
    b_total = sum(b.values()) or 1.0
    out = {}
    for label, c in per_kreq.items():
        if label == base:
            continue
        keys = set(b) | set(c)
        delta = {k: c.get(k, 0.0) - b.get(k, 0.0) for k in keys}
        objects: Counter = Counter()
        for (obj, _), v in delta.items():
            objects[obj] += v
        groups: Counter = Counter()
        for (obj, fn), v in delta.items():
            groups[group_of(obj, fn)] += v
        ranked = sorted(((k, v) for k, v in delta.items() if not k[0].startswith("[kernel")),
                        key=lambda kv: -abs(kv[1]))[:top]
        out[label] = {
            "samples_per_kreq": round(sum(c.values()), 1), "base_samples_per_kreq": round(b_total, 1),
            "cost_ratio": round(b_total / (sum(c.values()) or 1.0), 3),
            "by_object_pct": {obj: round(100 * v / b_total, 2) for obj, v in objects.most_common()
                              if abs(v) * 100 / b_total >= 0.05},
            "groups_pct": {g: round(100 * v / b_total, 2) for g, v in sorted(groups.items(), key=lambda kv: -kv[1])},
            "functions_pct": [{"object": obj, "function": fn, "pct": round(100 * v / b_total, 2)}
                              for (obj, fn), v in ranked],
        }
    return out
