"""The output layer: results on disk, written atomically, with one shape of metadata.

A folder is written into a temporary sibling and renamed into place at the end, so whatever fails
(an exception, Ctrl-C) the target is complete or left as it was.
"""

from __future__ import annotations

from .exports import write_exports
from .folders import atomic_folder, metadata, write_run

__all__ = ["atomic_folder", "metadata", "write_exports", "write_run"]
