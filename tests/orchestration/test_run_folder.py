"""Run folders: files are replaced whole (unique temporary name, fsync, rename, fsync of the folder), and one process
trains in a folder at a time (a second one fails at once naming the holder; a killed holder's lock is taken over)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.run_folder import LOCK_NAME, RunFolderBusy, atomic_path, run_folder_lock, write_text_atomic

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def disk_events(monkeypatch):
    """Every os.fsync (with the path its descriptor is open on) and os.replace, in order."""
    events: list[tuple[str, str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), ""))
        return fsync(fd)

    def recording_replace(src, dst, **kwargs):
        events.append(("replace", str(src), str(dst)))
        return replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    return events


def assert_written_atomically(events: list[tuple[str, str, str]], path: Path) -> list[str]:
    """``path`` was renamed into place from a hidden sibling that was fsynced first, and its folder fsynced after;
    returns the temporary names used."""
    renames = [(i, src) for i, (kind, src, dst) in enumerate(events) if kind == "replace" and dst == str(path)]
    assert renames, f"{path.name} was not renamed into place: {events}"
    for i, src in renames:
        assert Path(src).parent == path.parent and Path(src).name.startswith(".tmp_"), src
        assert ("fsync", os.path.realpath(src), "") in events[:i], f"{src} not fsynced before the rename"
        folder = ("fsync", os.path.realpath(path.parent), "")
        assert folder in events[i + 1:], f"{path.parent} not fsynced after the rename"
    return [src for _, src in renames]


def test_a_write_is_fsynced_renamed_from_a_unique_name_and_the_folder_fsynced(tmp_path, disk_events):
    target = tmp_path / "eval.json"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    names = assert_written_atomically(disk_events, target)
    assert len(set(names)) == 2  # a new temporary name each time
    assert target.read_text() == "two" and sorted(p.name for p in tmp_path.iterdir()) == ["eval.json"]


def test_a_failed_or_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    for error in (OSError("disk full"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with atomic_path(target) as tmp:
                tmp.write_text("half of the ne")
                raise error
        assert target.read_text() == "old"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_the_result_has_the_usual_permissions_not_mkstemps_0600(tmp_path):
    target = tmp_path / "config.yaml"
    write_text_atomic(target, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


HOLD = """import sys
from orchestration.run_folder import run_folder_lock
with run_folder_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def _holder(run_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"locked\n"
    return proc


def test_a_second_process_on_the_folder_fails_at_once_naming_it_and_the_holder(tmp_path):
    run_dir = tmp_path / "run"
    proc = _holder(run_dir)
    try:
        with pytest.raises(RunFolderBusy, match=rf"run folder {run_dir} is in use .*pid {proc.pid} on "):
            with run_folder_lock(run_dir):
                pass
    finally:
        proc.stdin.close()  # the holder finishes normally: it deletes the lock file
        assert proc.wait(timeout=30) == 0
    messages: list[str] = []
    with run_folder_lock(run_dir, messages.append) as lock:
        assert lock.read_text().split()[0] == str(os.getpid())
        with run_folder_lock(run_dir, messages.append):  # the same process again (train_command, then run_training)
            pass
        assert lock.exists()
    assert messages == [] and not lock.exists()


def test_a_lock_left_by_a_killed_run_is_taken_over_with_a_message(tmp_path):
    run_dir = tmp_path / "run"
    proc = _holder(run_dir)
    proc.kill()  # SIGKILL: the lock file stays, with the dead pid in it; the kernel released the lock
    proc.wait(timeout=30)
    assert (run_dir / LOCK_NAME).read_text().split()[0] == str(proc.pid)
    messages: list[str] = []
    with run_folder_lock(run_dir, messages.append):
        pass
    assert len(messages) == 1 and f"taking over the lock left by pid {proc.pid} on " in messages[0]
    assert not (run_dir / LOCK_NAME).exists()


def test_a_lock_on_a_new_folder_that_ends_unused_leaves_no_folder(tmp_path):
    with run_folder_lock(tmp_path / "new"):
        assert (tmp_path / "new").is_dir()
    assert not (tmp_path / "new").exists()
