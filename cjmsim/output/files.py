"""Files written whole or not at all: a temporary sibling, then one atomic rename.

Every file cjmsim writes (tables, metadata, reports, a sweep's parts) goes through
:func:`atomic_file`, so a reader never sees half a file, whatever interrupts the writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from .folders import interrupted, umask_mode

__all__ = ["FORMULA_START", "atomic_file", "csv_text", "write_csv", "write_json", "write_parquet", "write_text"]


class _Frame(Protocol):
    """What the table writers need of a pandas DataFrame (so this module imports no pandas)."""

    def to_csv(self, path: Any, *, index: bool) -> Any: ...

    def to_parquet(self, path: Any, *, index: bool) -> Any: ...


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it becomes ``path`` only if the block finishes.

    On an exception the temporary file is removed and ``path`` is left as it was; an OS error
    without a file name gets ``path`` as its name, so its message says where. The file's mode
    follows the umask (``mkstemp`` makes it private; results are meant to be shared).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        e.filename = e.filename or str(target)
        raise
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        interrupted()  # a termination whose SystemExit was swallowed: not renamed into place
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(target)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text with Unix line ends, atomically; returns the path."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write indented JSON (numpy scalars as floats), atomically; returns the path."""
    return write_text(path, json.dumps(data, indent=2, default=float) + "\n")


#: A cell's first characters a spreadsheet reads as the start of a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def csv_text(value: Any) -> Any:
    """A text cell a spreadsheet will not run: ``'`` before a leading ``= + - @``, tab or CR.

    Text that is a plain number (``-0.5``) and anything not a string are returned as they are.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _neutralised(frame: Any) -> Any:
    """The frame with :func:`csv_text` applied to its text cells and column names (a copy if any changed)."""
    from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

    out = frame
    for i in range(len(frame.columns)):
        s = frame.iloc[:, i]
        if is_numeric_dtype(s.dtype) or is_bool_dtype(s.dtype) or is_datetime64_any_dtype(s.dtype):
            continue
        safe = s.astype(object).map(csv_text)
        if not safe.equals(s.astype(object)):
            out = out.copy() if out is frame else out
            out.isetitem(i, safe)
    names = [csv_text(c) for c in frame.columns]
    if names != list(frame.columns):
        out = out.copy() if out is frame else out
        out.columns = names
    return out


def write_csv(path: str | os.PathLike[str], frame: _Frame) -> Path:
    """Write a table as CSV without its index, atomically; returns the path.

    Text cells (and column names) a spreadsheet would run as a formula, those starting with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, are written with a single quote before
    them (``'=1+1``; OWASP's CSV-injection advice). Numeric columns, and text that is a plain
    number, are written unchanged.
    """
    frame = _neutralised(frame)
    with atomic_file(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def write_parquet(path: str | os.PathLike[str], frame: _Frame) -> Path:
    """Write a table as Parquet without its index, atomically; returns the path."""
    with atomic_file(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)
