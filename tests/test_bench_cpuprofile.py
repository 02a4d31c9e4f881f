"""bench/cpuprofile.py: where a configuration's CPU per request goes. Parsed from a real `perf report` (captured
from HAProxy 2.6 under bench/dataplane.py --profile on Debian 12's perf 6.1, tab-separated as cpuprofile asks),
attributed per request, and — where this machine lets perf sample — recorded from a real process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import cpuprofile  # noqa: E402
import dataplane  # noqa: E402

REPORT = Path(__file__).resolve().parent / "fixtures" / "perf-report-haproxy-2.6.txt"


def test_every_sample_line_of_a_real_report_is_read():
    text = REPORT.read_text()
    data_lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    by_pid = cpuprofile.parse(text)
    assert sum(len(c) for c in by_pid.values()) == len(data_lines)
    assert set(by_pid) == {0, 10984, 10986}
    assert by_pid[10986][("[kernel.kallsyms]", "_raw_spin_unlock_irqrestore")] == 602
    assert by_pid[0][("[kernel.kallsyms]", "pv_native_safe_halt")] == 153
    # HAProxy's own functions by name (only the generated configuration, 10984, has ACLs), libc's versioned names
    # and stripped functions by address are kept whole
    assert by_pid[10984][("haproxy", "pattern_exec_match")] == 69
    assert ("haproxy", "pattern_exec_match") not in by_pid[10986]
    names = {fn for c in by_pid.values() for _, fn in c}
    assert any(fn.startswith("0x0000") for fn in names) and any("@GLIBC" in fn for fn in names)


def test_a_command_name_with_spaces_and_other_sample_kinds_are_read():
    line = " 1.00%  \t 7        \t  4242:Web Content    \t[vdso]          \t[u] __vdso_clock_gettime"
    assert cpuprofile.parse(line) == {4242: Counter({("[vdso]", "__vdso_clock_gettime"): 7})}
    assert cpuprofile.parse("# Overhead\tSamples\n\n 1.00% 7 4242:x [k] tcp_ack") == {}   # not perf's tab format


def test_what_cannot_be_attributed_is_refused():
    by_pid = {1: Counter({("lb", "io"): 10}), 2: Counter({("lb", "io"): 10})}
    with pytest.raises(ValueError, match="no requests"):
        cpuprofile.per_kilo_request(by_pid, {"generated": {1}, "minimal": {2}}, {"generated": 0, "minimal": 5})
    with pytest.raises(ValueError, match="no perf sample"):
        cpuprofile.per_kilo_request(by_pid, {"generated": {3}, "minimal": {2}}, {"generated": 5, "minimal": 5})


def test_attribution_is_per_request_and_relative_to_the_base():
    by_pid = {1: Counter({("lb", "route"): 300, ("lb", "io"): 1700,          # generated: 2,500 samples, 1,000 req
                          ("[kernel.kallsyms]", "tcp_ack"): 500}),
              2: Counter({("lb", "io"): 1500}), 3: Counter({("lb", "io"): 400}),   # minimal: master + worker
              4: Counter({("other", "x"): 999})}                             # not a load balancer: ignored
    per_kreq = cpuprofile.per_kilo_request(by_pid, {"generated": {1}, "minimal": {2, 3}},
                                           {"generated": 1000, "minimal": 1000})
    assert per_kreq["minimal"][("lb", "io")] == 1900 and ("other", "x") not in per_kreq["minimal"]
    a = cpuprofile.attribution(per_kreq, "minimal")
    assert set(a) == {"generated"}
    g = a["generated"]
    assert g["samples_per_kreq"] == 2500 and g["base_samples_per_kreq"] == 1900
    assert g["cost_ratio"] == round(1900 / 2500, 3)
    assert g["by_object_pct"] == {"[kernel.kallsyms]": round(100 * 500 / 1900, 2), "lb": round(100 * 100 / 1900, 2)}
    # the functions: user space only (the kernel is its object's one line)
    top = {(f["object"], f["function"]): f["pct"] for f in g["functions_pct"]}
    assert top == {("lb", "route"): round(100 * 300 / 1900, 2), ("lb", "io"): round(100 * -200 / 1900, 2)}
    # twice the requests for the same samples: half the cost per request
    half = cpuprofile.per_kilo_request(by_pid, {"generated": {1}, "minimal": {2, 3}},
                                       {"generated": 2000, "minimal": 1000})
    assert cpuprofile.attribution(half, "minimal")["generated"]["cost_ratio"] == round(1900 / 1250, 3)


def test_a_real_recording_names_each_thread_and_the_bench_lists_them(tmp_path):
    """A real recording (where perf may sample): perf names a sample by its thread's id, and a load balancer's
    threads must all be counted (HAProxy runs one thread per CPU under --pin none). Two busy threads: both are
    sampled in the interpreter's code, and dataplane's Lb.pids() lists both ids."""
    why = cpuprofile.available()
    if why:
        pytest.skip(why)
    code = ("import threading, time\n"
            "def spin():\n    t = time.time() + 1.5\n    while time.time() < t: pass\n"
            "ts = [threading.Thread(target=spin) for _ in range(2)]\n[t.start() for t in ts]\n[t.join() for t in ts]\n")
    busy = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)   # its own process group
    rec = cpuprofile.Recorder(tmp_path / "t.perf.data", None)
    rec.start()
    try:
        time.sleep(0.3)
        lb = dataplane.Lb.__new__(dataplane.Lb)     # only what pids() needs: the process (group leader)
        lb.proc = busy
        ids = lb.pids()
        busy.wait(timeout=30)
    finally:
        rec.stop()
    by_pid = cpuprofile.samples(tmp_path / "t.perf.data")
    assert busy.pid in ids and len(ids) >= 3                          # the main thread and the two spinning ones
    sampled = {tid for tid in ids if sum(by_pid.get(tid, Counter()).values()) > 200}   # 1.5 s at ~4,000 samples/s
    assert len(sampled) >= 2, (ids, {t: sum(by_pid.get(t, Counter()).values()) for t in ids})
    assert all(any(obj.startswith(("python", "libpython")) for obj, _ in by_pid[t]) for t in sampled)


def test_functions_are_grouped_by_what_the_configuration_asks_for():
    by_pid = cpuprofile.parse(REPORT.read_text())
    generated = by_pid[10984]
    assert cpuprofile.group_of("haproxy", "pattern_exec_match") == "routing: ACLs and their samples"
    assert cpuprofile.group_of("libc.so.6", "__vfprintf_internal") == "added headers (X-Forwarded-For, -Proto)"
    assert cpuprofile.group_of("libc.so.6", "cfree@GLIBC_2.2.5") == "memory: pools and malloc"
    assert cpuprofile.group_of("libcrypto.so.3", "0x0000000000340328") == "TLS (libssl, libcrypto)"
    assert cpuprofile.group_of("[kernel.kallsyms]", "tcp_ack").startswith("kernel")
    assert cpuprofile.group_of("haproxy", "process_stream") == "the rest of haproxy"
    # every sample lands in exactly one group: the groups add up to the total difference
    per_kreq = {"generated": Counter(generated), "minimal": Counter(by_pid[10986])}
    a = cpuprofile.attribution(per_kreq, "minimal")["generated"]
    total = 100 * (sum(generated.values()) - sum(by_pid[10986].values())) / sum(by_pid[10986].values())
    assert abs(sum(a["groups_pct"].values()) - total) < 0.05 * len(a["groups_pct"])
    assert a["groups_pct"]["routing: ACLs and their samples"] > 0     # only the generated one has ACLs
