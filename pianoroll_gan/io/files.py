"""Folders that a command writes: checking them before any work, flushing their entries."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FolderError", "check_writable", "fsync_dir"]


class FolderError(ValueError):
    """A folder cannot be used as asked: taken by another run or process, holding files of
    another kind, damaged, or a file where a folder is needed."""


def check_writable(path: str | Path, what: str) -> None:
    """Raise a one-line ``PermissionError`` unless ``path`` (or the folder that would hold it)
    can be written, so that a command fails before any work rather than at its first write.

    Args:
        path: a folder that may not exist yet.
        what: how the message names it (e.g. ``"run folder"``).

    Raises:
        FolderError: a path on the way to ``path`` is a file.
        PermissionError: the nearest existing folder cannot be written.
    """
    path = Path(path)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise FolderError(f"{what} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "" if probe == path else f" ({probe} cannot be written)"
        raise PermissionError(
            f"{what} {path} is not writable{where}; change its permissions or choose another folder"
        )


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (a rename inside it) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
