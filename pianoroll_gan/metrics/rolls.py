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
    x = spec.as_batch(roll, what)
    return x if x.dtype == bool else x != 0


def fold_pitch_classes(counts: np.ndarray, spec: PianorollSpec) -> np.ndarray:
    """Sum a ``(..., P)`` array (bool or non-negative int) over octaves into ``(..., 12)``.

    Index 0 is C. The result is uint16 for bool / uint8 input (at most 11 octaves of uint8
    counts cannot overflow it), float64 for float input, else int64.
    """
    front = spec.lowest_pitch % 12
    back = -(front + spec.n_pitches) % 12
    if front or back:  # pad so that the pitch axis starts on a C and holds whole octaves
        pad = [(0, 0)] * (counts.ndim - 1) + [(front, back)]
        counts = np.pad(counts, pad)
    if counts.dtype in (np.bool_, np.uint8):
        dtype = np.uint16
    else:
        dtype = np.float64 if counts.dtype.kind == "f" else np.int64
    # Adding octave slices is several times faster than a reduction over an octave axis.
    total = counts[..., :12].astype(dtype)
    for start in range(12, counts.shape[-1], 12):
        np.add(total, counts[..., start : start + 12], out=total, casting="unsafe")
    return total


def count_last_axis(x: np.ndarray) -> np.ndarray:
    """Number of True entries along the last axis of a bool array, as uint8 ``x.shape[:-1]``.

    Same as ``x.sum(-1)`` (for up to 255 entries) but faster: every 8 bool bytes are read as
    one uint64 whose byte lanes are added across words, then summed in one multiply.
    """
    width = x.shape[-1]
    if width > 255 or width < 8:
        return x.sum(axis=-1, dtype=np.uint8 if width <= 255 else np.int64)
    data = (x if x.strides[-1] == 1 else np.ascontiguousarray(x)).view(np.uint8)
    n_words = width // 8
    words = data[..., : 8 * n_words].view(np.uint64)
    lanes = words[..., 0].copy()
    for j in range(1, n_words):  # lane counts stay <= 31: no carry into the next byte
        lanes += words[..., j]
    with np.errstate(over="ignore"):  # the multiply wraps by design; the top byte is the sum
        total = ((lanes * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.uint8)
    for j in range(8 * n_words, width):
        total += data[..., j]
    return total


def beat_pitch_counts(x: np.ndarray, spec: PianorollSpec) -> np.ndarray:
    """Active steps per pitch within each beat.

    Args:
        x: bool ``(N, K, B, S, P)``.
    Returns:
        ``(N, K, B * beats_per_bar, P)`` (uint8 up to 255 steps per beat, else int32): for
        each beat, how many of its ``spec.resolution`` steps each pitch is active.
    """
    n, k, b, _, p = x.shape
    beats = x.view(np.uint8).reshape(n, k, b * spec.beats_per_bar, spec.resolution, p)
    if spec.resolution > 255:
        return beats.sum(axis=3, dtype=np.int32)
    # Adding the steps of a beat slice by slice is about twice as fast as a reduction.
    counts = beats[:, :, :, 0].copy()
    for j in range(1, spec.resolution):
        counts += beats[:, :, :, j]
    return counts
