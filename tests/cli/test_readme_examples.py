"""The project README's examples run as written: the main-job command, the quick start (with the one step a person
does by hand, `$EDITOR lbsync.yaml`, done as the comment says: the certificate), and every command and option of the
command table exists."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from support.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def run(line: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})})


def test_the_main_job_command_renders_the_bundled_example(tmp_path):
    first = blocks("sh")[0].strip()
    venv, install, job = (part.strip() for part in first.split("&&"))
    assert (venv, install) == ("python3 -m venv .venv", ".venv/bin/pip install .")  # installed: test_pythons
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    ran = run(job.replace(".venv/bin/lbsync", "lbsync", 1), tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "lbsync-out" / "README.txt").is_file()
    assert (tmp_path / "lbsync-out" / "exchange" / "apply-EX01.ps1").is_file()


def test_the_quick_start_runs_line_by_line(tmp_path, pki, pki_files):
    quick = next(b for b in blocks("sh") if "lbsync init --list" in b)
    password = "quick-start-pw"
    done = []
    for raw in quick.strip().splitlines():
        line = raw.split("  #")[0].strip()
        if line.startswith("$EDITOR"):
            # "your names, addresses, certificate": the bundled model names certs/mail.pfx
            (tmp_path / "certs").mkdir()
            (tmp_path / "certs" / "mail.pfx").write_bytes(pki.pfx(password.encode()))
            continue
        # the test PKI's root stands for the public CA that issued a real certificate: the system store here
        ran = run(line, tmp_path, {"LBSYNC_PFX_PASSWORD": password, "SSL_CERT_FILE": str(pki_files["ca"])})
        assert ran.returncode == 0, (line, ran.stderr)
        done.append(shlex.split(line)[:2])
    assert ["lbsync", "render"] in done and (tmp_path / "out" / "README.txt").is_file()


def test_every_command_and_option_in_the_table_exists():
    rows = re.findall(r"^\| `lbsync ([^`]+)` \|", README, re.M)
    assert len(rows) >= 10
    for row in rows:
        words = row.replace("\\|", "|").split()
        command = []
        for w in words:
            if re.fullmatch(r"[a-z0-9]+(\|[a-z0-9]+)*", w) and not command[-1:] == ["--"]:
                command.append(w.split("|")[0])
            else:
                break
        ran = run(f"lbsync {' '.join(command)} --help", ROOT)
        assert ran.returncode == 0, (row, ran.stderr)
        for option in re.findall(r"(--[a-z][a-z-]*|(?<![\w-])-[a-zA-Z]\b)", row):
            assert option in ran.stdout, (row, option)
