"""Cut a :class:`~pianoroll_gan.data.piece.Piece` into phrases of the spec's shape."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..spec import PianorollSpec
from .piece import Piece

__all__ = ["Segments", "render", "segment", "count_notes", "pitch_extent"]


@dataclass
class Segments:
    """Phrases cut from one piece, with the counts ``prepare`` reports.

    Attributes:
        phrases: bool ``(n, tracks, bars, steps_per_bar, pitches)``.
        bar_offsets: int64 ``(n,)`` index of each phrase's first bar in the piece.
        counts: ``bars``, ``bars_meter_skipped`` (bars whose time signature is not the spec's),
            ``notes``, ``notes_cropped`` (outside the spec's pitch range),
            ``phrases_dropped_min_notes``.
        meters: time signatures of the bars skipped for meter.
    """

    phrases: np.ndarray
    bar_offsets: np.ndarray
    counts: dict[str, int]
    meters: list[str] = field(default_factory=list)


def render(notes: np.ndarray, spec: PianorollSpec, n_steps: int) -> np.ndarray:
    """Draw a note table into a roll, already cropped to the spec's pitch range.

    A note that starts exactly where the previous note of its pitch ends (a repeated note)
    makes that note end a step early, as in LPD, so that the two stay two notes in a binary
    roll; tied notes were merged by the reader and stay one; overlapping notes of one pitch
    (parts merged into one track) merge ('max'). Drum notes become one-step onsets.

    Args:
        notes: int ``(n, 4)`` rows ``[track, pitch, start, end]``, pitches inside the range.
        spec: the target spec.
        n_steps: length of the roll.

    Returns:
        bool ``(tracks, n_steps, pitches)``.
    """
    track, pitch, start, end = (notes[:, i].copy() for i in range(4))
    end = np.where(np.asarray(spec.is_drum)[track], start + 1, end)
    order = np.lexsort((start, pitch, track))
    track, pitch, start, end = track[order], pitch[order], start[order], end[order]
    same = (track[1:] == track[:-1]) & (pitch[1:] == pitch[:-1])
    touches = same & (start[1:] == end[:-1]) & (start[1:] - 1 > start[:-1])
    end[:-1] = np.where(touches, np.minimum(end[:-1], start[1:] - 1), end[:-1])
    start = np.clip(start, 0, n_steps)
    end = np.clip(end, 0, n_steps)
    p = pitch - spec.lowest_pitch
    # +1 at each onset, -1 at each offset, then a running sum along time ('max' merging).
    delta = np.zeros((spec.n_tracks, spec.n_pitches, n_steps + 1), np.int32)
    np.add.at(delta, (track, p, start), 1)
    np.add.at(delta, (track, p, end), -1)
    roll = np.cumsum(delta[..., :-1], axis=-1) > 0
    return np.ascontiguousarray(roll.transpose(0, 2, 1))


def count_notes(phrases: np.ndarray) -> np.ndarray:
    """Notes per phrase and track: runs of one pitch along the phrase's whole time axis.

    Args:
        phrases: bool ``(n, tracks, bars, S, P)``.

    Returns:
        int64 ``(n, tracks)``.
    """
    n, k, b, s, p = phrases.shape
    x = phrases.reshape(n, k, b * s, p)
    onsets = x.copy()
    onsets[:, :, 1:] &= ~x[:, :, :-1]
    return onsets.sum(axis=(2, 3), dtype=np.int64)


def pitch_extent(phrases: np.ndarray, spec: PianorollSpec) -> np.ndarray:
    """Lowest and highest active pitch index over the non-drum tracks of each phrase.

    Returns:
        int16 ``(n, 2)``; ``(-1, -1)`` for a phrase with no non-drum note. The loader uses it
        to draw only transpositions that keep every note inside the range.
    """
    keep = ~np.asarray(spec.is_drum)
    used = phrases[:, keep].any(axis=(1, 2, 3))  # (n, P)
    any_used = used.any(axis=1)
    low = np.where(any_used, used.argmax(axis=1), -1)
    high = np.where(any_used, used.shape[1] - 1 - used[:, ::-1].argmax(axis=1), -1)
    return np.stack([low, high], axis=1).astype(np.int16)


def segment(piece: Piece, spec: PianorollSpec, hop_bars: int, min_notes: int) -> Segments:
    """Phrases of ``spec.n_bars`` bars starting on real downbeats, every ``hop_bars`` bars.

    A bar can be part of a phrase when its time signature has ``spec.beats_per_bar`` beats
    and it is complete (a pickup or a short final bar is not); windows only span runs of
    such bars. Phrases in which a non-drum track has fewer than ``min_notes`` notes are
    dropped.
    """
    bars, beats = piece.bars, piece.bar_beats
    meter_ok = np.isclose(beats, spec.beats_per_bar)
    usable = meter_ok & (bars[:, 1] == spec.steps_per_bar)
    notes = piece.notes[piece.notes[:, 0] >= 0]
    inside = (notes[:, 1] >= spec.lowest_pitch) & (notes[:, 1] <= spec.highest_pitch)
    counts = {
        "bars": len(bars),
        "bars_meter_skipped": int((~meter_ok).sum()),
        "notes": len(notes),
        "notes_cropped": int((~inside).sum()),
        "phrases_dropped_min_notes": 0,
    }
    meters = sorted({m for m, ok in zip(piece.meters, meter_ok) if not ok})

    nb = spec.n_bars
    starts = []
    b = 0
    while b < len(bars):  # walk the runs of usable bars
        if not usable[b]:
            b += 1
            continue
        end = b
        while end + 1 < len(bars) and usable[end + 1] and bars[end + 1, 0] == bars[end].sum():
            end += 1
        starts.extend(range(b, end + 2 - nb, hop_bars))
        b = end + 1
    shape = (0, *spec.sample_shape)
    if not starts:
        return Segments(np.zeros(shape, bool), np.zeros(0, np.int64), counts, meters)

    first = np.asarray(starts, np.int64)
    n_steps = int(bars[first[-1] + nb - 1].sum())
    roll = render(notes[inside], spec, n_steps)  # (tracks, T, P)
    step0 = bars[first, 0]
    index = step0[:, None] + np.arange(spec.n_steps)[None, :]  # (n, n_steps)
    phrases = roll[:, index].transpose(1, 0, 2, 3)  # (n, tracks, n_steps, P)
    phrases = phrases.reshape(len(first), *spec.sample_shape)
    if min_notes > 0:
        per_track = count_notes(phrases)[:, ~np.asarray(spec.is_drum)]
        keep = (per_track >= min_notes).all(axis=1)
        counts["phrases_dropped_min_notes"] = int((~keep).sum())
        phrases, first = phrases[keep], first[keep]
    return Segments(np.ascontiguousarray(phrases), first, counts, meters)
