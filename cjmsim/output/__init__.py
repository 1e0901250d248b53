"""The output layer: how anything cjmsim writes reaches the disk, and one shape of metadata.

Files are written to a temporary sibling and renamed (:func:`atomic_file` and the ``write_*``
helpers); folders likewise (:func:`atomic_folder`), so whatever fails (an exception, Ctrl-C) a
target is complete or left as it was. :func:`metadata` gives every output folder the same
metadata.json keys. This layer knows files, not results: it imports only the scenario layer, so
the analyses (a sweep streams its parts to disk as tasks finish) can use it.
"""

from __future__ import annotations

from .files import atomic_file, write_csv, write_json, write_parquet, write_text
from .folders import atomic_folder, check_resumable, check_target, clean_stale, interrupt, interrupted, remove_folder
from .metadata import metadata

__all__ = [
    "atomic_file",
    "atomic_folder",
    "check_resumable",
    "check_target",
    "clean_stale",
    "interrupt",
    "interrupted",
    "metadata",
    "remove_folder",
    "write_csv",
    "write_json",
    "write_parquet",
    "write_text",
]
