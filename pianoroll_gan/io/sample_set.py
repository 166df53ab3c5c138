"""Sample sets: the folder that holds one set of samples, and condition rolls read from files.

A sample set folder holds ``samples.npz`` (:mod:`.samples`), ``midi/sample_NNN.mid`` for the
first samples, ``grid.png`` and any text files the caller adds (the metric tables).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import PianorollSpec
from .convert import read_midi, write_midi
from .files import FolderError, check_writable, fsync_dir
from .plot import plot_grid
from .samples import load_samples, save_samples

__all__ = ["check_sample_folder", "write_sample_set", "load_condition"]


def check_sample_folder(out: str | Path) -> None:
    """Refuse an output folder that cannot be written or that holds other files than a
    sample set (which :func:`write_sample_set` replaces whole).

    Raises:
        FolderError: ``out`` is a file, or a folder holding other files than a sample set.
        PermissionError: the folder above ``out`` cannot be written.
    """
    out = Path(out)
    check_writable(out.parent, f"sample folder {out}: the folder above it,")
    if out.exists():
        if not out.is_dir():
            raise FolderError(f"sample folder {out} is a file; give a folder")
        if any(out.iterdir()) and not (out / "samples.npz").is_file():
            raise FolderError(
                f"sample folder {out} holds other files than a sample set; give a new or "
                "empty folder"
            )


def _replace_folder(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out`` (replacing an old one) and flush it."""
    for folder, _, files in os.walk(tmp):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
    fsync_dir(out.parent)


def write_sample_set(
    out: str | Path,
    roll: np.ndarray,
    spec: PianorollSpec,
    *,
    n_midi: int = 16,
    texts: Mapping[str, str] | None = None,
    **extra: Any,
) -> Path:
    """Write a sample set folder: ``samples.npz``, ``midi/*.mid``, ``grid.png`` and ``texts``.

    The set is written into a hidden folder beside ``out`` and renamed to ``out`` when
    complete (replacing an earlier set there), so ``out`` never holds half a set.

    Args:
        out: output folder (created; see :func:`check_sample_folder` for what it may hold).
        roll: bool ``(N, tracks, bars, steps_per_bar, pitches)``.
        spec: the roll's spec.
        n_midi: how many samples to write as MIDI files.
        texts: ``{file name: text}`` written beside the samples (e.g. ``metrics.md``).
        extra: stored in the samples file (e.g. ``step``, ``seed``).

    Returns:
        ``out``.
    """
    out = Path(out)
    check_sample_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "midi").mkdir(parents=True)
        save_samples(tmp / "samples.npz", roll, spec, **extra)
        for i, sample in enumerate(roll[:n_midi]):
            write_midi(tmp / "midi" / f"sample_{i:03d}.mid", sample, spec)
        plot_grid(roll, spec, tmp / "grid.png")
        for name, text in (texts or {}).items():
            (tmp / name).write_text(text)
        _replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_condition(path: str | Path, spec: PianorollSpec) -> np.ndarray:
    """A condition roll ``(M, tracks, bars, steps_per_bar, pitches)`` from a file.

    Reads a samples file (``.npz``, :func:`~pianoroll_gan.io.samples.load_samples`) or a MIDI
    file (``.mid``/``.midi``, :func:`~pianoroll_gan.io.convert.read_midi`, one item).

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file, on another suffix or a samples file of other tracks.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"condition file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        roll, file_spec = load_samples(path)
        if tuple(file_spec.track_names) != tuple(spec.track_names):
            raise ValueError(
                f"{path}: tracks {list(file_spec.track_names)} differ from the model's "
                f"{list(spec.track_names)}"
            )
        return np.asarray(roll, dtype=bool)
    if suffix in (".mid", ".midi"):
        return np.asarray(read_midi(path, spec), dtype=bool)[None]
    raise ValueError(f"{path}: condition must be a samples file (.npz) or MIDI (.mid, .midi)")
