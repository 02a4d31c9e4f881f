#!/usr/bin/env python3
"""Generation: wall time and peak memory of `lbsync render --target all` (the whole command, as a user runs it)
for the bundled example and for generated models of growing size, and of `lbsync --help` (start-up).

    python bench/generation.py                 # 7 runs per case (median), 15 for start-up
    python bench/generation.py --runs 3 --profile    # + cProfile hot spots of the large render, in-process
    python bench/generation.py --breakdown           # + per-phase times of the large render, and what-ifs
    python bench/generation.py --tests               # + the unit-test suite's wall time (pytest -m "not lab")

Cases:
- example: profiles/exchange2013-offload.yaml, `--target all --allow nginx-ntlm` (the profile uses NTLM, which
  NGINX open source cannot carry at layer 7; allowing the finding renders NGINX anyway, with its warning).
- small / medium / large: generated models — namespaces x servers = 1 x 2, 10 x 16, 50 x 64 — every namespace
  carries every service (owa ecp ews eas oab mapi rpc autodiscover), MRSProxy on, a mix of offload / bridge per
  service, 10 VIPs shared through SNI. The NTLM vdirs use Basic auth (exchange.auth and Outlook Anywhere Basic);
  /owa/Integrated is Windows-authenticated on every Exchange server whatever the model says, so the models allow
  nginx-ntlm (NGINX open source renders that route with its warning).
Each run is a fresh process (`lbsync` console script) writing into a fresh folder, with Python's bytecode cache
warm as after `pip install` (in a folder of the run; `--cold-bytecode` keeps this environment's
PYTHONDONTWRITEBYTECODE=1, where every run compiles lbsync's modules);
wall time is the median of the runs; peak memory is the child's ru_maxrss (os.wait4), median. Besides the
whole command, the in-process time of
load + plan + render (no interpreter start-up, no imports) is reported.
`--breakdown` times each phase of the large render in-process (load, plan, each target, writing the files) and
re-times it with two candidate fixes applied inside this benchmark process only (monkeypatched, lbsync itself is
not changed): (a) IP-literal parsing memoised (ipaddress.ip_address is called ~115,000 times for 64 servers x
450 routes, from render/lbview.hostport and f5/desired), (b) the writer without a per-file fsync (atomic rename kept).
`--tests` runs the quick loop (`python -m pytest -q -m "not lab" -p no:cacheprovider`, two workers as pyproject's
quickloop plugin sets) `--test-runs` times and reports its wall time and the counts it prints.
Targets: large render < 1 s, start-up (`lbsync --help`) < 0.3 s, unit tests < 60 s.
Output: tables, then one JSON document as the last line of stdout (`--json FILE` also writes it to a file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yaml  # noqa: E402
from common import ROOT, emit, loadavg, machine, median, note, rnd, run_main, table  # noqa: E402

SERVICES = ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc", "autodiscover"]
SIZES = {"small": (1, 2), "medium": (10, 16), "large": (50, 64)}
EXAMPLE = ROOT / "profiles" / "exchange2013-offload.yaml"


def model_doc(namespaces: int, servers: int) -> dict:
    """A valid model of this size for every target (Exchange 2013: offload allowed; Basic where NTLM would be)."""
    return {
        "version": 1,
        "exchange": {"version": 2013, "cu": 23, "mrsproxy": True,
                     "outlook_anywhere": {"external_hostname": "ns0.contoso.com", "external_auth": "Basic",
                                          "internal_auth": "Basic"},
                     "auth": {"ews": ["Basic"], "oab": ["Basic"], "mapi": ["Basic"], "autodiscover": ["Basic"]}},
        "servers": [{"name": f"EX{i + 1:02d}", "address": f"192.0.2.{i + 1}"} for i in range(servers)],
        "namespaces": [{"host": f"ns{i}.contoso.com", "vip": f"203.0.113.{10 + i % 10}", "services": SERVICES}
                       for i in range(namespaces)],
        "tls": {"default": "offload", "services": {"mapi": "bridge", "ews": "bridge"}, "profile": "intermediate",
                "server_ca": "/etc/ssl/certs/ca-certificates.crt"},
        "health": {"interval": "5s", "fall": 3, "rise": 2},
        "targets": {"haproxy": {"cert_path": "/etc/haproxy/certs/mail.pem"},
                    "nginx": {"plus": False, "cert_path": "/etc/nginx/certs/mail.crt",
                              "key_path": "/etc/nginx/certs/mail.key"},
                    "f5": {"host": "bigip.example.net", "partition": "Common"}},
        "allow": ["nginx-ntlm"],   # /owa/Integrated: Windows authentication on every server (facts.iis)
    }


def lbsync_argv() -> list[str]:
    exe = shutil.which("lbsync")
    return [exe] if exe else [sys.executable, "-m", "lbsync"]


CHILD_ENV: dict[str, str] | None = None   # main() sets it: how the children find (or not) compiled bytecode


def child_env(tmp: Path, cold: bool) -> dict[str, str]:
    """The children's environment. As installed (default): Python's bytecode cache on, in a folder of this run
    (PYTHONPYCACHEPREFIX: the checkout is not written to), warmed by one untimed run — pip compiles an installed
    package's modules at install time — and lbsync's compiled-template cache likewise. cold: the environment as it
    is (PYTHONDONTWRITEBYTECODE=1 makes every run compile every lbsync module from source) and no template cache."""
    env = dict(os.environ)
    if not cold:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        env["LBSYNC_CACHE_DIR"] = str(tmp / "lbsync-cache")   # compiled templates, warmed by the same untimed run
    else:
        env["LBSYNC_CACHE_DIR"] = ""                           # cold: every run compiles every template too
    return env


def timed(argv: list[str], cwd: Path) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=CHILD_ENV)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait(5)
        raise
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err[-1500:]}")
    return wall, usage.ru_maxrss, proc.returncode


def in_process(model: Path, allow: tuple[str, ...], runs: int) -> tuple[float, dict]:
    """Median seconds of load + plan + render of every target, in this process (modules already imported)."""
    from lbsync.model import load_model
    from lbsync.plan import build_plan
    from lbsync.targets import RenderOptions, expand, render_targets
    times, sizes = [], {}
    for _ in range(runs + 1):  # the first run imports the renderers and compiles the templates: not counted
        start = time.perf_counter()
        plan = build_plan(load_model(model), allow=allow)
        files = render_targets(plan, expand("all"), RenderOptions())
        times.append(time.perf_counter() - start)
    sizes = {"files": len(files), "bytes": sum(len(f.content) for f in files.values()),
             "routes": len(plan.services), "namespaces": len(plan.namespaces)}
    return median(times[1:]), sizes


def profile_hotspots(model: Path, top: int = 15) -> list[dict]:
    import cProfile
    import pstats

    from lbsync.model import load_model
    from lbsync.plan import build_plan
    from lbsync.targets import RenderOptions, expand, render_targets
    render_targets(build_plan(load_model(model)), expand("all"), RenderOptions())  # warm
    prof = cProfile.Profile()
    prof.enable()
    render_targets(build_plan(load_model(model)), expand("all"), RenderOptions())
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        rows.append({"function": f"{Path(file).name}:{line}({func})", "calls": nc, "own_s": rnd(tt, 4),
                     "cumulative_s": rnd(ct, 4)})
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return rows[:top]


def phases(model: Path, runs: int, outdir: Path) -> dict:
    """Median seconds per phase of one large render, in-process: load, plan, each target, write."""
    import importlib

    from lbsync.model import load_model
    from lbsync.output.writer import Output, write_all
    from lbsync.plan import build_plan
    from lbsync.report import build_report, for_render
    from lbsync.targets import TARGETS, RenderOptions, expand, render_targets
    samples: dict[str, list[float]] = {}
    for i in range(runs + 1):
        t = {}
        a = time.perf_counter()
        m = load_model(model)
        t["load"] = time.perf_counter() - a
        a = time.perf_counter()
        plan = build_plan(m)
        t["plan"] = time.perf_counter() - a
        for target, module in TARGETS.items():
            mod = importlib.import_module(module) if isinstance(module, str) else module
            a = time.perf_counter()
            mod.render(plan, RenderOptions())
            mod.readme(plan, RenderOptions())
            t[f"render {target}"] = time.perf_counter() - a
        files = render_targets(plan, expand("all"), RenderOptions())
        a = time.perf_counter()
        files["report.html"] = Output(build_report(for_render(plan)))   # as `lbsync render` does
        t["report.html"] = time.perf_counter() - a
        a = time.perf_counter()
        write_all(outdir / f"w{i}", files)
        t["write files"] = time.perf_counter() - a
        shutil.rmtree(outdir / f"w{i}", ignore_errors=True)
        if i:  # the first run compiles the templates: not counted
            for k, v in t.items():
                samples.setdefault(k, []).append(v)
    out = {k: rnd(median(v), 4) for k, v in samples.items()}
    out["total"] = rnd(sum(out.values()), 4)
    return out


def template_compiles(model: Path) -> dict:
    """How many template compilations one `render --target all` does, and what compiling every shipped template
    once costs (each render module builds its own Jinja environment for render() and readme(), so nothing is
    shared between them and every CLI run compiles from scratch)."""
    import jinja2

    from lbsync.model import load_model
    from lbsync.output.env import environment
    from lbsync.plan import build_plan
    from lbsync.resources import templates_dir
    from lbsync.targets import RenderOptions, expand, render_targets
    plan = build_plan(load_model(model))
    count = {"n": 0}
    original = jinja2.Environment.compile

    def counting(self, *a, **kw):
        count["n"] += 1
        return original(self, *a, **kw)
    jinja2.Environment.compile = counting
    try:
        render_targets(plan, expand("all"), RenderOptions())
    finally:
        jinja2.Environment.compile = original
    root = Path(templates_dir())
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*.j2"))
    times, compiled = [], 0
    for _ in range(3):
        env = environment()
        compiled = 0
        a = time.perf_counter()
        for name in names:
            try:
                env.get_template(name)
                compiled += 1
            except jinja2.TemplateError:  # templates that need their module's filters (Exchange): skipped
                pass
        times.append(time.perf_counter() - a)
    return {"compilations_per_render_all": count["n"], "distinct_templates": len(names),
            "compiled_standalone": compiled, "compile_those_once_s": rnd(median(times), 4)}


def what_ifs(model: Path, runs: int, outdir: Path) -> dict:
    """The phases again with (a) memoised IP parsing, (b) no per-file fsync — patched in this process only."""
    import functools
    import ipaddress

    import lbsync.output.writer as writer
    out = {"as shipped": phases(model, runs, outdir)}
    original_ip, original_fsync = ipaddress.ip_address, writer.os.fsync
    cached = functools.lru_cache(maxsize=4096)(original_ip)

    def cached_ip(address):
        return cached(address) if isinstance(address, str) else original_ip(address)
    try:
        ipaddress.ip_address = cached_ip
        out["(a) memoised ip_address"] = phases(model, runs, outdir)
        writer.os.fsync = lambda fd: None
        out["(a)+(b) and no per-file fsync"] = phases(model, runs, outdir)
    finally:
        ipaddress.ip_address, writer.os.fsync = original_ip, original_fsync
    return out


def unit_tests(runs: int) -> dict:
    """Wall time of the unit-test suite (the quick loop), each run a fresh pytest process."""
    import re
    walls, summary = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not lab", "-p", "no:cacheprovider"],
                              cwd=ROOT, capture_output=True, text=True, timeout=1800)
        walls.append(time.perf_counter() - start)
        tail = [ln for ln in proc.stdout.splitlines() if re.search(r"\d+ (passed|failed)", ln)]
        summary = tail[-1].strip("= ") if tail else f"exit {proc.returncode}"
        note(f"unit tests: {walls[-1]:.1f} s ({summary})")
    return {"wall_s_median": rnd(median(walls), 2), "wall_s_min": rnd(min(walls), 2), "runs": runs,
            "result": summary, "command": "python -m pytest -q -m 'not lab' -p no:cacheprovider", "target_s": 60}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="runs per render case (median; default 7)")
    ap.add_argument("--startup-runs", type=int, default=15, help="runs of lbsync --help (default 15)")
    ap.add_argument("--profile", action="store_true", help="also cProfile the large render (in-process)")
    ap.add_argument("--breakdown", action="store_true", help="also time the large render per phase, and with the "
                    "two candidate fixes (in-process what-ifs)")
    ap.add_argument("--cold-bytecode", action="store_true", help="keep the environment's bytecode setting (here "
                    "PYTHONDONTWRITEBYTECODE=1: every run compiles lbsync's modules) instead of a warm bytecode cache")
    ap.add_argument("--tests", action="store_true", help="also time the unit-test suite (pytest -m 'not lab')")
    ap.add_argument("--test-runs", type=int, default=1, help="runs of the unit-test suite (default 1)")
    ap.add_argument("--json", dest="json_file", help="also write the JSON document to this file")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 100 or not 1 <= args.startup_runs <= 200 or not 1 <= args.test_runs <= 10:
        ap.error("--runs 1..100, --startup-runs 1..200")
    info = machine()
    note(f"machine: {info['nproc']} CPUs, {info['cpu']}, load {info['loadavg_at_start']}")
    cli = lbsync_argv()
    cases = []
    with tempfile.TemporaryDirectory(prefix="lbsync-bench-gen-") as tmp:
        tmp = Path(tmp)
        models = {"example": (EXAMPLE, ("nginx-ntlm",))}
        for name, (ns, srv) in SIZES.items():
            path = tmp / f"{name}.yaml"
            path.write_text(yaml.safe_dump(model_doc(ns, srv), sort_keys=False))
            models[name] = (path, ())
        global CHILD_ENV
        CHILD_ENV = child_env(tmp, args.cold_bytecode)
        timed(cli + ["--help"], tmp)      # warm-up, not counted: fills the bytecode cache (unless --cold-bytecode)
        warm = tmp / "warm-up"
        timed(cli + ["render", str(models["large"][0]), "--target", "all", "-o", str(warm)], tmp)
        shutil.rmtree(warm, ignore_errors=True)
        # start-up: interleaved with a bare interpreter, so the floor of this machine shows
        help_runs, floor_runs = [], []
        for i in range(args.startup_runs):
            help_runs.append(timed(cli + ["--help"], tmp))
            floor_runs.append(timed([sys.executable, "-c", "pass"], tmp))
        startup = {"wall_s_median": rnd(median(r[0] for r in help_runs), 4),
                   "wall_s_min": rnd(min(r[0] for r in help_runs), 4),
                   "maxrss_mib_median": rnd(median(r[1] for r in help_runs) / 1024, 1),
                   "python_floor_s_median": rnd(median(r[0] for r in floor_runs), 4),
                   "runs": args.startup_runs, "target_s": 0.3}
        note(f"lbsync --help: {startup['wall_s_median'] * 1000:.0f} ms (bare python "
             f"{startup['python_floor_s_median'] * 1000:.0f} ms)")
        for name, (path, allow) in models.items():
            walls, rss = [], []
            for i in range(args.runs):
                out = tmp / f"out-{name}-{i}"
                argv = cli + ["render", str(path), "--target", "all", "-o", str(out)]
                for code in allow:
                    argv += ["--allow", code]
                wall, maxrss, _ = timed(argv, tmp)
                walls.append(wall)
                rss.append(maxrss)
                shutil.rmtree(out, ignore_errors=True)
            inproc, sizes = in_process(path, allow, args.runs)
            case = {"case": name, "model": str(path.relative_to(ROOT)) if name == "example" else
                    f"generated {SIZES[name][0]} namespaces x {SIZES[name][1]} servers", **sizes,
                    "allow": list(allow), "wall_s_median": rnd(median(walls), 4), "wall_s_min": rnd(min(walls), 4),
                    "in_process_s_median": rnd(inproc, 4), "maxrss_mib_median": rnd(median(rss) / 1024, 1),
                    "runs": args.runs}
            note(f"render {name}: {case['wall_s_median'] * 1000:.0f} ms wall, {case['in_process_s_median'] * 1000:.0f}"
                 f" ms in-process, {case['maxrss_mib_median']} MiB")
            cases.append(case)
        hot = profile_hotspots(models["large"][0]) if args.profile else []
        breakdown = what_ifs(models["large"][0], args.runs, tmp) if args.breakdown else {}
        compiles = template_compiles(models["large"][0]) if args.breakdown else {}
    tests = unit_tests(args.test_runs) if args.tests else {}

    large = next(c for c in cases if c["case"] == "large")
    doc = {"benchmark": "generation", "machine": info, "loadavg_at_end": loadavg(), "command": cli,
           "bytecode": "cold (PYTHONDONTWRITEBYTECODE kept)" if args.cold_bytecode else "warm cache (as installed)",
           "startup": startup, "render": cases,
           "targets": {"large_render_s": 1.0, "startup_s": 0.3, "unit_tests_s": 60},
           "verdict": {"large_render_under_1s": large["wall_s_median"] < 1.0,
                       "startup_under_0_3s": startup["wall_s_median"] < 0.3,
                       **({"unit_tests_under_60s": tests["wall_s_median"] < 60} if tests else {})},
           "unit_tests": tests,
           "hotspots_large": hot, "breakdown_large": breakdown,
           "template_compiles": compiles}
    rows = [[c["case"], c.get("namespaces"), c.get("routes"), c["files"], f"{c['bytes'] / 1024:,.0f}",
             c["wall_s_median"], c["wall_s_min"], c["in_process_s_median"], c["maxrss_mib_median"]] for c in cases]
    tables = [table(f"lbsync render --target all (median of {args.runs} fresh processes, bytecode {doc['bytecode']}; "
                    f"{info['nproc']} CPUs "
                    f"{info['cpu']}; load {info['loadavg_at_start'][0]} -> {doc['loadavg_at_end']})",
                    ["case", "namespaces", "routes", "files", "KiB out", "wall s", "min s", "in-process s",
                     "peak MiB"], rows),
              table(f"Start-up (median of {args.startup_runs})", ["command", "wall s", "min s", "peak MiB"],
                    [["lbsync --help", startup["wall_s_median"], startup["wall_s_min"],
                      startup["maxrss_mib_median"]],
                     [f"{Path(sys.executable).name} -c pass", startup["python_floor_s_median"], "", ""]])]
    if tests:
        tables.append(table(f"Unit tests ({tests['command']}; median of {tests['runs']})",
                            ["wall s", "min s", "result"], [[tests["wall_s_median"], tests["wall_s_min"],
                                                             tests["result"]]]))
    if hot:
        tables.append(table("Hot spots of the large render (cProfile, own time)",
                            ["function", "calls", "own s", "cumulative s"],
                            [[h["function"], h["calls"], h["own_s"], h["cumulative_s"]] for h in hot]))
    if breakdown:
        names = list(next(iter(breakdown.values())))
        tables.append(table(f"Large render per phase, in-process seconds (median of {args.runs}); what-ifs patched "
                            "in the benchmark process only", ["phase"] + list(breakdown),
                            [[n] + [b[n] for b in breakdown.values()] for n in names]))
    if compiles:
        tables.append(table("Template compilation (every CLI run starts cold)", ["fact", "value"],
                            [[k, v] for k, v in compiles.items()]))
    emit(doc, tables, args.json_file)
    return 0


if __name__ == "__main__":
    run_main(main, "interrupted")
