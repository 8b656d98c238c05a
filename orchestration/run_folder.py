"""Writing into a run folder safely: files replaced whole, and one training process per folder.

- :func:`atomic_path` / :func:`write_text_atomic`: a file is written under a unique temporary name next to it,
  flushed to disk (``os.fsync``), renamed over the target (``os.replace``), and the folder is fsynced so the rename
  itself survives a crash. A reader, or a process that starts after a kill or a power cut, finds the old file or the
  new one, never a truncated one; a writer that fails or is interrupted leaves the old file and no temporary one.
- :func:`run_folder_lock`: an exclusive ``fcntl.flock`` on ``<run_dir>/.train.lock``, which records the holder's
  pid and host. A second ``editrl train`` on the same folder fails at once with a message naming the folder and the
  holder. The kernel releases the lock when its process dies, even by SIGKILL, so a lock file left by a killed run
  is simply taken over (with a message naming the pid that left it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import socket
from pathlib import Path
from typing import Callable, Iterable, Iterator

LOCK_NAME = ".train.lock"
TMP_PREFIX = ".tmp_"


class RunFolderBusy(ValueError):
    """Another process holds the run folder's lock. A ``ValueError``, so the CLIs report it in one line."""


# -- atomic writes -----------------------------------------------------------------------------------------------


def fsync_dir(path: str | Path) -> None:
    """Make a rename in folder ``path`` durable. Some file systems cannot fsync a folder; there it is skipped."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    """Flush ``path``'s data to disk (an fsync through any descriptor flushes the file, not just that descriptor's writes)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every file and folder under ``root`` (before a folder is renamed into place, e.g. a checkpoint)."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                fsync_file(path)
        fsync_dir(folder)


def temporary_name(path: str | Path) -> Path:
    """A new, unused name next to ``path``: ``.tmp_<name>_<random>`` (hidden, and unique per call, so two writers
    never share one and a leftover never blocks the next write)."""
    path = Path(path)
    return path.with_name(f"{TMP_PREFIX}{path.name}_{os.getpid()}_{secrets.token_hex(4)}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; on leaving the block without an error it is fsynced and
    renamed over ``path``, on an error (or KeyboardInterrupt) it is deleted and ``path`` is left as it was.

    The temporary file is created empty here with ``O_EXCL`` (no other writer can hold that name) and the usual
    permissions (``tempfile.mkstemp`` would make it 0600, and the renamed result with it); writers such as
    ``pyarrow.parquet.write_table`` may replace it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = temporary_name(path)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:  # pragma: no cover - 32 random bits taken by another writer of this process
            continue
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically and durably (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def remove_paths(paths: Iterable[Path]) -> list[str]:
    """Delete each file or folder of ``paths`` (what a killed writer left); returns their names."""
    removed = []
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def remove_temporaries(folder: str | Path, name: str) -> list[str]:
    """Delete the temporary files a killed writer of ``folder/name`` left (only while no one else writes it)."""
    return remove_paths(Path(folder).glob(f"{TMP_PREFIX}{name}_*"))


# -- one process per run folder ----------------------------------------------------------------------------------

# Folders this process holds, by real path: {path: [fd, depth]}. `editrl train` takes the lock before --overwrite
# clears the folder and `run_training` takes it again; a second flock from the same process on a new descriptor
# would conflict with the first, so nested takes only count.
_held: dict[str, list[int]] = {}


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 200).decode(errors="replace").split()
    if len(text) >= 2:
        return f"pid {text[0]} on {text[1]}"
    return f"pid {text[0]}" if text else ""


@contextlib.contextmanager
def run_folder_lock(run_dir: str | Path, log: Callable[[str], None] = print) -> Iterator[Path]:
    """Hold ``run_dir``'s lock for the block (creating the folder); raises :class:`RunFolderBusy` at once if another
    process holds it. Yields the lock file's path."""
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(run_dir)
    path = run_dir / LOCK_NAME
    if key in _held:
        _held[key][1] += 1
        try:
            yield path
        finally:
            _held[key][1] -= 1
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd) or "a process that has not written its pid yet"
            os.close(fd)
            raise RunFolderBusy(f"run folder {run_dir} is in use by another training process ({holder}; lock file {path}); "
                                "wait for it to finish, or give this run another --run-dir") from None
        # The previous holder deletes the file as it releases it: if that happened between our open and our flock,
        # we hold a lock on a deleted file that nobody else will see. Then open the file that is there now.
        try:
            same = os.path.samestat(os.stat(path), os.fstat(fd))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    previous = _holder(fd)
    if previous:  # the holder died without deleting its file (SIGKILL, power cut): the kernel released its lock
        log(f"{run_dir}: taking over the lock left by {previous}, which is no longer running")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    _held[key] = [fd, 1]
    try:
        yield path
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            del _held[key]
            path.unlink(missing_ok=True)  # while still locked, so no one takes a file that is about to go
            os.close(fd)
            if created:  # e.g. a --resume that found nothing to resume: leave no empty folder behind
                with contextlib.suppress(OSError):
                    run_dir.rmdir()
