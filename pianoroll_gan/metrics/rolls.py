"""Array helpers shared by the metrics: input conversion, pitch-class folding, beat chroma.

Every function takes a batch ``roll`` in the canonical layout
``(N, tracks, bars, steps_per_bar, pitches)`` (see :mod:`pianoroll_gan.spec`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spec import PianorollSpec

__all__ = ["as_bool_roll", "pitch_class_matrix", "fold_pitch_classes", "beat_pitch_counts"]


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
    """Sum a ``(..., P)`` array over octaves into float32 ``(..., 12)`` (index 0 = C)."""
    return counts.astype(np.float32, copy=False) @ pitch_class_matrix(spec)


def beat_pitch_counts(x: np.ndarray, spec: PianorollSpec) -> np.ndarray:
    """Active steps per pitch within each beat.

    Args:
        x: bool ``(N, K, B, S, P)``.
    Returns:
        int32 ``(N, K, B * beats_per_bar, P)``: for each beat, how many of its
        ``spec.resolution`` steps each pitch is active.
    """
    n, k, b, _, p = x.shape
    beats = x.reshape(n, k, b * spec.beats_per_bar, spec.resolution, p)
    return beats.sum(axis=3, dtype=np.int32)
