"""Folders written whole or not at all: a temporary sibling folder, renamed into place at the end.

An analysis writes its whole output folder (tables, metadata, charts, report) into the folder
:func:`atomic_folder` yields; a run that fails or is interrupted never leaves half a folder, and
a temporary folder a killed run left beside the same target is removed by the next one.
:func:`check_target` refuses, before any work, a target that is not a folder or that holds
something cjmsim did not write (unless forced), so nothing of the user's is ever replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from cjmsim.scenario import ArgumentError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "atomic_folder",
    "check_resumable",
    "check_target",
    "clean_stale",
    "interrupt",
    "interrupted",
    "remove_folder",
    "umask_mode",
]

#: When this process started (its temporaries are newer; a killed run's are older).
STARTED = time.time()


def _process_started() -> float:
    """The start time of this process (Linux: from /proc), or when this module was imported."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return min(STARTED, boot + ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, StopIteration):  # pragma: no cover - not Linux
        return STARTED


#: The exit status a termination signal asked for (:func:`interrupt`), or empty.
_interrupted: list[int] = []


def interrupt(status: int | None) -> None:
    """Record that a signal asked this process to stop with exit ``status`` (None: forget it; a command starts
    so). A signal handler raises ``SystemExit`` too, but Python swallows an exception raised in a finaliser
    (``__del__``, a weakref callback) with only a warning; so every folder and file, before it is renamed into
    place, and the command, before it reports success, ask :func:`interrupted` again."""
    _interrupted[:] = [] if status is None else [status]


def interrupted() -> None:
    """Raise ``SystemExit`` with the status :func:`interrupt` recorded, if one was."""
    if _interrupted:
        raise SystemExit(_interrupted[0])


def umask_mode(kind: int) -> int:
    """``kind`` (0o777 for folders, 0o666 for files) as the process' umask leaves it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return kind & ~int(line.split()[1], 8)
    except (OSError, ValueError):  # pragma: no cover - not Linux
        pass
    mask = os.umask(0)  # pragma: no cover
    os.umask(mask)  # pragma: no cover
    return kind & ~mask  # pragma: no cover


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_stale(target: str | Path) -> list[Path]:
    """Remove ``.NAME.tmp-*`` and ``.NAME.old-*`` beside ``target`` that an earlier, killed run left.

    Only ours (that prefix), only older than this process, and only when the process that made
    them (its id is in the name) is gone. Returns what was removed.
    """
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-(\d+)?")
    started = _process_started()
    removed = []
    with contextlib.suppress(OSError):
        for p in target.parent.iterdir():
            m = pattern.match(p.name)
            if m is None:
                continue
            try:
                if p.lstat().st_mtime >= started or (m.group(2) and _alive(int(m.group(2)))):
                    continue
            except OSError:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _named(filename: object, tmp: Path, target: Path) -> object:
    """An OS error's file name as the user knows it: inside ``target``, not its temporary folder."""
    if filename is None:
        return str(target)
    try:
        return str(target / Path(os.fsdecode(filename)).relative_to(tmp))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return filename


