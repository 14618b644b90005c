"""The safety of a run directory: one process at a time, resumes that write only where they
belong, and no leftovers.

- **A lock.** :func:`lock_run_dir` takes an exclusive ``flock`` on ``RUN_DIR/.lock`` and writes
  the holder (pid, host, command, start time) into it; a second process asking for the same
  directory gets a :class:`RunDirError` naming the holder. The kernel releases the lock when
  its process ends, even by ``kill -9``, so a stale ``.lock`` file never blocks anyone. Within
  one process the lock is shared (asking again returns the same :class:`RunLock`): it guards
  against other processes. Taking it also removes the temporaries a killed or disk-full
  process left behind (:func:`remove_temporaries`), safely, since nobody else can be writing.
  Where ``fcntl`` does not exist (Windows) there is no lock.
- **Resumes write into the run the checkpoint belongs to** (:func:`resume_target`): a
  checkpoint named ``checkpoint`` or ``checkpoint.old`` belongs to the directory holding it; any
  other checkpoint directory (a copy such as ``RUN_DIR/snap``) belongs to no run, and resuming
  it needs a new run directory (``--out``), never its parent.
- **No symbolic links where a save replaces a directory**: each checkpoint save renames
  ``checkpoint`` away, which would break a link; :func:`check_links` refuses one up front.
- **A fresh run directory is checked before anything else** (:func:`check_out`: not a file, not
  under one, creatable) and must be empty but for the lock (:func:`check_fresh`), with a message
  that says what to do in each case, including after a run that stopped before its first
  checkpoint (nothing to resume: start over).

>>> import tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as tmp:
...     with lock_run_dir(Path(tmp) / "run") as lock:
...         again = lock_run_dir(Path(tmp) / "run")  # the same process shares it
...         print(again is lock, sorted(p.name for p in (Path(tmp) / "run").iterdir()))
True ['.lock']
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

from minigan.checkpoint import CHECKPOINT_DIR, CheckpointError, find_checkpoint

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_NAME",
    "RunDirError",
    "RunLock",
    "check_fresh",
    "check_links",
    "check_out",
    "lock_run_dir",
    "remove_temporaries",
    "resume_target",
    "run_dir_of",
]

#: The lock file of a run directory (ignored by :func:`check_fresh`).
LOCK_NAME = ".lock"
_OLD = CHECKPOINT_DIR + ".old"
_held: weakref.WeakValueDictionary[str, RunLock] = weakref.WeakValueDictionary()


class RunDirError(ValueError):
    """A run directory cannot be used: locked by another process, a resume that would write
    into the wrong directory, a symbolic link where a save replaces a directory."""


class RunLock:
    """The lock of one run directory, held until :meth:`release` or until garbage collection
    or the end of the process. A context manager (releases on exit)."""

    def __init__(self, path: Path, file: Any) -> None:
        self.path, self._file = path, file

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        """Release the lock (closing its file releases the ``flock``); the file stays."""
        file, self._file = self._file, None
        if file is not None and file is not True:
            file.close()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def _holder(path: Path) -> str:
    """Who holds the lock of ``path``, from what it wrote into the lock file."""
    try:
        info = json.loads((path / LOCK_NAME).read_text(encoding="utf-8"))
        return (
            f"process {info['pid']} on {info['host']} since {info['started']} ({info['command']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def lock_run_dir(path: str | os.PathLike[str]) -> RunLock:
    """Lock run directory ``path`` (created if needed) for this process and return its
    :class:`RunLock`; the one this process already holds, if it does. Raises
    :class:`RunDirError` naming the holder when another process has it."""
    path = Path(path)
    key = os.path.realpath(path)
    lock = _held.get(key)
    if lock is not None and lock.held:
        return lock
    path.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        lock = RunLock(path, True)
    else:
        file = open(path / LOCK_NAME, "a+", encoding="utf-8")  # kept open: it holds the lock
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.close()
            raise RunDirError(
                f"{path} is in use by {_holder(path)}; wait for it to finish or stop it "
                "(two processes writing one run directory would corrupt it)"
            ) from None
        file.seek(0)
        file.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        file.write(json.dumps(info | {"command": command}) + "\n")
        file.flush()
        lock = RunLock(path, file)
    _held[key] = lock
    remove_temporaries(path)
    return lock


def remove_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove what interrupted writes left in run directory ``path`` (its lock held): the
    ``*.tmp`` files beside ``metrics.jsonl`` and in ``samples/`` and ``frames/``, and
    ``checkpoint.tmp-*`` directories. Returns what was removed."""
    path = Path(path)
    removed = []
    for folder in (path, path / "samples", path / "frames"):
        for tmp in folder.glob("*.tmp") if folder.is_dir() else ():
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    for tmp in path.glob(CHECKPOINT_DIR + ".tmp-*"):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def check_out(path: str | os.PathLike[str], flag: str = "--out") -> None:
    """Check that ``path`` is, or can be created as, a writable directory, without leaving
    anything behind: a :class:`RunDirError` for an existing file, a path under a file, or a
    place where no directory can be made (``/proc``, a read-only disk)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{flag} {path}: exists and is not a directory")
    parent = path
    while not parent.exists():
        if parent.is_symlink():
            raise RunDirError(f"{flag} {path}: {parent} is a broken symbolic link")
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(f"{flag} {path}: {parent} is a file, not a directory")
    try:  # a real test: permissions alone do not tell (root, /proc, read-only mounts)
        os.rmdir(tempfile.mkdtemp(prefix=".minigan-probe-", dir=parent))
    except OSError as exc:
        raise RunDirError(
            f"{flag} {path}: cannot create a directory in {parent} ({exc.strerror or exc})"
        ) from None


def check_fresh(path: str | os.PathLike[str] | None) -> None:
    """Refuse a non-empty ``path`` (a lock file alone does not count; None, no directory, is
    fine) for a new run, with a ``FileExistsError`` that says what to do: resume the run it
    holds, or, when it holds no checkpoint, delete it to start over."""
    if path is None:
        return
    path = Path(path)
    if not path.is_dir() or not any(p.name != LOCK_NAME for p in path.iterdir()):
        return
    try:
        find_checkpoint(path)
    except CheckpointError:
        raise FileExistsError(
            f"{path} is not empty but holds no checkpoint (a run that stopped before its first "
            f"checkpoint, or other files): there is nothing to resume; to start over, delete "
            f"it (rm -r {path}) or choose a new --out"
        ) from None
    raise FileExistsError(
        f"{path} is not empty; continue its run with --resume {path} (Trainer.resume), "
        "or choose a new --out"
    )


def check_links(run_dir: str | os.PathLike[str]) -> None:
    """Refuse a ``checkpoint`` or ``checkpoint.old`` in ``run_dir`` that is a symbolic link:
    every save replaces that directory, which would break the link."""
    for name in (CHECKPOINT_DIR, _OLD):
        link = Path(run_dir) / name
        if link.is_symlink():
            raise RunDirError(
                f"{link} is a symbolic link (to {os.path.realpath(link)}); every checkpoint save "
                "replaces that directory, which would break the link: replace the link by the "
                "directory itself, or resume from it into a new run directory with --out"
            )


def run_dir_of(checkpoint_dir: str | os.PathLike[str]) -> Path | None:
    """The run directory a checkpoint directory belongs to: its parent when it is named
    ``checkpoint`` or ``checkpoint.old``, else None (a copy, outside any run)."""
    checkpoint_dir = Path(checkpoint_dir)
    return checkpoint_dir.parent if checkpoint_dir.name in (CHECKPOINT_DIR, _OLD) else None


def resume_target(
    source: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    """The run directory a resume of ``source`` (a run directory, a checkpoint directory or a
    file in one) writes into: ``out`` if given (new, or the checkpoint's own run), else the
    run the checkpoint belongs to (:func:`run_dir_of`). A :class:`RunDirError` when that is
    ambiguous (a checkpoint outside a run and no ``out``) or unsafe (:func:`check_links`);
    ``FileExistsError`` for an ``out`` that holds another run."""
    own = run_dir_of(find_checkpoint(source))
    if out is None:
        if own is None:
            raise RunDirError(
                f"{source} is a checkpoint outside a run directory (not RUN_DIR/checkpoint): "
                "resuming it in place would write into its parent; continue it in a new run "
                "directory with --out NEW_DIR (Trainer.resume(..., out=NEW_DIR))"
            )
        target = own
    elif own is not None and Path(out).resolve() == own.resolve():
        target = own
    else:
        check_out(out)
        check_fresh(out)
        target = Path(out)
    check_links(target)
    return target
