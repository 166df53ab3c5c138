"""Inpainting masks: which cells of a given roll are kept while the rest is generated.

Polyffusion's internal controls (Min et al. 2023, sec. 3.2). Masks are bool arrays in the
canonical layout ``(N, tracks, bars, S, P)``, True where the cell is known (kept).

- ``accompaniment``: generate the accompaniment given the melody.
- ``melody``: generate the melody given the accompaniment.
- ``bars``: regenerate the chosen bars (0-based), keep the others.
- ``tracks``: regenerate the chosen tracks (by name), keep the others; e.g.
  ``tracks=["Alto", "Tenor"]`` writes alto and tenor given soprano and bass.

The melody of a multitrack spec is its first track. A one-track spec (``piano8bar``) has no
melody track, so the melody is its top voice: at every step the highest sounding pitch. The
melody region is then, at each sounding step, that pitch and every pitch above it (all silent
above the melody, which keeps the melody the top voice); the accompaniment region is every
pitch below it. Steps where nothing sounds belong to neither and are always generated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from ..config import check_choice
from ..spec import PianorollSpec

__all__ = ["Mask", "MASKS", "known_mask", "top_voice_region"]

Mask = Literal["accompaniment", "melody", "bars", "tracks"]
MASKS: tuple[str, ...] = get_args(Mask)


def top_voice_region(roll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regions of a one-track roll at and above / below its top voice.

    Args:
        roll: bool ``(N, 1, bars, S, P)``.

    Returns:
        ``(melody, accompaniment)`` bool masks of the roll's shape: ``melody`` holds, at each
        sounding step, the highest active pitch and all pitches above; ``accompaniment`` all
        pitches below it. Silent steps are in neither.
    """
    pitches = roll.shape[-1]
    sounding = roll.any(axis=-1, keepdims=True)  # (N, 1, bars, S, 1)
    top = pitches - 1 - np.argmax(roll[..., ::-1], axis=-1)[..., None]  # highest active index
    index = np.arange(pitches)
    melody = sounding & (index >= top)
    accompaniment = sounding & (index < top)
    return melody, accompaniment


def known_mask(
    roll: np.ndarray,
    spec: PianorollSpec,
    kind: Mask,
    bars: Sequence[int] | None = None,
    tracks: Sequence[str] | None = None,
) -> np.ndarray:
    """Cells of ``roll`` kept when inpainting with mask ``kind`` (see the module docstring).

    Args:
        roll: bool ``(N, tracks, bars, S, P)`` (any number of bars).
        spec: track names and count.
        kind: the mask name.
        bars: bars to regenerate (``kind="bars"``).
        tracks: track names to regenerate (``kind="tracks"``).

    Returns:
        bool array of ``roll``'s shape, True where known.
    """
    check_choice(kind, MASKS, "inpaint")
    roll = np.asarray(roll).astype(bool)
    known = np.zeros(roll.shape, dtype=bool)
    n_bars = roll.shape[2]
    if kind in ("accompaniment", "melody"):
        if spec.n_tracks == 1:
            melody, accompaniment = top_voice_region(roll)
            return melody if kind == "accompaniment" else accompaniment
        if kind == "accompaniment":
            known[:, 0] = True  # melody = first track, given
        else:
            known[:, 1:] = True
        return known
    if kind == "bars":
        if not bars:
            raise ValueError("inpaint 'bars' needs the bars to regenerate, e.g. --bars 2 3")
        bad = [b for b in bars if not 0 <= b < n_bars]
        if bad:
            raise ValueError(f"bars {bad} lie outside 0..{n_bars - 1} (0-based)")
        known[:] = True
        known[:, :, list(bars)] = False
        return known
    if not tracks:
        raise ValueError(
            f"inpaint 'tracks' needs the tracks to regenerate, e.g. --tracks Alto Tenor; "
            f"tracks: {list(spec.track_names)}"
        )
    bad = [name for name in tracks if name not in spec.track_names]
    if bad:
        raise ValueError(f"unknown tracks {bad}; valid tracks: {list(spec.track_names)}")
    known[:] = True
    for name in tracks:
        known[:, spec.track_names.index(name)] = False
    return known
