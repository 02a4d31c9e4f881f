"""The compiled-template cache (output/env.py): it saves time and never changes what is rendered."""

from __future__ import annotations

import jinja2
import pytest
from support.paths import ROOT

from lbsync.output import env

PROFILE = str(ROOT / "profiles" / "exchange2013-offload.yaml")


@pytest.fixture
def fresh(monkeypatch):
    """Each call of env.environment() as in a new process: nothing compiled or opened yet."""
    def clear():
        env._environment.cache_clear()
        env._bytecode_cache.cache_clear()
    clear()
    yield clear
    clear()


def _render(text_template: str, user_dir=None, **context) -> str:
    return env.render_template(env.environment(user_dir), text_template, **context)


def _entries(root):
    return sorted(p for p in root.rglob("*.cache"))


def test_compiled_templates_are_kept_per_kind_and_version(tmp_path, monkeypatch, fresh):
    monkeypatch.setenv("LBSYNC_CACHE_DIR", str(tmp_path))
    env.environment().get_template("haproxy/haproxy.cfg.j2")
    env.environment(finalize=str).get_template("report/report.html.j2")
    folders = sorted(p.name for p in (tmp_path / "templates").iterdir())
    assert folders == [f"lbsync-{env.__version__}-jinja2-{jinja2.__version__}-html",
                       f"lbsync-{env.__version__}-jinja2-{jinja2.__version__}-text"]
    assert all(len(list((tmp_path / "templates" / f).iterdir())) == 1 for f in folders)


def test_a_second_process_loads_instead_of_compiling(tmp_path, monkeypatch, fresh):
    monkeypatch.setenv("LBSYNC_CACHE_DIR", str(tmp_path))
    env.environment().get_template("haproxy/haproxy.cfg.j2")
    fresh()
    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile",
                        lambda self, *a, **k: compiled.append(a) or real(self, *a, **k))
    env.environment().get_template("haproxy/haproxy.cfg.j2")
    assert compiled == []


def test_an_edited_template_is_compiled_again_never_served_stale(tmp_path, monkeypatch, fresh):
    monkeypatch.setenv("LBSYNC_CACHE_DIR", str(tmp_path / "cache"))
    user = tmp_path / "mine"
    (user / "haproxy").mkdir(parents=True)
    tpl = user / "haproxy" / "note.j2"
    tpl.write_text("first {{ x }}\n")
    assert _render("haproxy/note.j2", user, x=1) == "first 1\n"
    fresh()
    tpl.write_text("second {{ x }}\n")
    assert _render("haproxy/note.j2", user, x=2) == "second 2\n"


def test_a_damaged_entry_is_a_miss(tmp_path, monkeypatch, fresh):
    monkeypatch.setenv("LBSYNC_CACHE_DIR", str(tmp_path))
    user = tmp_path / "mine"
    user.mkdir()
    (user / "t.j2").write_text("{{ 6 * 7 }}")
    assert _render("t.j2", user) == "42"
    for entry in _entries(tmp_path / "templates"):
        entry.write_bytes(entry.read_bytes()[:40])     # truncated after Jinja's magic header
    fresh()
    assert _render("t.j2", user) == "42"


def test_an_unusable_cache_folder_is_skipped(tmp_path, monkeypatch, fresh):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LBSYNC_CACHE_DIR", str(blocker))
    assert env.environment().bytecode_cache is None
    assert "global" in _render("haproxy/haproxy.cfg.j2", **_haproxy_context())


def test_an_empty_setting_turns_the_cache_off(tmp_path, monkeypatch, fresh):
    monkeypatch.setenv("LBSYNC_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    env.environment().get_template("haproxy/haproxy.cfg.j2")
    assert env.environment().bytecode_cache is None
    assert list(tmp_path.iterdir()) == []


def test_default_folder_follows_xdg_and_windows(tmp_path, monkeypatch):
    monkeypatch.delenv("LBSYNC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(env.sys, "platform", "linux")
    assert env.cache_root() == tmp_path / "xdg" / "lbsync"
    monkeypatch.setattr(env.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert env.cache_root() == tmp_path / "local" / "lbsync" / "cache"


def test_render_output_is_the_same_with_and_without_the_cache(tmp_path, monkeypatch, fresh):
    from lbsync.cli.common import load_plan
    from lbsync.targets import RenderOptions, render_targets
    names = ["exchange", "haproxy", "nginx", "f5-tmsh", "f5-as3"]
    outputs = []
    for setting in ("", str(tmp_path / "c"), str(tmp_path / "c")):   # off, cold cache, warm cache
        monkeypatch.setenv("LBSYNC_CACHE_DIR", setting)
        fresh()
        files = render_targets(load_plan(PROFILE, ("nginx-ntlm",)), names, RenderOptions())
        outputs.append({k: v.content for k, v in files.items()})
    assert outputs[0] == outputs[1] == outputs[2]
    assert _entries(tmp_path / "c")


def _haproxy_context() -> dict:
    from lbsync.cli.common import load_plan
    from lbsync.targets import haproxy
    from lbsync.targets.protocol import RenderOptions
    return haproxy.context(load_plan(PROFILE), RenderOptions())
