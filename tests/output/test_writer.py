"""The writer: every file or none, atomic per file, key material mode 0600, --diff hides keys."""

from __future__ import annotations

import os
import stat

import pytest

from lbsync.errors import LbsyncError
from lbsync.output import writer
from lbsync.output.writer import Output, diff_all, write_all


def _files() -> dict[str, Output]:
    return {
        "README.txt": Output("readme\n"),
        "exchange/apply-EX01.ps1": Output("apply\r\n"),
        "haproxy/haproxy.cfg": Output("global\n"),
        "haproxy/lbsync.pem": Output("-----BEGIN PRIVATE KEY-----\n", mode=0o600),
    }


def test_writes_every_file_with_its_mode(tmp_path):
    written = write_all(tmp_path / "out", _files())
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == sorted(_files())
    assert (tmp_path / "out/exchange/apply-EX01.ps1").read_bytes() == b"apply\r\n"
    assert stat.S_IMODE(os.stat(tmp_path / "out/haproxy/lbsync.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "out/haproxy/haproxy.cfg").st_mode) == 0o644
    assert not [p for p in (tmp_path / "out").rglob("*.tmp")]


def test_a_failure_while_staging_leaves_nothing_behind(tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_stage = writer._stage
    calls = []

    def failing_stage(path, content, mode):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(path))
        return real_stage(path, content, mode)

    monkeypatch.setattr(writer, "_stage", failing_stage)
    with pytest.raises(LbsyncError) as err:
        write_all(out, _files())
    assert "No space left on device" in str(err.value)
    assert len(calls) == 3
    assert not out.exists()  # no file, no temporary file, no folder this call created


def test_every_file_is_written_before_any_is_synced_and_synced_before_any_rename(tmp_path, monkeypatch):
    """The staging order that lets the file system write the files out together: all written, then each fsync'd
    and given its mode, then the renames; a failure while syncing leaves nothing behind."""
    events = []
    real_stage, real_settle, real_replace = writer._stage, writer._settle, os.replace

    def stage(path, content, mode):
        events.append("write")
        return real_stage(path, content, mode)

    def settle(fd, tmp, mode):
        events.append("sync")
        return real_settle(fd, tmp, mode)

    def replace(src, dst):
        events.append("rename")
        return real_replace(src, dst)

    monkeypatch.setattr(writer, "_stage", stage)
    monkeypatch.setattr(writer, "_settle", settle)
    monkeypatch.setattr(writer.os, "replace", replace)
    write_all(tmp_path / "out", _files())
    n = len(_files())
    assert events == ["write"] * n + ["sync"] * n + ["rename"] * n
    assert stat.S_IMODE(os.stat(tmp_path / "out/haproxy/haproxy.cfg").st_mode) == 0o644   # mkstemp made it 0600

    def failing_settle(fd, tmp, mode):
        if os.path.basename(tmp).startswith(".haproxy.cfg."):
            raise OSError(5, "Input/output error", tmp)
        return real_settle(fd, tmp, mode)

    monkeypatch.setattr(writer, "_settle", failing_settle)
    monkeypatch.setattr(writer.os, "replace", real_replace)
    with pytest.raises(LbsyncError) as err:
        write_all(tmp_path / "new", _files())
    assert "Input/output error" in str(err.value) and "haproxy.cfg" in str(err.value.file)
    assert not (tmp_path / "new").exists()


def test_more_files_than_a_batch_are_all_written_with_their_modes(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "BATCH", 3)
    files = {f"d{i % 2}/f{i}.cfg": Output(f"file {i}\n" * 1000, 0o600 if i % 4 == 0 else 0o644) for i in range(10)}
    written = write_all(tmp_path / "out", files)
    assert len(written) == 10
    for rel, out in files.items():
        path = tmp_path / "out" / rel
        assert path.read_text() == out.content and stat.S_IMODE(path.stat().st_mode) == out.mode, rel
    assert not [p for p in (tmp_path / "out").rglob("*.tmp")]


def test_ctrl_c_while_staging_leaves_no_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "haproxy").mkdir(parents=True)
    (out / "haproxy/haproxy.cfg").write_text("old\n")
    real_stage = writer._stage
    calls = []

    def interrupted(path, content, mode):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_stage(path, content, mode)

    monkeypatch.setattr(writer, "_stage", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_all(out, _files())
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["haproxy", "haproxy/haproxy.cfg"]
    assert (out / "haproxy/haproxy.cfg").read_text() == "old\n"


def test_an_existing_folder_keeps_its_files_when_staging_fails(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "haproxy").mkdir(parents=True)
    (out / "haproxy/haproxy.cfg").write_text("old\n")
    monkeypatch.setattr(writer, "_stage", lambda *a: (_ for _ in ()).throw(OSError(13, "Permission denied", "x")))
    with pytest.raises(LbsyncError):
        write_all(out, _files())
    assert (out / "haproxy/haproxy.cfg").read_text() == "old\n"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["haproxy", "haproxy/haproxy.cfg"]


def test_a_directory_in_the_way_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    (out / "haproxy/haproxy.cfg").mkdir(parents=True)
    with pytest.raises(LbsyncError) as err:
        write_all(out, _files())
    assert "is a directory" in str(err.value)
    assert not (out / "README.txt").exists()


def test_diff_never_shows_key_material(tmp_path):
    write_all(tmp_path, {"k.pem": Output("SECRET-A\n", mode=0o600), "c.cfg": Output("a\n")})
    text = diff_all(tmp_path, {"k.pem": Output("SECRET-B\n", mode=0o600), "c.cfg": Output("b\n")})
    assert "SECRET" not in text
    assert "key material differs" in text
    assert "-a\n" in text and "+b\n" in text


# ---- hostile conditions (#12) and Windows (#14) ----------------------------------------------------------------

def test_a_failure_while_renaming_puts_every_file_back_and_names_the_target(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_all(out, {"a.txt": Output("old a"), "b.txt": Output("old b"), "c.txt": Output("old c")})
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith("c.txt") and ".tmp" in str(src):   # the third file cannot be put in place
            raise PermissionError(1, "Operation not permitted")
        return real(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(LbsyncError) as info:
        write_all(out, {"a.txt": Output("new a"), "b.txt": Output("new b"), "c.txt": Output("new c"),
                        "d/new.txt": Output("new")})
    assert info.value.file == str(out / "c.txt") and "nothing was changed" in info.value.message
    assert {p.name: p.read_text() for p in out.iterdir() if p.is_file()} == {"a.txt": "old a", "b.txt": "old b",
                                                                             "c.txt": "old c"}
    assert not (out / "d").exists() and not [p for p in out.rglob(".*") if p.is_file()]   # no temporary left


def test_writes_work_without_os_fchmod_as_on_windows_python_before_3_13(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "fchmod", raising=False)
    written = write_all(tmp_path / "out", {"x.cfg": Output("x"), "k.key": Output(b"k", 0o600)})
    assert [p.name for p in written] == ["k.key", "x.cfg"]
    assert (tmp_path / "out" / "k.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "out" / "x.cfg").stat().st_mode & 0o777 == 0o644


def test_folders_are_not_world_writable_under_umask_000(tmp_path):
    old = os.umask(0)
    try:
        write_all(tmp_path / "o", {"haproxy/lbsync.pem": Output(b"key", 0o600)})
    finally:
        os.umask(old)
    assert (tmp_path / "o").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "o" / "haproxy").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "o" / "haproxy" / "lbsync.pem").stat().st_mode & 0o777 == 0o600


def test_diff_never_follows_a_symlink_at_an_output_path(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:$6$hash:19000:0:99999:7:::\n")
    out = tmp_path / "out" / "haproxy"
    out.mkdir(parents=True)
    (out / "haproxy.cfg").symlink_to(secret)
    text = diff_all(tmp_path / "out", {"haproxy/haproxy.cfg": Output("global\n")})
    assert "symbolic link" in text and "root:" not in text
    write_all(tmp_path / "out", {"haproxy/haproxy.cfg": Output("global\n")})
    assert not (out / "haproxy.cfg").is_symlink() and secret.read_text().startswith("root:")
