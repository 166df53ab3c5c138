"""Array helpers shared by the metrics: input conversion, pitch-class folding, beat chroma.

Every function takes a batch ``roll`` in the canonical layout
``(N, tracks, bars, steps_per_bar, pitches)`` (see :mod:`pianoroll_gan.spec`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spec import PianorollSpec

__all__ = [
    "as_bool_roll",
    "pitch_class_matrix",
    "fold_pitch_classes",
    "beat_pitch_counts",
    "count_last_axis",
]


def as_bool_roll(roll: Any, spec: PianorollSpec, what: str = "piano roll") -> np.ndarray:
    """Return ``roll`` as a numpy bool array after checking its shape against ``spec``.

    Args:
        roll: numpy array or torch tensor (any device, any dtype; nonzero = active),
            shape ``(N, tracks, bars, S, P)``; a single sample ``(tracks, bars, S, P)`` is
            promoted to a batch of one. The number of bars may differ from ``spec.n_bars``.
    Returns:
        bool array ``(N, tracks, bars, S, P)``.
    """
    if hasattr(roll, "detach"):  # torch tensor: move to host without importing torch here
        roll = roll.detach().cpu().numpy()
    x = np.asarray(roll)
    if x.ndim == 4:
        x = x[None]
    expected = (spec.n_tracks, spec.steps_per_bar, spec.n_pitches)
    if x.ndim != 5 or (x.shape[1], x.shape[3], x.shape[4]) != expected:
        raise ValueError(
            f"{what} has shape {tuple(x.shape)}; spec '{spec.name}' expects "
            f"(N, {spec.n_tracks}, bars, {spec.steps_per_bar}, {spec.n_pitches}) = "
            "(N, tracks, bars, steps_per_bar, pitches)"
        )
    return x if x.dtype == bool else x != 0


def pitch_class_matrix(spec: PianorollSpec, dtype: Any = np.float32) -> np.ndarray:
    """One-hot map from pitch index to pitch class: ``(P, 12)``, row p has a 1 at (L + p) % 12."""
    pcs = (spec.lowest_pitch + np.arange(spec.n_pitches)) % 12
    return (pcs[:, None] == np.arange(12)[None, :]).astype(dtype)


def fold_pitch_classes(counts: np.ndarray, spec: PianorollSpec) -> np.ndarray:
    """Sum a ``(..., P)`` array over octaves into int32 ``(..., 12)`` (index 0 = C)."""
    front = spec.lowest_pitch % 12
    back = -(front + spec.n_pitches) % 12
    if front or back:  # pad so that the pitch axis starts on a C and holds whole octaves
        pad = [(0, 0)] * (counts.ndim - 1) + [(front, back)]
        counts = np.pad(counts, pad)
    octaves = counts.reshape(*counts.shape[:-1], -1, 12)
    return octaves.sum(axis=-2, dtype=np.int32)


def count_last_axis(x: np.ndarray) -> np.ndarray:
    """Number of True entries along the last axis of a bool array, as uint8 ``x.shape[:-1]``.

    Same as ``x.sum(-1)`` (for up to 255 entries) but about 3x faster: groups of 8 (or 4)
    bool bytes are read as one integer whose byte lanes are then added in one multiply.
    """
    width = x.shape[-1]
    if width > 255:
        return x.sum(axis=-1)
    for lane, dtype in ((8, np.uint64), (4, np.uint32)):
        if width % lane == 0 and x.strides[-1] == 1:
            words = np.ascontiguousarray(x).view(np.uint8).view(dtype)
            acc = words.sum(axis=-1, dtype=dtype)  # each byte lane holds a partial count
            shift = dtype(8 * (lane - 1))
            ones = dtype(int("01" * lane, 16))
            with np.errstate(over="ignore"):  # the multiply wraps by design
                return ((acc * ones) >> shift).astype(np.uint8)
    return x.sum(axis=-1, dtype=np.uint8)


def beat_pitch_counts(x: np.ndarray, spec: PianorollSpec) -> np.ndarray:
    """Active steps per pitch within each beat.

    Args:
        x: bool ``(N, K, B, S, P)``.
    Returns:
        ``(N, K, B * beats_per_bar, P)`` (uint8 up to 255 steps per beat, else int32): for
        each beat, how many of its ``spec.resolution`` steps each pitch is active.
    """
    n, k, b, _, p = x.shape
    beats = x.reshape(n, k, b * spec.beats_per_bar, spec.resolution, p)
    dtype = np.uint8 if spec.resolution <= 255 else np.int32
    return beats.view(np.uint8).sum(axis=3, dtype=dtype)
