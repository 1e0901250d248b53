"""What every command shares: the error console, one-message failures, progress bars.

Only click and rich are imported here; the library is imported inside the functions that need it,
so ``cjmsim --help`` starts without numpy, pandas or matplotlib.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from cjmsim.scenario import Scenario

__all__ = [
    "CLOSED_PIPE",
    "bar",
    "closed_pipe",
    "counter",
    "err_console",
    "fail",
    "force_option",
    "guarded",
    "library_errors",
    "load",
    "out_folder",
    "plain",
    "printable",
    "scheduler_option",
    "tracked",
    "week_progress",
]

err_console = Console(stderr=True, highlight=False)
T = TypeVar("T")

#: ``--scheduler``, the same for every command whose runs may go to a Dask cluster.
scheduler_option = click.option(
    "--scheduler",
    help="Dask scheduler address (tcp://host:8786): run the tasks on that cluster (it must answer within 20 s).",
)

#: ``--force``, the same for every command that writes an output folder.
force_option = click.option(
    "--force",
    is_flag=True,
    help="Replace --out even if it is a folder cjmsim did not write (or another command's output).",
)

#: Library argument names whose flag is not ``--`` + the name with dashes.
FLAGS = {"plans": "--plan", "compare": "--compare", "exports": "--export", "max_draws": "--draws"}


#: C0 controls but tab and newline, DEL, and the C1 controls (ESC starts every terminal sequence).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """User text made safe for a terminal: every control character but tab and newline shown
    escaped (ESC as ``\\x1b``), so no name can move the cursor, clear the screen, set the window
    title or open a hyperlink."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def plain(text: object) -> str:
    """User text (a name, an id, a path) for anything rich renders as markup: :func:`printable`,
    and its rich markup escaped, so ``[red]`` or ``[link=...]`` is shown as written and ``[/red]``
    cannot break the table."""
    return escape(printable(text))


def fail(message: str) -> NoReturn:
    """Print one clear message and exit with status 2."""
    err_console.print("error: ", style="bold red", end="")
    err_console.print(printable(message), markup=False, highlight=False, soft_wrap=True)
    sys.exit(2)


def flag(argument: str) -> str:
    """The command-line flag of a library argument: ``min_orders`` -> ``--min-orders``."""
    return FLAGS.get(argument, "--" + argument.replace("_", "-"))


@contextmanager
def library_errors() -> Iterator[None]:
    """Turn the library's input errors into one message and exit 2; arguments named as flags."""
    from cjmsim.scenario import ArgumentError, ScenarioError

    try:
        yield
    except ArgumentError as e:
        fail(e.said(flag))
    except ScenarioError as e:
        fail(str(e))


def load(path: str) -> Scenario:
    """Read and validate a scenario file, or fail with its one clear message."""
    from cjmsim.scenario import load_scenario

    with library_errors():
        return load_scenario(path)
    raise AssertionError("unreachable")  # pragma: no cover  (library_errors exits)