def _aside(target: Path) -> Path:
    """A new, unique name beside ``target`` to move it to (this process' id in it, for :func:`clean_stale`)."""
    return target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def _replacing(target: Path) -> Iterator[None]:
    """Hold the lock that makes "move ``target`` aside, rename the new one into place" one step.

    Two renames are not atomic together: a second writer between them would find the target
    gone (ENOENT) or already replaced by a third (ENOTEMPTY). Every writer of ``target`` takes
    an exclusive ``flock`` on the sibling ``.NAME.lock`` for those two renames only (milliseconds;
    the writing itself is not serialised). The lock file is removed by its holder; a writer that
    locked a file another has since removed (its inode is no longer the path's) tries again, so
    the removal never lets two writers in at once. ``flock`` locks an open file, so threads of
    one process exclude each other as processes do. Without fcntl (not POSIX) there is no lock.
    """
    if fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    lock = target.parent / f".{target.name}.lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            now = os.stat(lock)
        except FileNotFoundError:  # removed by its holder after we opened it: not the lock any more
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def atomic_folder(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``target`` only if the block finishes.

    An existing ``target`` is replaced as a whole (check it first with :func:`check_target`). On
    an exception (an OS error, Ctrl-C, SystemExit from a SIGTERM handler) or after a termination recorded
    by :func:`interrupt` the temporary folder is removed and ``target`` is left as it was. The folder
    follows the umask. Concurrent writers of one ``target`` (threads or processes) each replace it whole:
    the last to finish wins, the folder is never a mix, and none of them fails for the others (see
    :func:`_replacing`).
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    except OSError as e:
        if e.filename is None:
            e.filename = str(target)
        raise
    old = None
    try:
        os.chmod(tmp, umask_mode(0o777))
        yield tmp
        interrupted()  # a termination whose SystemExit was swallowed: not renamed into place
        with _replacing(target):
            if target.exists() or target.is_symlink():
                old = _aside(target)
                os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                if old is not None:
                    os.replace(old, target)
                    old = None
                raise
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            e.filename = _named(e.filename, tmp, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_folder(target: str | Path) -> None:
    """Remove ``target`` (a folder the user chose to replace): renamed aside first, then deleted."""
    target = Path(target)
    if not target.exists():
        return
    old = _aside(target)
    with _replacing(target):
        os.replace(target, old)
    shutil.rmtree(old, ignore_errors=True)


def _kind(mode: int) -> str | None:
    """What a non-folder is, in words; None for a folder."""
    if stat.S_ISDIR(mode):
        return None
    for test, name in (
        (stat.S_ISREG, "a file"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return name
    return "not a folder"  # pragma: no cover


def _analysis_of(folder: Path) -> str | None:
    """The ``analysis`` of a cjmsim output folder's metadata.json, or None."""
    try:
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    analysis = meta.get("analysis") if isinstance(meta, dict) and "cjmsim_version" in meta else None
    return analysis if isinstance(analysis, str) else None


def _sweep_without_metadata(folder: Path) -> bool:
    """Whether ``folder`` holds a sweep's results parts but no metadata.json (deleted, or lost)."""
    meta = folder / "metadata.json"
    if meta.exists() or meta.is_symlink():
        return False
    try:
        return (folder / "results").is_dir() and any((folder / "results").glob("*.parquet"))
    except OSError:
        return False


def _refusal(target: Path, analysis: str, force: bool) -> str | None:
    """Why ``target`` may not be the output folder of ``analysis``, or None."""
    try:
        resolved = target.resolve()
        here = Path.cwd().resolve()
    except (OSError, RuntimeError) as e:
        return f": cannot be resolved ({e})"
    if resolved == here or resolved in here.parents or resolved == Path(resolved.anchor):
        return ": is the current folder, one of its parents or the root; give a new folder's name"
    for parent in reversed(target.absolute().parents):
        try:
            mode = os.stat(parent).st_mode
        except FileNotFoundError:
            break
        except OSError as e:
            return f": cannot reach {parent} ({e.strerror})"
        if not stat.S_ISDIR(mode):
            return f": {parent} is {_kind(mode)}, not a folder; give a folder outside it"
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        return f": cannot reach it ({e.strerror})"
    kind = _kind(mode)
    if kind is not None:
        return f": is {kind}, not a folder; give a folder"
    try:
        empty = not any(target.iterdir())
    except OSError as e:
        return f": cannot read it ({e.strerror})"
    if empty or force:
        return None
    found = _analysis_of(target)
    if found == analysis and (analysis != "sweep" or (target / "results").is_dir()):
        return None
    if found is None and analysis == "sweep" and _sweep_without_metadata(target):
        return None  # the sweep says what is wrong with it (and refuses it) in its own words
    what = f"a cjmsim {found} output" if found else "a folder cjmsim did not write"
    return f": is {what}, not a {analysis} output; it would be replaced as a whole"


def check_target(target: str | Path, analysis: str, force: bool = False) -> None:
    """Refuse, before any work, an output folder ``target`` for ``analysis`` that must not be written.

    Refused always: a file, FIFO, socket or device (or a path under one), the current folder, its
    parents and the root. Refused unless ``force``: an existing, non-empty folder that is not an
    output of the same analysis (its metadata.json says so; a sweep's also has results/), since
    writing it would replace what the user keeps there. A folder of sweep results parts without
    metadata.json passes for a sweep: the sweep refuses it itself, saying metadata.json is missing.

    Raises:
        ArgumentError: on ``out``, saying why and what to do.
    """
    target = Path(target)
    why = _refusal(target, analysis, force)
    if why is None:
        return
    if why.endswith("replaced as a whole"):
        raise ArgumentError(
            "out",
            lambda name: f" {target}{why}: choose another {name('out')}, or use {name('force')} to replace it",
        )
    raise ArgumentError("out", f" {target}{why}")


def check_resumable(out: Path, started: bool, digest: str, resume: bool, held: str, other: str) -> None:
    """Refuse an ``out`` that holds a started analysis (``started``: its parts are there) unless it is
    resumed, and refuse to resume one whose metadata.json records another ``digest`` than this analysis's.

    ``held`` names what the folder holds (``results of a sweep``), ``other`` what it holds when the digest
    differs (``a sweep of another experiment (or another version of its files)``).

    Raises:
        ArgumentError: on ``out``, saying what to do (``--resume``, or another ``--out``).
    """
    if not started:
        return
    if not resume:
        raise ArgumentError(
            "out",
            lambda name: f" {out}: holds {held} already; use {name('resume')} to continue it, or another {name('out')}",
        )
    try:
        found = json.loads((out / "metadata.json").read_text())["settings"]["digest"]
    except (OSError, ValueError, KeyError, TypeError):
        found = None
    if found != digest:
        raise ArgumentError(
            "out",
            lambda name: f" {out}: holds {other}; it cannot be resumed with this one: use another {name('out')}",
        )
