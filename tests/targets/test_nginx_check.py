"""`lbsync render --check` with the real nginx (stream module loaded when needed)."""

from __future__ import annotations

from pathlib import Path

from lab import scenarios
from support.cli import run_cli

VARIATIONS = scenarios.variations()


def cli(*args):
    return run_cli(*args)


def doc_model(pki_files, tmp_path, *, plus=False):
    """The passthrough profile for NGINX (Basic auth), with its documentation VIP 203.0.113.10:443 kept."""
    m = scenarios.realise(VARIATIONS["profile-outlook-anywhere-passthrough"], "nginx", pki_files, plus=plus)
    for ns in m["namespaces"]:
        ns["vip"], ns["port"] = "203.0.113.10", 443
    m["targets"]["nginx"]["cert_path"] = "/etc/nginx/certs/lbsync.crt"   # only on the load balancer
    return scenarios.write(tmp_path, m)


def test_check_passes_with_stream_bound_in_a_private_namespace(pki_files, tmp_path):
    out = tmp_path / "out"
    proc = cli("render", str(doc_model(pki_files, tmp_path)), "--target", "nginx", "--check", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "check: nginx -t: configuration valid" in proc.stderr
    assert "listeners bound in a private network namespace (with 203.0.113.10 on its loopback)" in proc.stderr
    assert "/etc/nginx/certs/lbsync.crt is not on this machine: a placeholder was provided at that path" in proc.stderr
    assert (out / "nginx" / "lbsync-stream.conf").is_file() and (out / "nginx" / "lbsync.conf").is_file()
    # nothing of the check is left on this machine: no certificate folder, no unix socket of the stream hand-off
    assert not Path("/etc/nginx/certs/lbsync.crt").exists()
    assert not list(Path("/run").glob("lbsync-nginx-*.sock"))


def test_the_check_reads_exactly_the_bytes_written(pki_files, tmp_path, monkeypatch):
    """No placeholder text and no moved listener: the files nginx -t reads are byte for byte the files written."""
    from lbsync.output import check as checks
    seen = {}
    real = checks.run

    def spy(argv, cwd):
        for name in ("lbsync.conf", "lbsync-stream.conf"):
            if (cwd / name).exists():
                seen[name] = (cwd / name).read_bytes()
        return real(argv, cwd)
    monkeypatch.setattr(checks, "run", spy)
    out = tmp_path / "out"
    proc = cli("render", str(doc_model(pki_files, tmp_path)), "--target", "nginx", "--check", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert seen == {name: (out / "nginx" / name).read_bytes() for name in ("lbsync.conf", "lbsync-stream.conf")}


def test_a_config_nginx_rejects_exits_2_and_writes_nothing(pki_files, tmp_path):
    from lbsync.resources import templates_dir
    override = tmp_path / "tpl" / "nginx"
    override.mkdir(parents=True)
    text = (templates_dir() / "nginx" / "lbsync.conf.j2").read_text()
    (override / "lbsync.conf.j2").write_text(text.replace("proxy_http_version 1.1;", "proxy_http_version 7;"))
    out = tmp_path / "out"
    proc = cli("render", str(doc_model(pki_files, tmp_path)), "--target", "nginx", "--check",
                   "--templates", str(tmp_path / "tpl"), "-o", str(out))
    assert proc.returncode == 2
    assert "nginx -t rejected the generated configuration" in proc.stderr and "proxy_http_version" in proc.stderr
    assert not out.exists()


def test_plus_is_not_checked_and_says_so(pki_files, tmp_path):
    out = tmp_path / "out"
    proc = cli("render", str(doc_model(pki_files, tmp_path, plus=True)), "--target", "nginx", "--check",
                   "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "nginx -t: NOT checked" in proc.stderr and "NGINX Plus" in proc.stderr
    assert "ntlm;" in (out / "nginx" / "lbsync.conf").read_text()


def test_warnings_are_shown_in_the_verdict(pki_files, tmp_path):
    """nginx -t passes with a warning: the verdict says so, naming the rendered file."""
    from lbsync.resources import templates_dir
    override = tmp_path / "tpl" / "nginx"
    override.mkdir(parents=True)
    text = (templates_dir() / "nginx" / "lbsync.conf.j2").read_text()
    anchor = "    server_name {{ ns.host }};\n"
    assert anchor in text
    # the same name twice on one listener: nginx warns "conflicting server name ... ignored"
    (override / "lbsync.conf.j2").write_text(text.replace(anchor, "    server_name {{ ns.host }} {{ ns.host }};\n"))
    out = tmp_path / "out"
    proc = cli("render", str(doc_model(pki_files, tmp_path)), "--target", "nginx", "--check",
                   "--templates", str(tmp_path / "tpl"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("check: nginx -t"))
    assert "configuration valid, with" in line and "WARNING(S)" in line and "[warn]" in line, line


def test_the_rendered_configs_check_without_a_warning(pki_files, tmp_path):
    out = tmp_path / "out"
    proc = cli("render", str(doc_model(pki_files, tmp_path)), "--target", "nginx", "--check", "-o", str(out))
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("check: nginx -t"))
    assert line.startswith("check: nginx -t: configuration valid") and "WARNING" not in line, line