def bar(label: str, unit: str) -> Progress:
    """A transient progress bar on stderr: label, bar, done/total units, elapsed and ETA."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn(f"{{task.completed}}/{{task.total}} {unit}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def tracked(label: str, unit: str, quiet: bool, work: Callable[[Callable[[int, int], None] | None], T]) -> T:
    """Run ``work(progress)`` under a progress bar of (done, total) units, unless quiet or not a terminal."""
    if quiet or not err_console.is_terminal:
        return work(None)
    prog = bar(label, unit)
    task = prog.add_task(label, total=None)
    with prog:
        return work(lambda done, total: prog.update(task, completed=done, total=total))


def week_progress(total: int, enabled: bool) -> tuple[Progress | None, Callable[[int], None] | None]:
    """A bar of simulated weeks and its callback (called with weeks done since the last call)."""
    if not enabled:
        return None, None
    prog = bar("simulating", "weeks")
    task = prog.add_task("run", total=total)
    return prog, lambda k: prog.advance(task, k)


def counter(tick: Callable[[int, int], None] | None, total: int) -> Callable[[int], None] | None:
    """Adapt a (done, total) progress callback to one called with increments."""
    if tick is None:
        return None
    done = [0]

    def step(k: int) -> None:
        done[0] += k
        tick(done[0], total)

    return step


#: What to do about an OS error, by errno.
ADVICE = {
    errno.ENOSPC: "free some disk space, or choose another --out",
    errno.EDQUOT: "free some of your disk quota, or choose another --out",
    errno.EROFS: "that file system is read-only: choose another --out",
    errno.EACCES: "you may not write there: check its permissions, or choose another --out",
    errno.EPERM: "you may not write there: check its permissions, or choose another --out",
    errno.ENOTDIR: "a part of that path is a file, not a folder: choose another --out",
    errno.EISDIR: "a folder is in the way: choose another --out",
    errno.ELOOP: "that path has a loop of symbolic links: choose another --out",
    errno.EBUSY: "it is in use (a mount point?): choose another --out",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter --out",
}

#: The output folder of the running command (for OS errors that name no file).
_target: list[Path] = []


def os_error_message(e: OSError) -> str:
    """One line for an OS error: ``cannot write <path>: <strerror>; <what to do>``."""
    where = e.filename or (str(_target[-1]) if _target else "the output")
    what = e.strerror or str(e)
    advice = ADVICE.get(e.errno or 0, "check that path, or choose another --out")
    return f"cannot write {where}: {what}; {advice}"


def out_folder(out: str | None, default: Path, analysis: str, force: bool) -> Path:
    """The command's output folder (``--out`` or ``default``), refused before any work if it must not be written."""
    from cjmsim.output import check_target

    target = Path(out) if out else default
    with library_errors():
        check_target(target, analysis, force)
    _target.append(target)
    return target


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: exit as Ctrl-C does, so temporary folders are removed (a second SIGTERM waits). The status is
    recorded first (:func:`cjmsim.output.interrupt`): should Python swallow the ``SystemExit`` (raised in a
    finaliser), no folder is renamed into place after it and the command still exits with it."""
    from cjmsim.output import interrupt

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    interrupt(128 + signum)
    raise SystemExit(128 + signum)


#: Exit status when the reader of our output went away (``cjmsim run ... | head -1``): 128 + SIGPIPE,
#: what a shell reports for ``seq``, ``grep`` or ``cat`` in the same place.
CLOSED_PIPE = 141


def closed_pipe() -> NoReturn:
    """Our output's reader closed it early: stop quietly (no message: there is no one to read it),
    exit :data:`CLOSED_PIPE`. What was still buffered goes to /dev/null, so the interpreter's own
    flush at exit does not fail again."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    sys.exit(CLOSED_PIPE)


def _from_rich_broken_pipe(e: SystemExit) -> bool:
    """Whether ``e`` is rich's exit on a broken pipe (``Console.on_broken_pipe``: stdout already on /dev/null)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == "on_broken_pipe"


def guarded(command: Callable[..., T]) -> Callable[..., T]:
    """Wrap a command: SIGTERM cleans up like Ctrl-C, and any OS error is one message and exit 2.

    A closed pipe (stdout or stderr whose reader went away, ``| head -1``) is not an error of
    ``--out``: every output folder is complete before anything is printed, so the command stops
    quietly with :data:`CLOSED_PIPE` (141).
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate) if main else None
        depth = len(_target)
        from cjmsim.output import interrupt, interrupted

        if main:
            interrupt(None)
        try:
            result = command(*args, **kwargs)
            if main:
                interrupted()  # a SIGTERM whose SystemExit was swallowed on the way
            return result
        except OSError as e:
            if e.errno == errno.EPIPE:
                closed_pipe()
            fail(os_error_message(e))
        except SystemExit as e:
            if _from_rich_broken_pipe(e):
                closed_pipe()
            raise
        finally:
            del _target[depth:]
            if main:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
                interrupt(None)  # the command is over (a library caller's next writes are its own)

    return wrapper
