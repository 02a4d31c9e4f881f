"""lbsync under bad input: mutated models (structure and text) through the loader, the planner and the renderers
in-process, and a handful through the command line — always a clean refusal (LbsyncError: one line per problem,
`FILE[:LINE:COL]: error: ...`; exit 2, nothing written) or success, never an internal error or a traceback.

Complements tests/test_model_loader.py (which mutates one character of a minimal model and feeds random documents
to the loader only): here the starting points are every bundled profile and the lab scenarios, the mutations are
the ones people make (a key dropped or misspelt, a value of the wrong type, a pasted garbage scalar, a key
written twice, YAML broken by a stray character, an indentation slip, a truncated file), several at once, and
an accepted model goes on through the planner, the plan's JSON and every renderer whose findings allow it.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections import Counter
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lab.scenarios import PROFILES, variations
from support.cli import run_cli

from lbsync.errors import LbsyncError
from lbsync.facts.codes import CODES
from lbsync.model import load_model_text
from lbsync.plan import build_plan

FILE = "m.yaml"
BASES = [v for _, v in sorted(variations().items())]
BASE_TEXTS = [p.read_text() for p in PROFILES]
ERROR_LINE = re.compile(r"^m\.yaml(:\d+(:\d+)?)?: error: \S")
KEYS = ["version", "exchange", "servers", "namespaces", "tls", "certificate", "health", "targets", "allow", "name",
        "address", "host", "vip", "port", "services", "default", "profile", "server_ca", "mrsproxy", "cu", "auth",
        "outlook_anywhere", "http_port", "https_port", "interval", "fall", "rise", "plus", "cert_path", "pfx",
        "verify_server", "extended_protection", "haproxy", "nginx", "f5", "owa", "rpc", "Version", "servrs", ""]
GARBAGE_SCALARS = ["", " ", "0", "-1", "1e999", "null", "~", "yes", "NO", "on", "0x1F", "0o17", "1_000", "12:30",
                   "2024-01-01", "!!python/name:os.system", "${F5_PASSWORD}", "../../../etc/passwd", "::1",
                   "256.1.1.1", "192.0.2.11", "EX01", "offload", "bridge", "passthrough", "Negotiate", "a" * 300,
                   "\u202eevil", "mail.contoso.com.", "*.contoso.com", "0.5s", "-5s", "999999999999d", "[", "{",
                   "NaN", "inf", "🙂", "C:\\certs\\mail.pfx"]


# -- mutations -----------------------------------------------------------------------------------------------------

def nodes(doc, path=()):
    """Every (container, key) below doc: the places a mutation can touch."""
    out = []
    if isinstance(doc, dict):
        for k in list(doc):
            out.append((doc, k))
            out += nodes(doc[k], path + (k,))
    elif isinstance(doc, list):
        for i in range(len(doc)):
            out.append((doc, i))
            out += nodes(doc[i], path + (i,))
    return out


def garbage(rng: random.Random):
    kind = rng.randrange(9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2 ** 31, 2 ** 70, -(2 ** 70), 65536, 443, 99999])
    if kind == 3:
        return rng.choice([0.0, -1.5, 1e308, float("inf"), float("nan")])
    if kind == 4:
        return rng.choice(GARBAGE_SCALARS)
    if kind == 5:
        return [garbage(rng) for _ in range(rng.randrange(3))]
    if kind == 6:
        return {rng.choice(KEYS): garbage(rng) for _ in range(rng.randrange(3))}
    if kind == 7:
        return "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(1, 12)))
    return rng.choice(KEYS)


def mutate_structure(doc: dict, rng: random.Random, count: int) -> dict:
    doc = copy.deepcopy(doc)
    for _ in range(count):
        places = nodes(doc)
        if not places:
            break
        container, key = rng.choice(places)
        op = rng.randrange(6)
        if op == 0:                                   # drop a key / list item
            del container[key]
        elif op == 1 and isinstance(container, dict):  # rename a key (typo, case, another known key)
            value = container.pop(key)
            new = rng.choice([str(key).upper(), str(key)[:-1], str(key) + "s", rng.choice(KEYS), 7, None])
            container[new] = value
        elif op == 2:                                  # change the type of a value
            value = container[key]
            container[key] = ([value] if not isinstance(value, list) else (value[0] if value else {}))
        elif op == 3:                                  # a garbage scalar (or structure) in its place
            container[key] = garbage(rng)
        elif op == 4 and isinstance(container, list):  # a list item twice (duplicate server / namespace)
            container.append(copy.deepcopy(container[key]))
        else:                                          # a key added where it does not belong
            target = container[key] if isinstance(container[key], dict) else container
            if isinstance(target, dict):
                target[rng.choice(KEYS)] = garbage(rng)
    return doc


def mutate_text(text: str, rng: random.Random, count: int) -> str:
    for _ in range(count):
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        op = rng.randrange(7)
        if op == 0:                                    # a key written twice (the line duplicated)
            lines.insert(i, lines[i])
        elif op == 1:                                  # a line lost
            del lines[i]
        elif op == 2:                                  # an indentation slip
            lines[i] = ("  " + lines[i]) if rng.random() < 0.5 else lines[i][2:]
        elif op == 3:                                  # a stray YAML character
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rng.choice(list(":-[]{}&*!|>'\"#%@`,?\t") + ["\\", " ", ": "]) + lines[i][pos:]
        elif op == 4:                                  # a truncated file
            return "\n".join(lines[:i]) + ("\n" + lines[i][: rng.randrange(len(lines[i]) + 1)] if lines[i] else "")
        elif op == 5:                                  # a pasted garbage line
            lines.insert(i, rng.choice(["<<: *nothing", "&a [*a]", "--- ", "...", "%YAML 1.1", "key: [unclosed",
                                        "\t- tab", "!!binary AAAA", "? complex key", "servers: {}", "version: 2"]))
        else:                                          # a value replaced
            if ":" in lines[i]:
                head = lines[i].split(":", 1)[0]
                lines[i] = f"{head}: {rng.choice(GARBAGE_SCALARS)!s}"
        text = "\n".join(lines)
    return text


# -- the check -----------------------------------------------------------------------------------------------------

def check(text: str) -> str:
    """Load -> plan -> plan JSON -> every renderer the findings allow. Returns 'refused' or 'accepted'; anything
    other than LbsyncError (with one-line, located messages) propagates and fails the test."""
    try:
        model = load_model_text(text, FILE)
    except LbsyncError as exc:
        lines = str(exc).split("\n")
        assert lines and all(ERROR_LINE.match(line) for line in lines), str(exc)
        assert "Traceback" not in str(exc)
        return "refused"
    plan = build_plan(model)
    json.dumps(plan.as_json())
    for f in plan.findings:
        assert f.level in ("error", "warning", "info") and f.code in CODES, f
    render_allowed(plan)
    return "accepted"


def render_allowed(plan) -> None:
    from lbsync.targets import TARGETS, RenderOptions, render_targets
    targets = [name for name, t in TARGETS.items() if not plan.blocking({t.LB_KIND} if t.LB_KIND else set())]
    if targets:
        try:
            files = render_targets(plan, targets, RenderOptions())
        except LbsyncError as exc:  # a refusal must still be one located line per problem
            assert all(": error: " in line for line in str(exc).split("\n")), str(exc)
            return
        assert files and all(isinstance(f.content, (str, bytes)) for f in files.values())


def _dump(doc) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def run_property(strategy, examples: int) -> Counter:
    outcomes: Counter = Counter()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(strategy)
    def prop(text):
        outcomes[check(text)] += 1

    prop()
    return outcomes


@st.composite
def structural(draw):
    base = draw(st.sampled_from(BASES))
    rng = draw(st.randoms(use_true_random=False))
    return _dump(mutate_structure(base, rng, draw(st.integers(1, 3))))


@st.composite
def textual(draw):
    rng = draw(st.randoms(use_true_random=False))
    if draw(st.booleans()):
        text = draw(st.sampled_from(BASE_TEXTS))
    else:
        text = _dump(draw(st.sampled_from(BASES)))
    return mutate_text(text, rng, draw(st.integers(1, 3)))


def test_structural_mutations_are_refused_cleanly_or_planned_and_rendered():
    outcomes = run_property(structural(), 200)
    # both paths were exercised: refusals and mutants that are still valid models
    assert outcomes["refused"] > 20 and outcomes["accepted"] > 5, outcomes


def test_text_mutations_are_refused_cleanly_or_planned_and_rendered():
    outcomes = run_property(textual(), 200)
    assert outcomes["refused"] > 20 and outcomes["accepted"] > 5, outcomes


def test_a_duplicate_key_is_refused_with_its_line():
    text = BASE_TEXTS[0]
    line_no = next(i for i, line in enumerate(text.split("\n"), 1) if line.startswith("servers:"))
    lines = text.split("\n")
    lines.insert(line_no, "servers:")          # written twice, the second one right after the first
    try:
        load_model_text("\n".join(lines), FILE)
    except LbsyncError as exc:
        assert re.search(rf"^m\.yaml:{line_no + 1}:\d+: error: .*servers", str(exc), re.M), str(exc)
    else:
        raise AssertionError("a duplicate key was accepted")


# -- a handful through the command line (subprocess) -------------------------------------------------------------

CLI_SEEDS = range(8)


def cli_models(folder: Path) -> list[Path]:
    """The first bundled profile as shipped plus mutants (seeded: the same on every run)."""
    out = []
    for seed in CLI_SEEDS:
        rng = random.Random(seed)
        text = BASE_TEXTS[seed % len(BASE_TEXTS)]
        if seed:
            text = (mutate_text(text, rng, 2) if seed % 2 else
                    _dump(mutate_structure(yaml.safe_load(text), rng, 2)))
        path = folder / f"m{seed}" / FILE
        path.parent.mkdir()
        path.write_text(text)
        out.append(path)
    return out


def lbsync(args: list[str], cwd: Path):
    return run_cli(*args, cwd=cwd)


def test_cli_on_mutated_models_exits_0_or_2_with_one_line_per_error(tmp_path):
    codes = []
    for model in cli_models(tmp_path):
        folder = model.parent
        for args in (["validate", FILE], ["render", FILE, "--target", "all", "-o", "out"]):
            proc = lbsync(args, folder)
            codes.append(proc.returncode)
            assert proc.returncode in (0, 2), (model.read_text(), args, proc.returncode, proc.stderr)
            assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
            lines = [ln for ln in proc.stderr.split("\n") if ln]
            for line in lines:  # every line is a located error or warning (model errors and findings)
                assert re.match(r"^m\.yaml(:\d+(:\d+)?)?: (error|warning): \S", line), (args, line)
            if proc.returncode == 2:
                assert any(": error: " in line for line in lines), proc.stderr
                if args[0] == "render":
                    assert not (folder / "out").exists(), "files were written although the render was refused"
            elif args[0] == "render":
                assert (folder / "out" / "README.txt").is_file()
    assert 0 in codes and 2 in codes, codes  # both outcomes were exercised
